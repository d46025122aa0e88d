"""Another Salesforce user for capture tests: stripe2sf drops the changes its own user makes
(they are its writes coming back), so a test's edits that must be captured are made as a sales
rep, as people make them (every active user of the sandbox logs in)."""

from __future__ import annotations

from simple_salesforce import Salesforce

from salesforce_sandbox.schema.standard import SYSTEM_ADMINISTRATOR_PROFILE_ID
from salesforce_sandbox.testing import SandboxServer

REP_USERNAME = "rep@sandbox.example.com"


def rep_user_id(sandbox: SandboxServer, username: str = REP_USERNAME) -> str:
    """The rep's user id, created the first time."""
    admin = sandbox.salesforce()
    found = admin.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"]
    if found:
        return str(found[0]["Id"])
    (made,) = sandbox.seed(
        [
            {
                "attributes": {"type": "User"},
                "Username": username,
                "LastName": "Rep",
                "Email": username,
                "Alias": "rep",
                "ProfileId": SYSTEM_ADMINISTRATOR_PROFILE_ID,
            }
        ]
    )
    return str(made)


def as_rep(sandbox: SandboxServer, username: str = REP_USERNAME) -> Salesforce:
    """simple-salesforce acting as the rep."""
    rep_user_id(sandbox, username)
    return sandbox.salesforce(user=username)
