"""Server-rendered HTML for the dashboard: escaping, the page layout, and inline SVG charts.
Everything is served by stripe2sf itself (no CDN, no script)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape

CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2433;background:#f5f6f8}
header{background:#1d2433;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;align-items:center}
header a{color:#cfd8ff;text-decoration:none}header .who{margin-left:auto}
header form{display:inline}main{padding:1rem;max-width:1200px;margin:auto}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}.card{background:#fff;border-radius:6px;
padding:.7rem 1rem;min-width:150px;box-shadow:0 1px 2px #0002}.card .v{font-size:1.6rem}
.card .l{color:#667;font-size:.8rem}table{border-collapse:collapse;width:100%;background:#fff}
td,th{border-bottom:1px solid #e3e5ea;padding:.3rem .5rem;text-align:left;font-size:.85rem;
vertical-align:top}pre{background:#fff;padding:.6rem;overflow:auto;font-size:.8rem}
.bad{color:#b3261e}.ok{color:#1b7a3a}.muted{color:#778}.flash{background:#e8f1ff;padding:.5rem}
svg{background:#fff;border-radius:6px}form.inline{display:inline}
.charts{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}h2{margin-top:1.6rem}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.pager{margin:.6rem 0;display:flex;
gap:.8rem;align-items:center}.filters{margin-bottom:.8rem}.cards+h2{margin-top:1.4rem}
.reason{color:#554}
input,select,button{font:inherit;padding:.2rem .4rem}.login{max-width:320px;margin:4rem auto;
background:#fff;padding:1.5rem;border-radius:6px}.login input{width:100%;margin:.3rem 0 .8rem}
"""


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def layout(
    title: str, body: str, *, user: str | None = None, role: str = "", csrf: str = ""
) -> str:
    nav = ""
    if user is not None:
        links = [
            ("/", "Overview"),
            ("/events", "Events"),
            ("/dead-letters", "Dead letters"),
            ("/review", "Review queue"),
            ("/audit", "Audit trail"),
            ("/reconcile", "Reconciliation"),
            ("/alerts", "Alerts"),
            ("/figures", "Business figures"),
        ]
        nav = " ".join(f'<a href="{href}">{e(text)}</a>' for href, text in links)
        nav += (
            f'<span class="who">{e(user)} ({e(role)})</span>'
            f'<form method="post" action="/logout"><input type="hidden" name="csrf" '
            f'value="{e(csrf)}"><button>Log out</button></form>'
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{e(title)} · stripe2sf</title>"
        '<link rel="stylesheet" href="/assets/dashboard.css"></head><body>'
        f"<header><strong>stripe2sf</strong>{nav}</header><main><h1>{e(title)}</h1>"
        f"{body}</main></body></html>"
    )


def card(label: str, value: object, test_id: str, css: str = "") -> str:
    return (
        f'<div class="card"><div class="v {css}" data-testid="{e(test_id)}">{e(value)}</div>'
        f'<div class="l">{e(label)}</div></div>'
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], test_id: str = "") -> str:
    """`rows` hold HTML already escaped by the caller."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' data-testid="{e(test_id)}"' if test_id else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hidden_csrf(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def axis(value: float, most: int = 5) -> tuple[float, float]:
    """(top, step) of a y axis from 0 holding `value`: the step 1, 2 or 5 times a power of
    ten, at most `most` steps, the top a whole number of steps."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if raw <= m * power * (1 + 1e-9))
    return step * math.ceil(value / step - 1e-9), step


def nice_top(value: float) -> float:
    """The axis maximum for `value` (see `axis`)."""
    return axis(value)[0]


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    labels: Sequence[str],
    *,
    title: str,
    unit: str = "",
    x_title: str = "",
    y_title: str = "",
    width: int = 560,
    height: int = 220,
    test_id: str = "",
) -> str:
    """A line chart as inline SVG: `series` = (name, colour, values at evenly spaced x);
    `labels` are spread evenly under the x axis (first under the first x, last under the
    last). The y axis starts at 0 with gridlines at round steps (`axis`); both axes carry
    their titles."""
    pad_l, pad_r, pad_t, pad_b = 56, 14, 34, 40
    values = [v for _, _, vs in series for v in vs if v is not None]
    top, step = axis(max(values) if values else 0.0)
    n = max(1, max((len(vs) for _, _, vs in series), default=1) - 1)  # x steps
    plot_w, plot_h = width - pad_l - pad_r, height - pad_b - pad_t
    bottom = pad_t + plot_h

    def xy(i: int, v: float) -> tuple[float, float]:
        return pad_l + plot_w * i / n, pad_t + plot_h * (1 - v / top)

    attr = f' data-testid="{e(test_id)}"' if test_id else ""
    parts = [
        f'<svg class="chart" role="img" aria-label="{e(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"{attr}>',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="600">{e(title)}</text>',
    ]
    for k in range(round(top / step) + 1):  # gridlines and y ticks at each step
        value = step * k
        y = bottom - plot_h * value / top
        parts.append(
            f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - pad_r}" y2="{y:.1f}" '
            f'stroke="{"#999" if k == 0 else "#e6e8ee"}"/>'
            f'<text class="tick" x="{pad_l - 4}" y="{y + 3:.1f}" font-size="10" '
            f'text-anchor="end">{e(_tick(value))}{e(unit) if k else ""}</text>'
        )
    parts.append(f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{bottom}" stroke="#999"/>')
    if y_title:
        parts.append(
            f'<text x="12" y="{pad_t + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
            f'transform="rotate(-90 12 {pad_t + plot_h / 2:.1f})">{e(y_title)}</text>'
        )
    if labels:
        count = len(labels)
        for i, label in enumerate(labels):
            x = pad_l + (plot_w * i / (count - 1) if count > 1 else 0)
            anchor = "start" if i == 0 else "end" if i == count - 1 else "middle"
            parts.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#999"/>'
                f'<text class="tick" x="{x:.1f}" y="{bottom + 15}" font-size="10" '
                f'text-anchor="{anchor}">{e(label)}</text>'
            )
    if x_title:
        parts.append(
            f'<text x="{pad_l + plot_w / 2:.1f}" y="{height - 4}" font-size="10" '
            f'text-anchor="middle">{e(x_title)}</text>'
        )
    for k, (name, colour, vs) in enumerate(series):
        points = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(points) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline fill="none" stroke="{e(colour)}" stroke-width="1.8" points="{coords}"/>'
            )
        if len(points) < 40:  # sparse data: mark each point
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{e(colour)}"/>' for x, y in points
            )
        lx = width - pad_r - 70 * (len(series) - k)
        parts.append(
            f'<rect x="{lx}" y="20" width="10" height="3" fill="{e(colour)}"/>'
            f'<text x="{lx + 14}" y="25" font-size="10">{e(name)}</text>'
        )
    if not values:
        parts.append(
            f'<text x="{pad_l + plot_w / 2:.1f}" y="{pad_t + plot_h / 2:.1f}" font-size="11" '
            'text-anchor="middle" fill="#778">no data in this range</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    x_title: str = "",
    y_title: str = "",
    width: int = 560,
    test_id: str = "",
) -> str:
    """Bars with their value above each and their label under it; axis titles below and left."""
    height, pad_l, pad_r, pad_t, pad_b = 220, 44, 10, 34, 44
    top = nice_top(max([v for _, v in bars] + [0.0]))
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    bottom = pad_t + plot_h
    slot = plot_w / max(1, len(bars))
    attr = f' data-testid="{e(test_id)}"' if test_id else ""
    parts = [
        f'<svg class="chart" role="img" aria-label="{e(title)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"{attr}>',
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="600">{e(title)}</text>',
        f'<line x1="{pad_l}" y1="{bottom}" x2="{width - pad_r}" y2="{bottom}" stroke="#999"/>',
        f'<text class="tick" x="{pad_l - 4}" y="{bottom + 3}" font-size="10" '
        'text-anchor="end">0</text>'
        f'<text class="tick" x="{pad_l - 4}" y="{pad_t + 3}" font-size="10" '
        f'text-anchor="end">{e(_tick(top))}</text>'
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{width - pad_r}" y2="{pad_t}" stroke="#e6e8ee"/>',
    ]
    if y_title:
        parts.append(
            f'<text x="12" y="{pad_t + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
            f'transform="rotate(-90 12 {pad_t + plot_h / 2:.1f})">{e(y_title)}</text>'
        )
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top
        x = pad_l + slot * i
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{bottom - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="#4c6ef5"/>'
            f'<text x="{x + slot / 2:.1f}" y="{bottom - h - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{e(_tick(value))}</text>'
            f'<text class="tick" x="{x + slot / 2:.1f}" y="{bottom + 14}" font-size="10" '
            f'text-anchor="middle">{e(label)}</text>'
        )
    if x_title:
        parts.append(
            f'<text x="{pad_l + plot_w / 2:.1f}" y="{height - 6}" font-size="10" '
            f'text-anchor="middle">{e(x_title)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
