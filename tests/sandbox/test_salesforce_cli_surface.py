"""What the Salesforce CLI needs from the sandbox, checked over HTTP (quick, no CLI): paths with
repeated slashes, the userinfo ``urls`` block, ``columns=true`` column metadata of aggregate and
subquery SOQL, the Bulk API limit counters and the Tooling API subset."""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.config import API_VERSIONS
from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


def _get(sandbox: SandboxServer, path: str, **params: Any) -> Any:
    with sandbox.http() as http:
        response = http.get(
            sandbox.instance_url + path,
            params=params,
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        )
    return response


def test_repeated_slashes_are_served_like_single_ones(sandbox: SandboxServer) -> None:
    sandbox.seed([{"attributes": {"type": "Account"}, "Name": "Slashy"}])
    single = _get(sandbox, "/services/data/v66.0/query", q="SELECT Name FROM Account")
    double = _get(sandbox, "//services/data/v66.0/query", q="SELECT Name FROM Account")
    triple = _get(sandbox, "///services//data///v66.0//query/", q="SELECT Name FROM Account")
    assert single.status_code == double.status_code == triple.status_code == 200
    assert double.json()["records"] == single.json()["records"] == triple.json()["records"]
    assert [r["Name"] for r in single.json()["records"]] == ["Slashy"]
    versions = _get(sandbox, "//services/data")
    assert versions.status_code == 200 and versions.json()[-1]["version"] == "66.0"
    assert _get(sandbox, "//services/oauth2/userinfo").json()["user_id"].startswith("005")
    missing = _get(sandbox, "//services/data/v66.0/nothing")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"


URL_KEYS = {
    "enterprise",
    "metadata",
    "partner",
    "rest",
    "sobjects",
    "search",
    "query",
    "recent",
    "tooling_soap",
    "tooling_rest",
    "profile",
    "feeds",
    "groups",
    "users",
    "feed_items",
    "feed_elements",
    "custom_domain",
}


def test_userinfo_urls_carry_the_version_placeholder(sandbox: SandboxServer) -> None:
    info = _get(sandbox, "/services/oauth2/userinfo").json()
    urls = info["urls"]
    assert set(urls) == URL_KEYS
    base = sandbox.instance_url
    org = info["organization_id"]
    assert urls["rest"] == f"{base}/services/data/v{{version}}/"
    assert urls["tooling_rest"] == f"{base}/services/data/v{{version}}/tooling/"
    assert urls["metadata"] == f"{base}/services/Soap/m/{{version}}/{org}"
    assert urls["partner"] == f"{base}/services/Soap/u/{{version}}/{org}"
    assert urls["enterprise"] == f"{base}/services/Soap/c/{{version}}/{org}"
    assert urls["tooling_soap"] == f"{base}/services/Soap/T/{{version}}/{org}"
    assert urls["feed_elements"] == f"{base}/services/data/v{{version}}/chatter/feed-elements"
    assert urls["profile"] == f"{base}/{info['user_id']}"
    assert urls["custom_domain"] == base
    latest = _get(sandbox, "/services/oauth2/userinfo", version="latest").json()["urls"]
    assert latest["rest"] == f"{base}/services/data/v{API_VERSIONS[-1]}/"
    pinned = _get(sandbox, f"/id/{org}/{info['user_id']}", version="59").json()
    assert pinned["urls"]["sobjects"] == f"{base}/services/data/v59.0/sobjects/"
    assert pinned["id"] == info["sub"] and pinned["username"] == sandbox.username
