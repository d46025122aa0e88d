"""Screenshots of the dashboard's pages for the README: `python tools/screenshots.py [DIR]`.

Builds the world of the dashboard's browser tests (tests/support/dashboard_world.py: both
sandboxes, stripe2sf with its worker, a few dozen events, a review, a dead letter and its alert,
a reconciliation run with drift), logs in as an operator in Debian's chromium and writes one PNG
per page to DIR (default docs/screenshots). Run by hand from the repository's root (~30 s);
never from the tests."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from tests.support.dashboard_world import OPERATOR, World, dashboard_world  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1200, 760
MAX_HEIGHT = 1150  # the top of a long page: keeps each PNG small


def pages(world: World) -> list[tuple[str, str]]:
    return [
        ("overview", "/"),
        ("events", "/events?size=25"),
        ("event", f"/events/{world.payment_event}"),
        ("dead-letters", "/dead-letters"),
        ("review", "/review"),
        ("reconcile", "/reconcile"),
        ("reconcile-run", f"/reconcile/{world.run_id}"),
        ("alerts", "/alerts"),
        ("figures", "/figures"),
    ]


def shoot(page: Page, base: str, world: World, out: Path) -> list[Path]:
    page.goto(base + "/login")
    page.fill("input[name=username]", OPERATOR[0])
    page.fill("input[name=password]", OPERATOR[1])
    page.click("button[type=submit]")
    written = []
    for name, path in pages(world):
        page.goto(base + path)
        target = out / f"{name}.png"
        height = min(MAX_HEIGHT, int(page.evaluate("document.body.scrollHeight")))
        clip = {"x": 0, "y": 0, "width": WIDTH, "height": max(HEIGHT, height)}
        page.screenshot(path=str(target), full_page=True, clip=clip)  # type: ignore[arg-type]
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        workdir = Path(tmp)
        with (
            dashboard_world(f"sqlite:///{workdir / 'stripe2sf.db'}", workdir) as world,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
            for target in shoot(context.new_page(), world.env.url, world, out):
                print(f"{target} {target.stat().st_size // 1024} KiB")
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
