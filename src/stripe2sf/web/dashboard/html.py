"""Server-rendered HTML for the dashboard: escaping, the page layout, and inline SVG charts.
Everything is served by stripe2sf itself (no CDN, no script)."""

from __future__ import annotations

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


def line_chart(
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    labels: Sequence[str],
    *,
    title: str,
    unit: str = "",
    width: int = 560,
    height: int = 180,
) -> str:
    """A line chart as inline SVG: `series` = (name, colour, values at evenly spaced x);
    `labels` are written under the first and last x."""
    pad_l, pad_b, pad_t = 44, 22, 30
    values = [v for _, _, vs in series for v in vs if v is not None]
    top = max(values) if values else 1.0
    top = top if top > 0 else 1.0
    n = max(1, max((len(vs) for _, _, vs in series), default=1) - 1)  # x steps
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t

    def xy(i: int, v: float) -> str:
        return f"{pad_l + plot_w * i / n:.1f},{pad_t + plot_h * (1 - v / top):.1f}"

    parts = [
        f'<svg role="img" aria-label="{e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{pad_l}" y="12" font-size="11">{e(title)}</text>',
        f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 8}" y2="{pad_t + plot_h}" '
        'stroke="#999"/>',
        f'<text x="2" y="{pad_t + 8}" font-size="10">{top:.3g}{e(unit)}</text>',
        f'<text x="2" y="{pad_t + plot_h}" font-size="10">0</text>',
    ]
    if labels:
        parts.append(
            f'<text x="{pad_l}" y="{height - 4}" font-size="10">{e(labels[0])}</text>'
            f'<text x="{width - 8}" y="{height - 4}" font-size="10" text-anchor="end">'
            f"{e(labels[-1])}</text>"
        )
    for k, (name, colour, vs) in enumerate(series):
        coords = [xy(i, v) for i, v in enumerate(vs) if v is not None]
        if len(coords) > 1:
            parts.append(
                f'<polyline fill="none" stroke="{e(colour)}" stroke-width="1.5" '
                f'points="{" ".join(coords)}"/>'
            )
        if len(coords) < 30:  # sparse data: mark each point
            for c in coords:
                cx, cy = c.split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{e(colour)}"/>')
        parts.append(
            f'<text x="{width - 120 + 60 * k}" y="26" font-size="10" fill="{e(colour)}">'
            f"{e(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, width: int = 560) -> str:
    height, pad_t, pad_b = 160, 18, 30
    top = max([v for _, v in bars] + [1.0])
    slot = (width - 20) / max(1, len(bars))
    parts = [
        f'<svg role="img" aria-label="{e(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="10" y="12" font-size="11">{e(title)}</text>',
    ]
    plot_h = height - pad_t - pad_b
    for i, (label, value) in enumerate(bars):
        h = plot_h * value / top
        x = 10 + slot * i
        parts.append(
            f'<rect x="{x + 4:.1f}" y="{pad_t + plot_h - h:.1f}" width="{slot - 8:.1f}" '
            f'height="{h:.1f}" fill="#4c6ef5"/>'
            f'<text x="{x + slot / 2:.1f}" y="{height - 16}" font-size="10" '
            f'text-anchor="middle">{e(label)}</text>'
            f'<text x="{x + slot / 2:.1f}" y="{height - 4}" font-size="10" '
            f'text-anchor="middle">{value:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
