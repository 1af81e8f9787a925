"""End to end: the real Streamlit server on loopback, driven by a real headless Chromium.

Runs whenever Debian's Chromium (`/usr/bin/chromium`, `apt-get install chromium`) and the
`playwright` Python package are installed, and skips otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import TIMEOUT_MS, browser_fixture  # noqa: F401  (`browser`)
from tests.human_study_fixtures import make_study, read_tokens
from ttm_bench.bench.human_load import free_port, running_server
from ttm_bench.human.serve import app_environment, streamlit_command
from ttm_bench.human.spec import DEFAULT_QUESTIONS
from ttm_bench.human.study import Study


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Study, str]]:
    study = make_study(tmp_path)
    port = free_port()
    with running_server(streamlit_command("127.0.0.1", port), port,
                        app_environment(study.root)) as url:
        yield study, url


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


def _open_link(browser: object, url: str, token: str, **page_options: object) -> object:
    """A new page showing the personal link of `token`."""
    page = browser.new_page(**page_options)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/?token={token}")
    return page


def test_rate_in_a_real_browser(served: tuple[Study, str], browser: object) -> None:
    study, url = served
    tokens = read_tokens(study)
    store = study.open_store()
    total = len(store.queue(study.name, "r001"))

    page = _open_link(browser, url, "wrong")
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


READ_ONLY, LOCKED, DISK_FULL = ("attempt to write a readonly database", "database is locked",
                                "database or disk is full")
SECRET = "secretmodel"  # in both run names: it must never reach a rater's page


@pytest.fixture
def faulty_served(tmp_path: Path) -> Iterator[tuple[Study, str, Path]]:
    """A study of runs `secretmodelx`/`secretmodely` served with injectable storage faults
    (see tests/faulty_streamlit.py): yields the study, the URL and the fault file."""
    from tests.human_study_fixtures import make_benchmark, make_run, write_spec
    from ttm_bench.human.spec import load_spec
    from ttm_bench.human.study import create_study

    make_benchmark(tmp_path / "bench")
    for name, brightness in ((f"{SECRET}x", 40), (f"{SECRET}y", 140)):
        make_run(tmp_path / name, tmp_path / "bench", name, brightness)
    spec = write_spec(tmp_path / "spec.yaml", runs={f"{SECRET}x": f"{SECRET}x",
                                                   f"{SECRET}y": f"{SECRET}y"})
    study = create_study(load_spec(spec), tmp_path / "study")
    fault = tmp_path / "fault"
    fault.write_text("")
    port = free_port()
    launcher = [sys.executable, str(Path(__file__).with_name("faulty_streamlit.py")), str(fault),
                *streamlit_command("127.0.0.1", port)[3:]]
    env = {**app_environment(study.root), "PYTHONPATH": str(Path(__file__).parents[1])}
    with running_server(launcher, port, env) as url:
        yield study, url, fault


def _assert_blind(page: object, study: Study) -> None:
    """Nothing on the page (text, HTML, the player's frame) names a run, a path or a trace."""
    shown = page.inner_text("body") + page.content()
    shown += "".join(frame.content() for frame in page.frames)
    for secret in (SECRET, str(study.root.parent), "Traceback", "sqlite", "INSERT"):
        assert secret not in shown, f"{secret!r} reached the rater's page"


@pytest.mark.parametrize("fault", [READ_ONLY, LOCKED, DISK_FULL])
def test_a_failing_database_never_unblinds_and_loses_no_vote(
        faulty_served: tuple[Study, str, Path], browser: object, fault: str) -> None:
    study, url, fault_file = faulty_served
    tokens = read_tokens(study)
    store = study.open_store()
    total = len(store.queue(study.name, "r001"))
    page = _open_link(browser, url, tokens["r001"])
    _progress(page, 0, total)
    fault_file.write_text(fault)
    _answer_all(page, "Left video")
    page.get_by_role("button", name="Submit").click()
    if fault == DISK_FULL:  # neither journal nor database took it: the rater is asked to retry
        page.get_by_text("Your answers were not saved").wait_for()
        assert page.evaluate(f"() => {_CHECKED}") == len(DEFAULT_QUESTIONS)  # answers kept
    else:  # the journal holds it: the rater moves on and is never asked again
        _progress(page, 1, total)
    _assert_blind(page, study)
    assert store.votes(study.name).empty

    admin = browser.new_page()
    admin.goto(f"{url}/?token={tokens['admin']}")
    admin.get_by_text("Incidents").wait_for(timeout=TIMEOUT_MS)
    admin.get_by_text(fault).first.wait_for(state="attached", timeout=TIMEOUT_MS)  # details
    admin.close()

    fault_file.write_text("")  # the disk is writable again
    if fault == DISK_FULL:
        page.get_by_role("button", name="Submit").click()
    else:
        page.reload()  # any page of the server writes the waiting submissions
    _progress(page, 1, total)
    deadline = time.monotonic() + 10
    while len(store.votes(study.name)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    votes = store.votes(study.name)
    assert len(votes) == 3 and set(votes["rater"]) == {"r001"}
    assert (store.submissions(study.name)["outcome"] == "recorded").sum() == 1
    _assert_blind(page, study)


_SCROLLED = ("() => window.scrollY + [...document.querySelectorAll('*')]"
             ".reduce((s, e) => s + e.scrollTop, 0)")


def _in_view(page: object, locator: object) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= (
        page.viewport_size["height"])


def _screenshot(page: object, name: str, tmp_path: Path) -> None:
    """Save a screenshot; with TTM_BENCH_UPDATE_SCREENSHOTS=1 also as docs/images/`name`."""
    page.wait_for_timeout(500)  # let the last paint settle
    shot = tmp_path / name
    page.screenshot(path=str(shot))
    if os.environ.get("TTM_BENCH_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, Path(__file__).parents[1] / "docs" / "images" / name)


def test_layout_keyboard_and_each_item_starts_at_the_top(served: tuple[Study, str],
                                                         browser: object,
                                                         tmp_path: Path) -> None:
    study, url = served
    tokens = read_tokens(study)
    total = len(study.open_store().queue(study.name, "r002"))
    page = _open_link(browser, url, tokens["r002"], viewport={"width": 1366, "height": 768})
    _progress(page, 0, total)
    page.get_by_text("Watch both clips to the end").wait_for()  # instructions open at first
    page.get_by_text("Keyboard: 1 = left, 2 = right").wait_for()
    page.wait_for_function("() => document.querySelectorAll('[role=radiogroup]').length === 3")
    page.get_by_text("Instructions").click()  # folded away, everything fits on one screen
    page.get_by_text("Watch both clips to the end").wait_for(state="hidden")
    submit = page.get_by_role("button", name="Submit")
    for element in (page.locator("iframe").first, page.get_by_text("Caption", exact=True),
                    *[page.get_by_role("radiogroup").nth(i) for i in range(3)], submit):
        assert _in_view(page, element)

    for key in ("1", "2", "1"):  # keyboard: the next open question, then Enter submits
        page.keyboard.press(key)
    page.wait_for_function(f"() => {_CHECKED} === 3 && {_SUBMIT_ENABLED}")
    _screenshot(page, "rater.png", tmp_path)
    page.set_viewport_size({"width": 800, "height": 360})  # small enough to scroll
    submit.scroll_into_view_if_needed()
    assert page.evaluate(_SCROLLED) > 0 and not _in_view(page, page.get_by_text("Caption",
                                                                               exact=True))
    page.keyboard.press("Enter")
    _progress(page, 1, total)
    page.wait_for_function(f"() => ({_SCROLLED})() === 0")  # the new item starts at the top
    assert _in_view(page, page.get_by_text("Caption", exact=True))
    votes = study.open_store().votes(study.name)
    first = study.open_store().queue(study.name, "r002")[0]
    left, right = ("a", "b") if first.a_on_left else ("b", "a")
    assert list(votes.sort_values("id")["choice"]) == [left, right, left]
    admin = browser.new_page(viewport={"width": 1366, "height": 768})
    admin.goto(f"{url}/?token={tokens['admin']}")
    admin.get_by_text("Items complete: 0 / 4").wait_for(timeout=TIMEOUT_MS)
    admin.get_by_text("Incidents").wait_for(timeout=TIMEOUT_MS)
    admin.locator("canvas").first.wait_for(timeout=TIMEOUT_MS)  # the tables are drawn
    admin.wait_for_timeout(2000)
    _screenshot(admin, "admin.png", tmp_path)

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.goto(f"{url}/?token={tokens['r003']}")
    player = phone.locator("iframe").first
    player.wait_for()
    frame = next(f for f in phone.frames if f.url.startswith("about:srcdoc"))
    frame.wait_for_function("() => [...document.querySelectorAll('video')]"
                            ".every(v => v.readyState >= 1)")
    box = player.bounding_box()
    assert box["width"] >= 0.85 * 390  # the player uses the phone's width ...
    content = frame.evaluate("() => document.documentElement.scrollHeight")
    assert abs(box["height"] - content) < 24  # ... and leaves no dead space below the videos
