"""The Streamlit rating app (`ttm-bench study serve STUDY`); the study directory comes from the
`TTM_BENCH_STUDY` environment variable, the person from the `?token=` of their link.

A rater sees instructions (open on their first item), the input image, the caption, the two
videos in the synchronised player, the questions and a progress bar; Submit stays disabled
until every question is answered. The questions and Submit are a fragment, so answering reruns
only them and the videos keep playing. Model names never reach the page (widget keys use queue
positions, not item ids). The admin token shows progress, a preference preview, incidents and
a CSV export. Any other token sees an error only. All text from the benchmark and the spec is
shown as plain text or escaped Markdown.

Blinding holds under errors too: every page run, fragment run and submission runs inside
`_neutral_errors`, which logs the details (with the traceback) to the server log and the admin
page's incidents and shows the rater a fixed sentence; the server also runs with Streamlit's
error details off (see `ttm_bench.human.serve`).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import streamlit as st

from ttm_bench.human.backlog import Backlog
from ttm_bench.human.player import player_html
from ttm_bench.human.progress import item_progress, rater_progress, study_summary
from ttm_bench.human.rating import LEFT, RIGHT, TIE, NotSavedError, RatingSession, Shown
from ttm_bench.human.serve import STUDY_ENV, video_url
from ttm_bench.human.store import VotesStore
from ttm_bench.human.study import ADMIN, STUDY_FILE, Study
from ttm_bench.human.votes_csv import votes_csv

OPTION_LABELS = {LEFT: "Left video", RIGHT: "Right video", TIE: "About the same"}
UNAVAILABLE = ("This study is unavailable right now. Please try again in a few minutes; the "
               "organiser has been notified.")
NOT_SAVED = "Your answers were not saved. Please press Submit again in a moment."
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")
_COMPACT_CSS = """<style>
.block-container { padding-top: 1.2rem; padding-bottom: 1rem; }
div[data-testid="stRadio"] { margin-bottom: -0.6rem; }
</style>"""


def escape_markdown(text: str) -> str:
    """`text` with every Markdown/HTML special character backslash-escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


@st.cache_resource(max_entries=1)
def _backlog(root: str) -> Backlog:
    """The server process's backlog: one per study, kept across reloads of study.json."""
    return Backlog()


@st.cache_resource(max_entries=1)
def _open(root: str, version: float) -> tuple[Study, VotesStore]:
    """The study and its store, reloaded when `version` (study.json's mtime) changes; journal
    entries the database lacks (a restart after refused writes) join the backlog."""
    study = Study.load(root)
    store = study.open_store()
    _backlog(root).load(study.journal, store)
    return study, store


@contextlib.contextmanager
def _neutral_errors(backlog: Backlog | None, message: str = UNAVAILABLE) -> Iterator[None]:
    """Run the block; on any error log it for the organiser and show the rater `message` only
    (Streamlit's control-flow exceptions are BaseExceptions and pass through)."""
    try:
        yield
    except Exception as exc:  # the rater must never see details
        (backlog or Backlog()).report("error while serving a page", exc)
        st.error(message)


def _player(study: Study, shown: Shown, slot_key: str) -> None:
    """The player, loading both videos from the server's static video route by sha256."""
    left, right = (video_url(study.data["files"][ref.key]) for ref in (shown.left, shown.right))
    st.iframe(player_html(left, right, item_key=slot_key), height="content")


def _instructions(study: Study, first: bool) -> None:
    with st.expander("Instructions", expanded=first):
        st.markdown("\n\n".join(escape_markdown(line) for line in study.spec.instruction_lines()))


def rater_page(study: Study, store: VotesStore, rater: str, backlog: Backlog) -> None:
    if len(backlog):
        backlog.flush(store)
    session = RatingSession(study, store, rater, backlog)
    done, total, shown = session.position()
    st.progress(done / total if total else 1.0, text=f"{done} of {total} comparisons done")
    st.session_state.pop("advance", None)  # this full run shows the next item
    notice = st.session_state.get("notice")  # until the next submission
    if notice:
        st.info(notice)
    if shown is None:
        st.success("All done. Thank you for rating!")
        return
    slot_key = f"{rater}-{shown.slot.position}"
    if st.session_state.get("shown_slot") != slot_key:
        st.session_state["shown_slot"] = slot_key
        st.session_state["shown_at"] = time.monotonic()
    _instructions(study, first=done == 0)
    sample = study.sample(shown.item.sample)
    videos, questions = st.columns([3, 2], gap="medium")
    with videos:
        _player(study, shown, slot_key)
    with questions:
        image, caption = st.columns([1, 2])
        image.image(str(study.benchmark.root / sample.image), caption="Input image")  # as is
        caption.markdown("**Caption**")
        caption.text(sample.caption)
        _questions(session, shown, slot_key)


@st.fragment
def _questions(session: RatingSession, shown: Shown, slot_key: str) -> None:
    """The questions and Submit: a fragment, so answering does not redraw the videos."""
    if st.session_state.pop("advance", False):  # a fragment run after a submission
        st.rerun(scope="app")
    with _neutral_errors(session.backlog):
        for question in session.study.questions:
            st.radio(escape_markdown(question.text), session.options(),
                     format_func=OPTION_LABELS.__getitem__, index=None, horizontal=True,
                     key=f"{slot_key}-{question.id}")
        complete = all(v is not None for v in _answers(session, slot_key).values())
        keys = "1 = left, 2 = right" + (", 3 = about the same" if session.study.spec.allow_tie
                                        else "")
        st.caption(f"Keyboard: {keys} (answers the next open question), Enter = Submit")
        st.button("Submit", type="primary", disabled=not complete, key=f"submit-{slot_key}",
                  on_click=_submit, args=(session, shown, slot_key))
        if st.session_state.pop("not_saved", False):
            st.error(NOT_SAVED)


def _answers(session: RatingSession, slot_key: str) -> dict[str, str | None]:
    return {q.id: st.session_state.get(f"{slot_key}-{q.id}") for q in session.study.questions}


def _submit(session: RatingSession, shown: Shown, slot_key: str) -> None:
    """Button callback: record the answers to the item the rater saw when they clicked.

    Runs before the next script run, with the item bound when the button was drawn, so a
    stale tab or a double click submits that item again (and is logged as a duplicate)
    instead of answering whatever item comes next. Errors never leave it: the rater gets
    `NOT_SAVED` (their answers stay on the page), the organiser the details.
    """
    answers = _answers(session, slot_key)
    if any(v is None for v in answers.values()):
        return
    watched = time.monotonic() - st.session_state.get("shown_at", time.monotonic())
    st.session_state.pop("notice", None)
    try:
        if not session.submit(shown, answers, watch_seconds=watched):
            st.session_state["notice"] = ("Your answers to that comparison were already "
                                          "recorded (another tab or a double click); they were "
                                          "counted once.")
    except NotSavedError:  # already reported by the session
        st.session_state["not_saved"] = True
        return
    except Exception as exc:  # the rater must never see details
        session.backlog.report("error while recording a submission", exc)
        st.session_state["not_saved"] = True
        return
    st.session_state["advance"] = True


def _incidents(backlog: Backlog) -> None:
    st.subheader("Incidents")
    incidents = backlog.incidents()
    st.text(f"{len(backlog)} submission(s) kept in the journal, waiting for the database; "
            f"{len(incidents)} incident(s) since this server started (details in its log).")
    if incidents:
        st.dataframe(pd.DataFrame({
            "last seen": [time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(i.last_at))
                          for i in reversed(incidents)],
            "times": [i.count for i in reversed(incidents)],
            "what": [i.what for i in reversed(incidents)],
            "detail": [i.detail for i in reversed(incidents)]}), hide_index=True)


def admin_page(study: Study, store: VotesStore, backlog: Backlog) -> None:
    st.header("Study progress")
    summary = study_summary(study, store)
    st.text(f"Study: {study.name}")
    st.text(summary.line())
    st.subheader("Preferences so far")
    st.caption("Share of decided items (majority vote) preferring the first model of each pair; "
               "attention checks and exclusions are applied only by `study analyze`.")
    st.dataframe(summary.preview, hide_index=True)
    st.subheader("Raters")
    st.dataframe(rater_progress(study, store), hide_index=True)
    st.subheader("Items")
    st.dataframe(item_progress(study, store), hide_index=True)
    _incidents(backlog)
    st.download_button("Export votes (CSV)", votes_csv(study, store).encode("utf-8"),
                       file_name=f"{study.name}-votes.csv", mime="text/csv")


def serve_page(root: str, backlog: Backlog) -> None:
    study_file = Path(root) / STUDY_FILE
    study, store = _open(root, study_file.stat().st_mtime if study_file.is_file() else 0.0)
    who = study.who(st.query_params.get("token"))
    if who is None:
        st.error("This link is not valid. Please use the personal link you were sent.")
    elif who == ADMIN:
        admin_page(study, store, backlog)
    else:
        rater_page(study, store, who, backlog)


def main() -> None:
    st.set_page_config(page_title="Video comparison", layout="wide")
    st.html(_COMPACT_CSS)
    root = os.environ.get(STUDY_ENV)
    if not root:
        st.error(f"No study configured: start the app with `ttm-bench study serve STUDY` "
                 f"(it sets {STUDY_ENV}).")
        return
    backlog = _backlog(root)
    with _neutral_errors(backlog):
        serve_page(root, backlog)


if __name__ == "__main__":  # `streamlit run` and AppTest execute the file as __main__
    main()
