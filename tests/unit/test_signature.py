from __future__ import annotations

import pytest
from stripe import WebhookSignature

from stripe2sf.stripe.signature import SignatureRefused, verify

BODY = b'{"id":"evt_1","object":"event"}'
NOW = 1_800_000_000


def header(secret: str, t: int = NOW, body: bytes = BODY) -> str:
    return WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=t)


def test_any_configured_secret_verifies() -> None:
    verify(BODY, header("whsec_b"), ["whsec_a", "whsec_b"], 300, now=NOW)


@pytest.mark.parametrize(
    ("hdr", "message"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=abc", "no valid t="),
        ("t=abc,v1=abc", "no valid t="),
        (header("whsec_a", t=NOW - 301), "301 s old"),
        (header("whsec_a", t=NOW + 301), "301 s in the future"),
        (header("whsec_x"), "no signature matches"),
    ],
)
def test_refusals_say_why(hdr: str | None, message: str) -> None:
    with pytest.raises(SignatureRefused, match=message):
        verify(BODY, hdr, ["whsec_a"], 300, now=NOW)


def test_edges_of_the_tolerance_are_accepted() -> None:
    verify(BODY, header("whsec_a", t=NOW - 300), ["whsec_a"], 300, now=NOW)
    verify(BODY, header("whsec_a", t=NOW + 300), ["whsec_a"], 300, now=NOW)


def test_no_secret_configured_refuses() -> None:
    with pytest.raises(SignatureRefused, match="no webhook secret"):
        verify(BODY, header("whsec_a"), [], 300, now=NOW)
