"""SOQL date literals (TODAY, LAST_N_DAYS:n, THIS_QUARTER, ...) as [start, end) date ranges.

Ranges start at 00:00:00 UTC; weeks start on Sunday (en_US locale).
"""

from __future__ import annotations

import datetime as dt


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + (day.month - 1) + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=(day.weekday() + 1) % 7)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def date_range(name: str, n: int | None, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The [start, end) range of a date literal, or None when ``name`` is not one."""
    day = dt.timedelta(days=1)
    week = _week_start(today)
    month = today.replace(day=1)
    quarter = _quarter_start(today)
    year = dt.date(today.year, 1, 1)
    fixed: dict[str, tuple[dt.date, dt.date]] = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (_add_months(month, -1), month),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_QUARTER": (_add_months(quarter, -3), quarter),
        "THIS_QUARTER": (quarter, _add_months(quarter, 3)),
        "NEXT_QUARTER": (_add_months(quarter, 3), _add_months(quarter, 6)),
        "LAST_YEAR": (year.replace(year=year.year - 1), year),
        "THIS_YEAR": (year, year.replace(year=year.year + 1)),
        "NEXT_YEAR": (year.replace(year=year.year + 1), year.replace(year=year.year + 2)),
    }
    if n is None:
        return fixed.get(name)
    ranged: dict[str, tuple[dt.date, dt.date]] = {
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_N_WEEKS": (week - 7 * n * day, week),
        "NEXT_N_WEEKS": (week + 7 * day, week + 7 * (n + 1) * day),
        "N_WEEKS_AGO": (week - 7 * n * day, week - 7 * (n - 1) * day),
        "LAST_N_MONTHS": (_add_months(month, -n), month),
        "NEXT_N_MONTHS": (_add_months(month, 1), _add_months(month, n + 1)),
        "N_MONTHS_AGO": (_add_months(month, -n), _add_months(month, -n + 1)),
        "LAST_N_QUARTERS": (_add_months(quarter, -3 * n), quarter),
        "NEXT_N_QUARTERS": (_add_months(quarter, 3), _add_months(quarter, 3 * (n + 1))),
        "N_QUARTERS_AGO": (_add_months(quarter, -3 * n), _add_months(quarter, -3 * (n - 1))),
        "LAST_N_YEARS": (year.replace(year=year.year - n), year),
        "NEXT_N_YEARS": (year.replace(year=year.year + 1), year.replace(year=year.year + n + 1)),
        "N_YEARS_AGO": (year.replace(year=year.year - n), year.replace(year=year.year - n + 1)),
    }
    return ranged.get(name)
