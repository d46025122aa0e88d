"""Where the project's shared reference data lies: `../shared/reference` beside the checkout
(as laid out for sessions and CI), else the workplace's /work/shared/reference."""

from __future__ import annotations

from pathlib import Path

_BESIDE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
REFERENCE = _BESIDE if _BESIDE.is_dir() else Path("/work/shared/reference")
STRIPE_EVENTS = REFERENCE / "stripe" / "events"
