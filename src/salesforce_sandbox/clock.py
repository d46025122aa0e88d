"""Time in Salesforce's wire formats (UTC)."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


def format_datetime(value: dt.datetime) -> str:
    """``2024-01-02T03:04:05.000+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def now_text() -> str:
    return format_datetime(now())


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse ISO-8601 datetimes as Salesforce accepts them; None when not one."""
    value = text.strip()
    if not value:
        return None
    if value.endswith("Z") or value.endswith("z"):
        value = value[:-1] + "+00:00"
    # +0000 -> +00:00
    if len(value) > 5 and value[-5] in "+-" and value[-4:].isdigit():
        value = value[:-2] + ":" + value[-2:]
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(text: str) -> dt.date | None:
    value = text.strip()
    if len(value) != 10:
        # Salesforce accepts a datetime for a date field and keeps the date
        parsed = parse_datetime(value)
        return parsed.date() if parsed else None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
