"""The HTML report in a real headless Chromium, opened from disk and from a static server: no
console errors, every video plays, the gallery's sort and filter reorder its rows, and
screenshots at desktop and phone width are saved as artefacts (see tests/browser_fixtures.py).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import (  # noqa: F401  (`browser`)
    TIMEOUT_MS,
    artefacts_dir,
    browser_fixture,
)
from tests.report_fixtures import REPORT_MODELS, make_evaluated_runs
from tests.report_screenshot import DESKTOP, PHONE, open_report
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.report import gallery
from ttm_bench.report.html_report import write_report
from ttm_bench.report.results import load_per_sample, load_results


@pytest.fixture(scope="module")
def report(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-browser")
    return write_report(make_evaluated_runs(root, small_bench), root / "report")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """No request log, and no traceback when the page drops a video it no longer needs."""

    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()


@pytest.fixture
def served(report: Path) -> Iterator[str]:
    """The report folder on a plain static server (no range requests, no index magic)."""
    handler = functools.partial(_QuietHandler, directory=str(report.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def _order(page: object) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('article.sample')]"
                         ".filter(a => !a.hidden).map(a => a.dataset.sample)")


def _assert_rows_play(page: object) -> None:
    """Each row's videos load and play once the row is on screen, pause together from the
    row's button, resume in step, and are released when the row is far off screen."""
    rows = page.locator("article.sample").all()
    for row in rows:
        row.scroll_into_view_if_needed()
        page.wait_for_function(
            "r => [...r.querySelectorAll('video')].every(v => v.readyState >= 2 && "
            "!v.paused && v.currentTime > 0.05)", arg=row.element_handle(), timeout=TIMEOUT_MS)
        row.get_by_role("button", name="Pause").click()
        assert row.evaluate("r => [...r.querySelectorAll('video')].every(v => v.paused)")
        row.get_by_role("button", name="Play").click()
        times = row.evaluate("r => [...r.querySelectorAll('video')]"
                             ".map(v => [v.currentTime, v.duration])")
        assert len(times) == len(REPORT_MODELS)
        lead, duration = times[0]
        for t, _ in times[1:]:  # in step, on the loop (0.95 s and 0.02 s of a 1 s clip are)
            assert min(abs(t - lead), duration - abs(t - lead)) < 0.25, times
    page.set_viewport_size({"width": DESKTOP[0], "height": 200})
    rows[-1].scroll_into_view_if_needed()
    page.wait_for_function("r => [...r.querySelectorAll('video')].every(v => !v.src)",
                           arg=rows[0].element_handle())
    page.set_viewport_size({"width": DESKTOP[0], "height": DESKTOP[1]})


@pytest.mark.parametrize("opened_from", ["disk", "server"])
def test_report_in_a_real_browser(report: Path, served: str, browser: object,
                                  small_bench: Benchmark, opened_from: str) -> None:
    url = report.as_uri() if opened_from == "disk" else served
    page, problems = open_report(browser, url, DESKTOP)
    benchmark_order = [s.id for s in small_bench.samples]
    assert _order(page) == benchmark_order
    assert page.locator("video").count() == len(benchmark_order) * len(REPORT_MODELS)
    _assert_rows_play(page)

    # sort: largest |ground-truth − static| AD first, as gallery.sort_by_difference says
    values = [gallery.sample_values(load_per_sample(load_results(d)))
              for d in sorted(report.parent.parent.glob("results/*"),
                              key=lambda d: REPORT_MODELS.index(d.name))]
    rows = gallery.gallery_rows([gallery.SampleEntry(s.id, s.split) for s in small_bench.samples],
                                values, {}, [{}] * len(values))
    a, b = REPORT_MODELS.index("ken-burns"), REPORT_MODELS.index("static")
    expected = [r.sample_id for r in gallery.sort_by_difference(rows, a, b, "ad_dis")]
    assert expected != benchmark_order  # the data make the sort visible
    page.select_option("#run-a", str(a))
    page.select_option("#run-b", str(b))
    page.select_option("#sort-metric", "ad_dis")
    page.select_option("#sort-mode", "difference")
    assert _order(page) == expected
    assert page.locator("article.sample .difference").first.inner_text().startswith("|A − B| =")

    # filter: only the multi-object samples, still in the sorted order
    page.select_option("#split-filter", "multi")
    multi = {s.id for s in small_bench.samples if s.split == "multi"}
    assert _order(page) == [sid for sid in expected if sid in multi]
    assert page.locator("#shown-count").inner_text() == f"{len(multi)} of {len(expected)} samples"
    page.select_option("#split-filter", "")
    page.select_option("#sort-mode", "benchmark")
    assert _order(page) == benchmark_order
    assert problems == []

    if opened_from == "disk":
        folder = artefacts_dir()
        page.screenshot(path=folder / "report-desktop.png")
        phone, phone_problems = open_report(browser, url, PHONE)
        phone.screenshot(path=folder / "report-phone.png", full_page=True)
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE[0]
        assert phone_problems == []
        assert (folder / "report-desktop.png").stat().st_size > 0
