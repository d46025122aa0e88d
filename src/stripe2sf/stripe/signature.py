"""Webhook signature checks with the official SDK, against every configured secret.

The SDK only refuses timestamps older than the tolerance; we also refuse ones further ahead
than the tolerance, so a captured request signed with a skewed clock cannot be held and replayed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from stripe import SignatureVerificationError, WebhookSignature


class SignatureRefused(Exception):
    """The request is not provably from Stripe; the message says why (safe to return)."""


def _timestamp(header: str) -> int:
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                break
    raise SignatureRefused("Stripe-Signature has no valid t= timestamp")


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance: int,
    now: float | None = None,
) -> None:
    """Return if any secret signs `payload` within the tolerance, else raise SignatureRefused."""
    if not header:
        raise SignatureRefused("missing Stripe-Signature header")
    if not secrets:
        raise SignatureRefused("no webhook secret is configured (STRIPE_WEBHOOK_SECRET)")
    now = time.time() if now is None else now
    timestamp = _timestamp(header)
    if timestamp > now + tolerance:
        raise SignatureRefused(
            f"timestamp is {int(timestamp - now)} s in the future (tolerance {tolerance} s)"
        )
    if timestamp < now - tolerance:
        raise SignatureRefused(
            f"timestamp is {int(now - timestamp)} s old (tolerance {tolerance} s)"
        )
    text = payload.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            WebhookSignature.verify_header(text, header, secret, tolerance)
            return
        except SignatureVerificationError:
            continue
    raise SignatureRefused("no signature matches any configured webhook secret")
