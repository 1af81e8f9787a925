"""End to end: the real Streamlit server on loopback, driven by a real headless Chromium.

Runs whenever Debian's Chromium and the `playwright` Python package are installed, and skips
otherwise (see tests/browser_fixtures.py).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import TIMEOUT_MS, browser_fixture  # noqa: F401  (`browser`)
from tests.human_study_fixtures import make_study, read_tokens
from ttm_bench.human.serve import app_environment, streamlit_command
from ttm_bench.human.spec import DEFAULT_QUESTIONS
from ttm_bench.human.study import Study


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {seconds} s")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Study, str]]:
    study = make_study(tmp_path)
    port = _free_port()
    server = subprocess.Popen(streamlit_command("127.0.0.1", port),
                              env=app_environment(study.root), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield study, url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _progress(page: object, done: int, total: int) -> None:
    page.get_by_text(f"{done} of {total} comparisons done").wait_for(timeout=TIMEOUT_MS)


_CHECKED = "document.querySelectorAll('input[type=radio]:checked').length"
_SUBMIT_ENABLED = ("[...document.querySelectorAll('button')]"
                   ".some(b => b.innerText.includes('Submit') && !b.disabled)")


def _answer_all(page: object, side: str, n: int = len(DEFAULT_QUESTIONS)) -> None:
    """Answer the `n` questions of a fresh item with `side`; wait until Submit is enabled."""
    page.wait_for_function(  # the new item's questions are all drawn and unanswered
        f"() => document.querySelectorAll('[role=radiogroup]').length === {n} && {_CHECKED} === 0")
    groups = page.get_by_role("radiogroup")
    for i in range(n):
        groups.nth(i).get_by_text(side).click()
        page.wait_for_function(f"() => {_CHECKED} === {i + 1}")
    page.wait_for_function(f"() => {_SUBMIT_ENABLED}")


def test_rate_in_a_real_browser(served: tuple[Study, str], browser: object) -> None:
    study, url = served
    tokens = read_tokens(study)
    store = study.open_store()
    total = len(store.queue(study.name, "r001"))

    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/?token=wrong")
    page.get_by_text("This link is not valid").wait_for()
    assert page.get_by_role("radiogroup").count() == 0

    page.goto(f"{url}/?token={tokens['r001']}")
    _progress(page, 0, total)
    player = page.frame_locator("iframe").first
    player.locator("video#left").wait_for(state="attached")
    frame = next(f for f in page.frames if f.url.startswith("about:srcdoc"))
    frame.wait_for_function("() => [...document.querySelectorAll('video')]"
                            ".every(v => v.readyState >= 2)")
    state = frame.evaluate("() => [...document.querySelectorAll('video')]"
                           ".map(v => ({muted: v.muted, paused: v.paused}))")
    assert all(v["muted"] for v in state)
    player.get_by_role("button", name="Pause").click()
    paused = frame.evaluate("() => [...document.querySelectorAll('video')].map(v => v.paused)")
    assert paused == [True, True]
    player.get_by_role("button", name="Restart").click()
    times = frame.evaluate("() => [...document.querySelectorAll('video')]"
                           ".map(v => v.currentTime)")
    assert times == [0, 0]
    player.get_by_role("button", name="Play").click()
    page.wait_for_timeout(600)
    playing = frame.evaluate("() => [...document.querySelectorAll('video')]"
                             ".map(v => [v.paused, v.currentTime])")
    assert [p for p, _ in playing] == [False, False]
    assert abs(playing[0][1] - playing[1][1]) < 0.25  # played together, in step

    submit = page.get_by_role("button", name="Submit")
    assert submit.is_disabled()
    _answer_all(page, "Left video")
    submit.dblclick()  # a double click must count once
    _progress(page, 1, total)
    time.sleep(1.0)
    assert len(store.votes(study.name)) == 3

    _answer_all(page, "Right video")  # answered but not submitted, then the tab is refreshed
    page.reload()
    _progress(page, 1, total)
    page.close()  # the rater closes the tab and comes back later in a new browser context

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/?token={tokens['r001']}")
    for done in range(1, total):
        _progress(page, done, total)
        _answer_all(page, "Right video")
        page.get_by_role("button", name="Submit").click()
    page.get_by_text("All done").wait_for()
    context.close()

    votes = store.votes(study.name)
    assert len(votes) == 3 * total and set(votes["rater"]) == {"r001"}
    assert not votes.duplicated(["rater", "item", "question"]).any()
    log = store.submissions(study.name)
    assert (log["outcome"] == "recorded").sum() == total
    first_item = store.queue(study.name, "r001")[0]
    first = votes[votes["item"] == first_item.item]
    assert set(first["choice"]) == {"a" if first_item.a_on_left else "b"}
