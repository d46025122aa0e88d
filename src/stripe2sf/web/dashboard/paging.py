"""Paging of the dashboard's long lists (pure): which rows a page holds, how the page says
"101-200 of 578", and links to the other pages that keep every filter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from stripe2sf.web.dashboard.formatting import number

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50


@dataclass(frozen=True)
class Paging:
    page: int  # 1-based, within 1..pages
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def summary(self, shown: int) -> str:
        """`101-150 of 578` (`0 of 0` when nothing matched)."""
        if not self.total or not shown:
            return f"0 of {number(self.total)}"
        first = self.offset + 1
        return f"{number(first)}-{number(self.offset + shown)} of {number(self.total)}"


def paging(page: str | int | None, size: str | int | None, total: int) -> Paging:
    """The page asked for, bounded: a size from PAGE_SIZES, a page within what exists
    (a page past the end shows the last one; anything unreadable the first)."""
    try:
        wanted_size = int(size) if size not in (None, "") else DEFAULT_SIZE
    except ValueError:
        wanted_size = DEFAULT_SIZE
    chosen = wanted_size if wanted_size in PAGE_SIZES else DEFAULT_SIZE
    try:
        wanted = int(page) if page not in (None, "") else 1
    except ValueError:
        wanted = 1
    last = max(1, -(-max(total, 0) // chosen))
    return Paging(min(max(wanted, 1), last), chosen, max(total, 0))


def page_link(path: str, filters: Mapping[str, str], page: int, size: int) -> str:
    """`path?filters&page=N&size=M`, empty filters left out."""
    query = {k: v for k, v in filters.items() if v}
    query["page"] = str(page)
    if size != DEFAULT_SIZE:
        query["size"] = str(size)
    return f"{path}?{urlencode(query)}"
