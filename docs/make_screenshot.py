"""Regenerate docs/view.png: headless Chromium's picture of `rtkit view`'s page of the
reference barge-in cassette (docs/view.md shows it).

    python docs/make_screenshot.py               # writes docs/view.png
    python docs/make_screenshot.py -o shot.png   # elsewhere

Needs Debian's Chromium (`apt-get install chromium`) and Playwright for Python (the `dev`
extra); Playwright's own browser download is not used. `launch` is also how
tests/test_view_browser.py starts the browser.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "chromium_path", "launch", "main", "shoot"]

ROOT = Path(__file__).resolve().parent.parent
CASSETTE = ROOT / "cassettes" / "ga" / "vad_barge_in.jsonl"
CHROMIUM = ("chromium", "chromium-browser")
# a browser that talks to nobody: no first-run, sync, component or background traffic
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """Where Debian's Chromium is, or None."""
    return next((p for p in map(shutil.which, CHROMIUM) if p), None)


@contextmanager
def launch(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A Playwright browser context on the system's Chromium, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=ARGS,
            viewport={"width": width, "height": height})
        try:
            yield context
        finally:
            context.close()


def shoot(context: Any, output: Path) -> list[str]:
    """Write the barge-in cassette's report and its full-page screenshot to `output` with
    the browser `context`; returns the page's console errors (none expected)."""
    sys.path.insert(0, str(ROOT))
    from rtkit.view import write_view

    errors: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        page_path = Path(work) / "barge_in.html"
        write_view(CASSETTE, page_path, title="rtkit view cassettes/ga/vad_barge_in.jsonl")
        page = context.new_page()
        try:
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_function("[...document.querySelectorAll('audio')]"
                                   ".every(a => a.readyState >= 1)")
            page.screenshot(path=str(output), full_page=True)
        finally:
            page.close()
    return errors


def main(argv: list[str] | None = None) -> int:
    """Regenerate the screenshot (exit 1 if the page logged an error)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "view.png")
    args = parser.parse_args(argv)
    with launch() as context:
        errors = shoot(context, args.output)
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
