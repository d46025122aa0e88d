"""The Salesforce user the demo runs stripe2sf as: the org's least-privileged integration user.

As in production, stripe2sf does not run as an administrator. The sandbox org seeds
`integration@sandbox.example.com` (profile "Minimum Access - API Only Integrations": API access,
no object access). After stripe2sf's metadata is deployed, the administrator gives that user
the Stripe2sf_Integration permission set, as `sf org assign permset --name
Stripe2sf_Integration --on-behalf-of integration@...` does: log in, look up the user and the
permission set, create a PermissionSetAssignment through REST (`assign_permission_set`).

stripe2sf then logs in with the JWT bearer flow (`login_env`): the connected app's consumer key,
the integration user as subject, the assertion signed with the private key whose certificate
the connected app trusts (the sandbox writes it to `DATA/jwt-private-key.pem`). No password of
the integration user is involved, which is how a production integration logs in.

The administrator's part (the existing Accounts, Contacts, owners and the queue, seeded by
`seed`) stays the administrator's: it stands for the org's data before stripe2sf came.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from stripe2sf.domain.setup.doctor import PERMISSION_SET
from stripe2sf.domain.soql import quote

# the sandbox org's defaults (salesforce-sandbox --help)
ADMIN_USER = "admin@sandbox.example.com"
ADMIN_PASSWORD = "sandbox-password"
ADMIN_TOKEN = "SANDBOXTOKEN"
CLIENT_ID = "3MVG9sandboxCLIENTID"
CLIENT_SECRET = "sandbox-client-secret"
INTEGRATION_USER = "integration@sandbox.example.com"
JWT_KEY_FILE = "jwt-private-key.pem"
API_VERSION = "62.0"


def _admin_client(instance_url: str, ca_path: Path) -> httpx.Client:
    """An HTTP client with the administrator's session (OAuth username-password flow)."""
    answer = httpx.post(
        instance_url + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": ADMIN_USER,
            "password": ADMIN_PASSWORD + ADMIN_TOKEN,
        },
        verify=str(ca_path),
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"the administrator's login failed: {answer.status_code} {answer.text}")
    token = answer.json()["access_token"]
    return httpx.Client(
        base_url=f"{instance_url}/services/data/v{API_VERSION}",
        headers={"Authorization": f"Bearer {token}"},
        verify=str(ca_path),
        timeout=30,
    )


def _one(client: httpx.Client, soql: str, what: str) -> dict[str, Any]:
    answer = client.get("/query", params={"q": soql})
    answer.raise_for_status()
    records: list[dict[str, Any]] = answer.json()["records"]
    if len(records) != 1:
        raise RuntimeError(f"expected one {what} in the org, found {len(records)} ({soql})")
    return records[0]


def assign_permission_set(
    instance_url: str,
    ca_path: Path,
    username: str = INTEGRATION_USER,
    permission_set: str = PERMISSION_SET,
) -> str:
    """Assign `permission_set` to `username` as the administrator; returns the assignment id.
    An assignment that exists already is kept (a second run of the same org)."""
    with _admin_client(instance_url, ca_path) as client:
        user = _one(client, f"SELECT Id FROM User WHERE Username = {quote(username)}", "user")
        found = _one(
            client,
            f"SELECT Id FROM PermissionSet WHERE Name = {quote(permission_set)}",
            "permission set",
        )
        existing = client.get(
            "/query",
            params={
                "q": "SELECT Id FROM PermissionSetAssignment WHERE "
                f"AssigneeId = {quote(user['Id'])} AND PermissionSetId = {quote(found['Id'])}"
            },
        )
        existing.raise_for_status()
        if existing.json()["records"]:
            return str(existing.json()["records"][0]["Id"])
        created = client.post(
            "/sobjects/PermissionSetAssignment",
            json={"AssigneeId": user["Id"], "PermissionSetId": found["Id"]},
        )
        if created.status_code != 201:
            raise RuntimeError(
                f"assigning {permission_set} to {username} failed: "
                f"{created.status_code} {created.text}"
            )
        return str(created.json()["id"])


def login_env(instance_url: str, sandbox_data: Path) -> dict[str, str]:
    """stripe2sf's Salesforce settings: the JWT bearer login as the integration user."""
    return {
        "SALESFORCE_LOGIN_URL": instance_url,
        "SALESFORCE_USERNAME": INTEGRATION_USER,
        "SALESFORCE_CLIENT_ID": CLIENT_ID,
        "SALESFORCE_JWT_KEY_FILE": str((sandbox_data / JWT_KEY_FILE).resolve()),
        "SALESFORCE_CA_BUNDLE": str((sandbox_data / "ca.pem").resolve()),
    }
