"""Structured JSON logs (structlog) on stderr, with secrets and card-like values scrubbed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from stripe2sf.domain.flows.cardguard import redact

SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api_?key|authorization|cookie|session_id|signature|cvc|"
    r"card_?number)",
    re.IGNORECASE,
)
SECRET_VALUE = re.compile(
    r"\b(sk|rk)_(test|live)_[A-Za-z0-9]+|\bwhsec_[A-Za-z0-9]+|\bBearer\s+[A-Za-z0-9._!\-]+"
)
MASK = "[SECRET]"


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(SECRET_VALUE.sub(MASK, value))
    if depth > 4:
        return value
    if isinstance(value, Mapping):
        return {
            k: MASK if isinstance(k, str) and SECRET_KEY.search(k) else _clean(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(SECRET_VALUE.sub(MASK, str(value)))


def scrub(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """structlog processor: masks secret-named keys and secret-looking values, and replaces
    every card number (Luhn-valid 13-19 digits) with [REDACTED]."""
    for key in list(event_dict):
        value = event_dict[key]
        event_dict[key] = MASK if SECRET_KEY.search(key) else _clean(value)
    return event_dict


def configure(level: str = "INFO", json: bool = True) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="%(message)s")
    # The stripe SDK logs two logfmt lines at INFO for every request (not JSON, and most of a
    # worker's log and a good part of its CPU: a refetch per event); its warnings still show.
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("stripe").setLevel(logging.WARNING)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
