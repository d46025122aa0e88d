"""The dashboard's number, money, time and reason formatting, its paging and chart ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.html import axis, bar_chart, line_chart, nice_top
from stripe2sf.web.dashboard.paging import DEFAULT_SIZE, page_link, paging
from stripe2sf.web.dashboard.timeline import (
    LATENCY_HOURS,
    MIN_SECONDS,
    latency_buckets,
    latency_window,
    time_ticks,
)


def test_numbers_have_thousands_separators() -> None:
    assert fmt.number(10000) == "10,000"
    assert fmt.number(999) == "999"
    assert fmt.number(1234567.25, 1) == "1,234,567.2"
    assert fmt.number(3.0) == "3"
    assert fmt.number(None) == "-"
    assert fmt.usage(1045, 100000) == "1,045 / 100,000"
    assert fmt.usage(1045, None) == "1,045"


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (10000, "jpy", "10,000 JPY"),  # no decimals in yen
        (4321, "usd", "43.21 USD"),
        (123456789, "eur", "1,234,567.89 EUR"),
        (1000, "KWD", "1.000 KWD"),  # three decimals
        (500, "usd", "5.00 USD"),
        (-250, "gbp", "-2.50 GBP"),
    ],
)
def test_money_has_its_currencys_decimals(minor: int, currency: str, shown: str) -> None:
    assert fmt.money(minor, currency) == shown


def test_major_amounts_are_rounded_to_the_currency() -> None:
    assert fmt.money_major(Decimal("10000"), "JPY") == "10,000 JPY"
    assert fmt.money_major(Decimal("43.2"), "usd") == "43.20 USD"


def test_times_are_second_precise() -> None:
    at = datetime(2024, 5, 1, 12, 34, 56, 789012, tzinfo=UTC)
    assert fmt.when(at) == "2024-05-01 12:34:56"
    assert fmt.when("2024-05-01T12:34:56.789012+00:00") == "2024-05-01 12:34:56"
    assert fmt.when(None) == "-"
    assert fmt.ago(at - timedelta(seconds=5), at) == "5 s ago"
    assert fmt.ago(at + timedelta(seconds=3), at) == "in 3 s"
    assert fmt.ago(at - timedelta(hours=2), at) == "2024-05-01 10:34:56"
    assert fmt.took(at, at + timedelta(seconds=75)) == "75 s"
    assert fmt.seconds(0.1234) == "0.12 s"
    assert fmt.seconds(7200 * 2) == "4.0 h"
    assert fmt.yes_no(False) == "no"


def test_a_viewer_reads_reasons_without_ids_emails_or_figures() -> None:
    text = (
        "late event: payment ch_3Nabc123 already written from newer state; "
        "email carol@example.com belongs to cus_Q1w2e3; Contact 003000000000001AAA; 43.21 USD"
    )
    shown = fmt.for_viewer(text)
    for secret in ("ch_3Nabc123", "carol@example.com", "cus_Q1w2e3", "003000000000001AAA", "43.21"):
        assert secret not in shown
    assert shown.startswith("late event: payment … already written from newer state")
    assert fmt.refusal_reason("card-data field name: 4242424242424242") == "card-data field name"


def test_paging_bounds_the_page_and_the_size() -> None:
    paged = paging("3", "50", 578)
    assert (paged.page, paged.size, paged.pages, paged.offset) == (3, 50, 12, 100)
    assert paged.summary(50) == "101-150 of 578"
    assert paged.has_previous and paged.has_next
    last = paging("99", "50", 578)
    assert (last.page, last.offset) == (12, 550) and last.summary(28) == "551-578 of 578"
    assert not last.has_next
    assert paging("x", "7", 10).size == DEFAULT_SIZE  # unknown sizes fall back
    assert paging("", "", 0).summary(0) == "0 of 0"
    assert paging("-4", "25", 5).page == 1
    assert paging("1", "100", 10000).summary(100) == "1-100 of 10,000"


def test_page_links_keep_the_filters() -> None:
    link = page_link("/events", {"q": "", "type": "charge.succeeded", "state": "dead"}, 2, 100)
    assert link == "/events?type=charge.succeeded&state=dead&page=2&size=100"
    assert page_link("/events", {}, 1, DEFAULT_SIZE) == "/events?page=1"


def test_latency_window_covers_the_data_not_a_fixed_three_hours() -> None:
    now = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
    recent = latency_window(now - timedelta(minutes=4), now)
    assert recent.step == 10 and recent.start <= now - timedelta(minutes=4)
    assert recent.end >= now and recent.seconds // recent.step <= 30
    assert recent.start > now - timedelta(minutes=5)  # the data fills the width
    long_ago = latency_window(now - timedelta(hours=5), now)
    assert long_ago.step == 600 and long_ago.start <= now - timedelta(hours=5)
    assert long_ago.seconds // long_ago.step <= 31
    capped = latency_window(now - timedelta(days=3), now)
    assert capped.seconds >= LATENCY_HOURS * 3600 and capped.step == 3600
    assert latency_window(None, now).seconds >= MIN_SECONDS
    ticks = time_ticks(now - timedelta(hours=1), now)
    assert ticks == ["11:00", "11:15", "11:30", "11:45", "12:00"]
    assert time_ticks(now - timedelta(minutes=2), now)[0] == "11:58:30"


def test_latency_buckets_take_percentiles_per_bucket() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    window = latency_window(now - timedelta(seconds=100), now)
    samples = [(window.start + timedelta(seconds=1), v) for v in (1.0, 2.0, 3.0, 10.0)]
    samples.append((window.end - timedelta(seconds=1), 0.5))
    buckets = latency_buckets(samples, window)
    assert len(buckets) == window.seconds // window.step
    assert buckets[0] == (2.0, 10.0) and buckets[-1] == (0.5, 0.5)
    assert buckets[1] == (None, None)


def test_charts_carry_axis_titles_ticks_and_rounded_maxima() -> None:
    assert [nice_top(v) for v in (0, 0.7, 3, 9.5, 11, 240)] == pytest.approx(
        [1, 0.8, 3, 10, 15, 250]
    )
    assert axis(38) == (40, 10) and axis(2) == (2, 0.5) and axis(12345)[1] == 5000
    svg = line_chart(
        [("p50", "#000", [None, 1.0, 2.0, None])],
        ["10:00", "10:30", "11:00"],
        title="latency",
        unit=" s",
        x_title="time (UTC)",
        y_title="seconds",
    )
    assert "time (UTC)" in svg and "seconds" in svg and "10:30" in svg
    assert "2 s" in svg and "1.5 s" in svg  # gridlines at round steps
    assert "no data" not in svg
    assert "no data in this range" in line_chart([("x", "#000", [None])], [], title="t")
    bars = bar_chart([("< 1 h", 3.0), ("1-24 h", 12.0)], title="t", x_title="time to resolve")
    assert "time to resolve" in bars and ">12<" in bars and ">15<" in bars
