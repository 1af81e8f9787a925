"""Open an HTML report in Debian's Chromium, recording every console error, page error and
failed request; also a script that saves the README's screenshot of a report (its gallery,
sorted by the largest difference between the first two runs, in 256 colours):

    python -m tests.report_screenshot reports/demo/index.html docs/images/report.png
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

DESKTOP = (1366, 768)
PHONE = (390, 844)


def open_report(browser: object, url: str, viewport: tuple[int, int]) -> tuple[object, list[str]]:
    """A new page at `url` (loaded, scripts run) and the live list of problems it reports
    (requests the page itself aborts, when it releases a video, are not problems)."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if r.failure != "net::ERR_ABORTED" else None)  # aborted: a video released early
    page.goto(url, wait_until="load")
    page.wait_for_function("() => document.getElementById('shown-count').textContent !== ''")
    return page, problems


def main() -> None:
    from PIL import Image

    from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, sync_api

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="the report's index.html")
    parser.add_argument("png", type=Path, help="where the screenshot goes")
    parser.add_argument("--section", default="gallery", help="id of the section to show")
    args = parser.parse_args()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page, problems = open_report(browser, args.index.resolve().as_uri(), DESKTOP)
        page.select_option("#sort-mode", "difference")
        page.evaluate(f"() => document.getElementById({args.section!r}).scrollIntoView()")
        page.wait_for_timeout(1500)  # let the visible videos play a few frames
        page.evaluate("() => document.querySelectorAll('video').forEach(v => v.pause())")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot = page.screenshot()
        browser.close()
    with Image.open(io.BytesIO(screenshot)) as image:
        image.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(
            args.png, optimize=True)
    if problems:
        raise SystemExit("the page reported: " + "; ".join(problems))


if __name__ == "__main__":
    main()
