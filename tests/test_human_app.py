"""The Streamlit rating app through `streamlit.testing.v1.AppTest`."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from tests.human_study_fixtures import make_study, read_tokens
from ttm_bench.human.serve import APP_PATH
from ttm_bench.human.study import Study

APP = str(APP_PATH)
NASTY_CAPTION = "<script>alert('x')</script> **bold** [link](javascript:alert(1)) <b>b</b>"


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Study:
    s = make_study(tmp_path)
    monkeypatch.setenv("TTM_BENCH_STUDY", str(s.root))
    return s


def _open(token: str | None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    if token is not None:
        at.query_params["token"] = token
    return at.run()


def _queue_length(study: Study, rater: str) -> int:
    return len(study.open_store().queue(study.name, rater))


def _types(at: AppTest) -> list[str]:
    """Types of the elements on the page (iterating the main block yields itself first)."""
    return [e.type for e in at.main if e.type != "main"]


def _srcdoc(at: AppTest) -> str:
    (frame,) = [e for e in at.main if e.type == "iframe"]
    return frame.proto.srcdoc


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_bad_token_sees_nothing_else(study: Study, token: str | None) -> None:
    at = _open(token)
    assert not at.exception
    assert _types(at) == ["error"]
    assert "not valid" in at.error[0].value


def test_rating_flow_submit_needs_every_answer(study: Study) -> None:
    tokens = read_tokens(study)
    at = _open(tokens["r001"])
    n = _queue_length(study, "r001")
    assert not at.exception
    assert at.progress[0].proto.text == f"0 of {n} comparisons done"
    assert len(at.radio) == 3 and at.button[0].disabled
    assert at.expander[0].proto.expanded  # instructions open on the first item
    at.radio[0].set_value("left")
    at.radio[1].set_value("right")
    at.run()
    assert at.button[0].disabled
    at.radio[2].set_value("left")
    at.run()
    assert not at.button[0].disabled
    at.button[0].click().run()
    assert not at.exception
    assert at.progress[0].proto.text == f"1 of {n} comparisons done"
    votes = study.open_store().votes(study.name)
    assert len(votes) == 3 and set(votes["rater"]) == {"r001"}
    log = study.open_store().submissions(study.name)
    assert log["watch_seconds"][0] >= 0
    assert all(r.value is None for r in at.radio) and at.button[0].disabled  # next item
    assert not at.expander[0].proto.expanded  # folded from the second item on


def test_page_shows_no_model_names_and_plain_text(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.human_study_fixtures import make_benchmark, make_run, write_spec
    from ttm_bench.human.spec import load_spec
    from ttm_bench.human.study import create_study

    make_benchmark(tmp_path / "bench", captions={i: NASTY_CAPTION for i in range(4)})
    make_run(tmp_path / "secretmodelx", tmp_path / "bench", "secretmodelx", 40)
    make_run(tmp_path / "secretmodely", tmp_path / "bench", "secretmodely", 140)
    spec = write_spec(tmp_path / "spec.yaml",
                      runs={"secretmodelx": "secretmodelx", "secretmodely": "secretmodely"},
                      questions=[{"id": "q", "text": "Which is <i>better</i>? **really**"}])
    study = create_study(load_spec(spec), tmp_path / "study")
    monkeypatch.setenv("TTM_BENCH_STUDY", str(study.root))
    at = _open(read_tokens(study)["r001"])
    assert at.text[0].value == NASTY_CAPTION  # st.text: shown verbatim, never rendered
    assert at.radio[0].label == r"Which is \<i\>better\</i\>? \*\*really\*\*"
    page = "\n".join(str(e.proto) for e in at.main if e.type != "iframe")
    page += _srcdoc(at)
    page += " ".join(str(w.key) for w in [*at.radio, *at.button])
    assert "secretmodel" not in page
    assert len(re.findall(r'src="/study-video/[0-9a-f]{64}\.mp4"', _srcdoc(at))) == 2


def test_second_tab_and_refresh_count_once(study: Study) -> None:
    token = read_tokens(study)["r002"]
    first, second = _open(token), _open(token)
    for at in (first, second):
        for radio in at.radio:
            radio.set_value("right")
        at.run()
    first.button[0].click().run()
    second.button[0].click().run()  # the same item, from a tab opened before the submit
    assert "already recorded" in second.info[0].value
    store = study.open_store()
    assert len(store.votes(study.name)) == 3
    assert list(store.submissions(study.name)["outcome"]) == ["recorded", "duplicate"]
    refreshed = _open(token)  # a reload resumes at the next unanswered item
    n = _queue_length(study, "r002")
    assert refreshed.progress[0].proto.text == f"1 of {n} comparisons done"
    assert refreshed.radio[0].key == second.radio[0].key


def test_admin_sees_progress_and_export(study: Study) -> None:
    tokens = read_tokens(study)
    empty = _open(tokens["admin"])  # before any vote
    assert not empty.exception and (empty.dataframe[1].value["done"] == 0).all()
    assert "Items complete: 0 / 4" in empty.text[1].value
    rater = _open(tokens["r003"])
    for radio in rater.radio:
        radio.set_value("left")
    rater.run()
    rater.button[0].click().run()
    at = _open(tokens["admin"])
    assert not at.exception
    summary = at.text[1].value
    assert "Items complete: 0 / 4" in summary and "raters active (last 10 min): 1 / 3" in summary
    assert "votes per minute: 0.1" in summary and "failed attention checks: 0" in summary
    preview = at.dataframe[0].value
    assert list(preview["pair"]) == ["base vs. ttm"] * 3
    assert preview["prefers first"].str.endswith("(1 of 1 decided)").all()
    raters = at.dataframe[1].value.set_index("rater")
    assert raters.loc["r003", "done"] == 1 and raters.loc["r001", "done"] == 0
    items = at.dataframe[2].value
    assert items["raters"].sum() == 1 and (items["target"] == 2).all()
    assert len(at.get("download_button")) == 1
    assert "0 incident(s)" in at.text[-1].value


def test_a_changed_study_is_refused_without_details(study: Study) -> None:
    video = study.spec.runs["ttm"] / "videos" / "s0.mp4"
    video.write_bytes(video.read_bytes()[:-10])
    at = _open(read_tokens(study)["r001"])
    assert _types(at) == ["error"]
    assert "unavailable" in at.error[0].value and "ttm" not in at.error[0].value


def test_invited_raters_get_in_without_a_restart(study: Study) -> None:
    from ttm_bench.human.topup import invite_more

    assert _types(_open(read_tokens(study)["r001"]))[0] == "progress"  # the app has loaded
    result = invite_more(study, 2)
    token = dict(line.split("\t") for line in result.invitations.read_text().splitlines()[1:])
    at = _open(token["r004"])
    assert not at.exception and at.progress[0].proto.text.startswith("0 of ")


def test_player_shows_two_muted_videos_and_escapes_sources() -> None:
    from ttm_bench.human.player import player_html

    page = player_html("/study-video/abc.mp4", '" onerror="alert(1)', item_key="<r1-0>")
    assert page.count("<video ") == 2 and page.count(" muted ") == 2
    assert 'onerror="alert' not in page and "&quot; onerror=&quot;alert(1)" in page
    assert 'data-item="&lt;r1-0&gt;"' in page


def test_admin_export_restores_into_a_fresh_store(study: Study, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin page's CSV is a backup: imported into a fresh store it gives the same analysis."""
    import streamlit as st

    from ttm_bench.human.analysis import analyze
    from ttm_bench.human.rating import RatingSession
    from ttm_bench.human.votes_csv import import_votes, study_votes

    store = study.open_store()
    for k, rater in enumerate(study.raters):
        session = RatingSession(study, store, rater)
        while (shown := session.next()) is not None:
            sides = ["left", "right", "left" if k % 2 else "right"]
            session.submit(shown, {q.id: s for q, s in zip(study.questions, sides,
                                                            strict=True)}, 2.0)
    downloads: list[bytes] = []
    original = st.download_button

    def spy(label: str, data: bytes, **kwargs: object) -> bool:
        downloads.append(data)
        return original(label, data, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    assert not _open(read_tokens(study)["admin"]).exception
    (exported,) = downloads
    backup = tmp_path / "backup.csv"
    backup.write_bytes(exported)

    fresh = Study(tmp_path / "fresh", {**study.data, "spec": {
        **study.data["spec"], "database": f"sqlite:///{tmp_path / 'fresh.sqlite'}"}})
    fresh_store = fresh.open_store()
    submissions = len(store.submissions(study.name))
    assert import_votes(fresh, fresh_store, backup) == (submissions, 0)
    before = analyze(study_votes(study, store), study.questions, n_boot=50)
    after = analyze(study_votes(fresh, fresh_store), fresh.questions, n_boot=50)
    for name in ("preferences", "agreement", "raters"):
        pd.testing.assert_frame_equal(getattr(before, name), getattr(after, name))
    times = pd.read_csv(backup)["submitted_at"]
    assert times.str.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()  # ISO 8601, as import needs
