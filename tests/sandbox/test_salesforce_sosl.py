"""SOSL search over HTTP: ``GET …/search?q=FIND {…}`` (names, emails, phones, wildcards,
phrases, AND/OR/AND NOT, RETURNING with field lists and per-object WHERE/ORDER BY/LIMIT, the
overall LIMIT), parameterized search, Salesforce's errors, and the real clients:
simple-salesforce ``search``/``quick_search`` and the official ``sf data search``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf

SF_CLI = Path(__file__).resolve().parents[2] / "tools" / "sf-cli" / "node_modules" / ".bin" / "sf"


def _seed(sandbox: SandboxServer) -> dict[str, str]:
    names = ["Acme Corp", "Corp Acme Holdings", "Globex", "Acme Rockets"]
    accounts = sandbox.seed(
        [
            {"attributes": {"type": "Account"}, "Name": name, "Phone": phone}
            for name, phone in zip(
                names, ["(555) 123-4567", None, "555 000 1111", None], strict=True
            )
        ]
    )
    contacts = sandbox.seed(
        [
            {
                "attributes": {"type": "Contact"},
                "FirstName": "Jane",
                "LastName": "Gray",
                "Email": "jane.gray@globex.example",
                "AccountId": accounts[2],
            },
            {
                "attributes": {"type": "Contact"},
                "FirstName": "John",
                "LastName": "Acme",
                "Email": "john@initech.example",
            },
        ]
    )
    return dict(zip([*names, "Jane", "John"], [*accounts, *contacts], strict=True))


def _search(sandbox: SandboxServer, sosl: str, version: str = "59.0") -> Any:
    with sandbox.http() as http:
        response = http.get(
            f"{sandbox.instance_url}/services/data/v{version}/search",
            params={"q": sosl},
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        )
    return response


def _records(sandbox: SandboxServer, sosl: str) -> list[dict[str, Any]]:
    response = _search(sandbox, sosl)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["searchRecords"]
    return list(body["searchRecords"])


def _names(records: list[dict[str, Any]]) -> list[str]:
    return [r["Name"] for r in records]


def test_find_names_with_returning_fields_and_record_shape(sandbox: SandboxServer) -> None:
    ids = _seed(sandbox)
    records = _records(sandbox, "FIND {Acme} IN NAME FIELDS RETURNING Account(Id, Name), Contact")
    assert records[0] == {
        "attributes": {
            "type": "Account",
            "url": f"/services/data/v59.0/sobjects/Account/{ids['Acme Corp']}",
        },
        "Id": ids["Acme Corp"],
        "Name": "Acme Corp",
    }
    by_type = [(r["attributes"]["type"], r["Id"]) for r in records]
    assert by_type == [
        ("Account", ids["Acme Corp"]),
        ("Account", ids["Corp Acme Holdings"]),
        ("Account", ids["Acme Rockets"]),
        ("Contact", ids["John"]),  # Contact alone: Id only
    ]
    assert set(records[-1]) == {"attributes", "Id"}


def test_wildcards_phrases_and_operators(sandbox: SandboxServer) -> None:
    _seed(sandbox)

    def names(term: str) -> list[str]:
        return _names(_records(sandbox, f"FIND {{{term}}} IN NAME FIELDS RETURNING Account(Name)"))

    assert names("Acm*") == ["Acme Corp", "Corp Acme Holdings", "Acme Rockets"]
    assert names("Gl?bex") == ["Globex"]
    assert names("Acm") == []  # whole words, no implicit prefix
    assert names('"Acme Corp"') == ["Acme Corp"]  # a phrase keeps its order
    assert names("Corp Acme") == ["Acme Corp", "Corp Acme Holdings"]  # words: both, any order
    assert names("Acme AND NOT Corp") == ["Acme Rockets"]
    assert names("Globex OR Rockets") == ["Globex", "Acme Rockets"]
    assert names("(Globex OR Rockets) AND Acme") == ["Acme Rockets"]
    assert names("acme rockets") == ["Acme Rockets"]  # case-insensitive


def test_email_and_phone_fields(sandbox: SandboxServer) -> None:
    ids = _seed(sandbox)
    found = _records(
        sandbox,
        "FIND {jane.gray@globex.example} IN EMAIL FIELDS "
        "RETURNING Contact(Id, Email, Name, Account.Name)",
    )
    assert found == [
        {
            "attributes": {
                "type": "Contact",
                "url": f"/services/data/v59.0/sobjects/Contact/{ids['Jane']}",
            },
            "Id": ids["Jane"],
            "Email": "jane.gray@globex.example",
            "Name": "Jane Gray",
            "Account": {
                "attributes": {
                    "type": "Account",
                    "url": f"/services/data/v59.0/sobjects/Account/{ids['Globex']}",
                },
                "Name": "Globex",
            },
        }
    ]
    by_domain = _records(sandbox, "FIND {globex*} IN EMAIL FIELDS RETURNING Contact(Email)")
    assert [r["Email"] for r in by_domain] == ["jane.gray@globex.example"]
    # email words are not names
    assert _records(sandbox, "FIND {initech} IN NAME FIELDS RETURNING Contact(Name)") == []
    phones = _records(sandbox, "FIND {5551234567} IN PHONE FIELDS RETURNING Account(Name)")
    assert _names(phones) == ["Acme Corp"]
    spaced = _records(sandbox, 'FIND {"555 000 1111"} IN PHONE FIELDS RETURNING Account(Name)')
    assert _names(spaced) == ["Globex"]
    # IN ALL FIELDS (the default) sees names, emails and phones alike
    everything = _records(sandbox, "FIND {globex} RETURNING Account(Name), Contact(Name)")
    assert _names(everything) == ["Globex", "Jane Gray"]


def test_per_object_where_order_limit_and_overall_limit(sandbox: SandboxServer) -> None:
    _seed(sandbox)
    ordered = _records(
        sandbox, "FIND {Acme} IN NAME FIELDS RETURNING Account(Name ORDER BY Name DESC LIMIT 2)"
    )
    assert _names(ordered) == ["Corp Acme Holdings", "Acme Rockets"]
    offset = _records(
        sandbox, "FIND {Acme} IN NAME FIELDS RETURNING Account(Name ORDER BY Name LIMIT 1 OFFSET 1)"
    )
    assert _names(offset) == ["Acme Rockets"]
    filtered = _records(
        sandbox,
        "FIND {Acme} RETURNING Account(Name WHERE Phone != null), "
        "Contact(Name WHERE Email LIKE '%initech%')",
    )
    assert _names(filtered) == ["Acme Corp", "John Acme"]
    overall = _records(sandbox, "FIND {Acme} RETURNING Account(Name), Contact(Name) LIMIT 3")
    assert _names(overall) == ["Acme Corp", "Corp Acme Holdings", "Acme Rockets"]
    with_clauses = _records(
        sandbox,
        "FIND {Globex} RETURNING Account(Name) WITH SNIPPET(target_length=120) "
        "WITH METADATA = 'LABELS' LIMIT 10 UPDATE TRACKING",
    )
    assert _names(with_clauses) == ["Globex"]


def _error(sandbox: SandboxServer, sosl: str) -> dict[str, Any]:
    response = _search(sandbox, sosl)
    assert response.status_code == 400, response.text
    body = response.json()
    assert len(body) == 1
    return dict(body[0])


def test_errors_as_salesforce_sends_them(sandbox: SandboxServer) -> None:
    _seed(sandbox)
    short = _error(sandbox, "FIND {a} RETURNING Account")
    assert short["errorCode"] == "INVALID_SEARCH"
    assert short["message"] == "search term must be longer than one character: a"
    assert _error(sandbox, "FIND {a*}")["errorCode"] == "INVALID_SEARCH"

    no_braces = _error(sandbox, "FIND Acme RETURNING Account")
    assert no_braces["errorCode"] == "MALFORMED_SEARCH"
    assert no_braces["message"].startswith("\nFIND Acme RETURNING Account\n    ^\n")
    assert "ERROR at Row:1:Column:5" in no_braces["message"]
    assert "enclosed in braces" in no_braces["message"]

    token = _error(sandbox, "FIND {name} IN ALL TYPE RETURNING Account(name)")
    assert token["errorCode"] == "MALFORMED_SEARCH"
    assert token["message"] == (
        "\nFIND {name} IN ALL TYPE RETURNING Account(name)\n"
        "                  ^\nERROR at Row:1:Column:19\nMalformed search token: TYPE"
    )
    reserved = _error(sandbox, "FIND {John|jane_gray@uoa.edu} RETURNING Contact")
    assert reserved["errorCode"] == "MALFORMED_SEARCH"
    assert reserved["message"] == (
        "\nFIND {John|jane_gray@uoa.edu} RETURNING Contact\n         ^\n"
        "ERROR at Row:1:Column:10\nmismatched character '|' expecting '}'"
    )
    escaped = _records(sandbox, "FIND {Jane\\|Gray} IN NAME FIELDS RETURNING Contact(Name)")
    assert _names(escaped) == ["Jane Gray"]  # escaped, it is a word separator
    unclosed = _error(sandbox, "FIND {Acme RETURNING Account")
    assert unclosed["errorCode"] == "MALFORMED_SEARCH"
    assert "expecting '}'" in unclosed["message"]
    where = _error(sandbox, "FIND {Acme} RETURNING Account(Name WHERE)")
    assert where["errorCode"] == "MALFORMED_SEARCH"
    assert "FIND {Acme} RETURNING Account(Name WHERE)\n" in where["message"]
    assert where["message"].endswith("ERROR at Row:1:Column:40\nunexpected token: ')'")

    field = _error(sandbox, "FIND {Acme} RETURNING Account(Nope__c)")
    assert field["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Nope__c' on entity 'Account'" in field["message"]
    sobject = _error(sandbox, "FIND {Acme} RETURNING Nothing__c(Id)")
    assert sobject["errorCode"] == "INVALID_TYPE"
    missing = _search(sandbox, "")
    assert missing.status_code == 400
    assert missing.json()[0]["errorCode"] == "MALFORMED_SEARCH"


def test_parameterized_search_get_and_post(sandbox: SandboxServer) -> None:
    ids = _seed(sandbox)
    base = f"{sandbox.instance_url}/services/data/v59.0/parameterizedSearch"
    headers = {"Authorization": f"Bearer {sandbox.access_token}"}
    with sandbox.http() as http:
        got = http.get(
            base,
            headers=headers,
            params={
                "q": "Acme",
                "sobject": "Account",
                "Account.fields": "Id,Name",
                "Account.limit": "2",
                "in": "NAME",
            },
        )
        posted = http.post(
            base,
            headers=headers,
            json={
                "q": "globex*",
                "in": "EMAIL",
                "fields": ["Id"],
                "sobjects": [{"name": "Contact", "fields": ["Name", "Email"]}],
            },
        )
        short = http.get(base, headers=headers, params={"q": "x"})
    assert got.status_code == 200, got.text
    assert [(r["Id"], r["Name"]) for r in got.json()["searchRecords"]] == [
        (ids["Acme Corp"], "Acme Corp"),
        (ids["Corp Acme Holdings"], "Corp Acme Holdings"),
    ]
    assert posted.status_code == 200, posted.text
    assert [(r["attributes"]["type"], r["Name"]) for r in posted.json()["searchRecords"]] == [
        ("Contact", "Jane Gray")
    ]
    assert short.status_code == 400
    assert short.json()[0]["errorCode"] == "INVALID_SEARCH"


def test_simple_salesforce_search_and_quick_search(sandbox: SandboxServer, sf: Salesforce) -> None:
    ids = _seed(sandbox)
    found = sf.search("FIND {Rockets} RETURNING Account(Id, Name)")
    assert [(r["Id"], r["Name"]) for r in found["searchRecords"]] == [
        (ids["Acme Rockets"], "Acme Rockets")
    ]
    quick = sf.quick_search("Gray")
    assert [r["Id"] for r in quick["searchRecords"]] == [ids["Jane"]]
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.search("FIND {x}")
    assert raised.value.content[0]["errorCode"] == "INVALID_SEARCH"


@pytest.mark.skipif(
    not SF_CLI.exists(), reason="the sf CLI is not installed (make sfcli; needs npm)"
)
def test_sf_data_search_with_the_official_cli(sandbox: SandboxServer, tmp_path: Path) -> None:
    ids = _seed(sandbox)
    assert sandbox.access_token
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NODE_EXTRA_CA_CERTS": str(sandbox.ca_path),
        "SF_ACCESS_TOKEN": sandbox.access_token,
        "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
        "SF_DISABLE_TELEMETRY": "true",
        "SF_AUTOUPDATE_DISABLE": "true",
        "SF_SKIP_NEW_VERSION_CHECK": "true",
    }

    def sf_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SF_CLI), *args], env=env, capture_output=True, text=True, timeout=120
        )

    login = sf_cli(
        "org", "login", "access-token", "--instance-url", sandbox.instance_url,
        "--no-prompt", "--alias", "sbx", "--json",
    )  # fmt: skip
    assert login.returncode == 0, login.stdout + login.stderr
    query = "FIND {Acme} IN NAME FIELDS RETURNING Account(Id, Name ORDER BY Name), Contact(Email)"
    found = sf_cli("data", "search", "--query", query, "--target-org", "sbx", "--json")
    assert found.returncode == 0, found.stdout + found.stderr
    records = json.loads(found.stdout)["result"]["searchRecords"]
    assert [(r["attributes"]["type"], r.get("Name")) for r in records] == [
        ("Account", "Acme Corp"),
        ("Account", "Acme Rockets"),
        ("Account", "Corp Acme Holdings"),
        ("Contact", None),
    ]
    assert records[0]["Id"] == ids["Acme Corp"]
    assert records[-1]["Email"] == "john@initech.example"
    bad = sf_cli("data", "search", "--query", "FIND {a}", "--target-org", "sbx", "--json")
    assert bad.returncode != 0
    assert "search term must be longer than one character" in bad.stdout
