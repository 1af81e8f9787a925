"""The Streamlit rating app (`ttm-bench study serve STUDY`); the study directory comes from the
`TTM_BENCH_STUDY` environment variable, the person from the `?token=` of their link.

A rater sees the input image, the caption, the two videos in the synchronised player, the
questions and a progress bar; Submit stays disabled until every question is answered. Model
names never reach the page (widget keys use queue positions, not item ids). The admin token
shows progress, attention-check failures and a CSV export. Any other token sees an error only.
All text from the benchmark and the spec is shown as plain text or escaped Markdown.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import streamlit as st

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.player import player_html, video_data_uri
from ttm_bench.human.progress import item_progress, rater_progress
from ttm_bench.human.rating import LEFT, RIGHT, TIE, RatingSession, Shown
from ttm_bench.human.serve import STUDY_ENV
from ttm_bench.human.store import VotesStore
from ttm_bench.human.study import ADMIN, STUDY_FILE, Study
from ttm_bench.human.votes_csv import votes_csv

OPTION_LABELS = {LEFT: "Left video", RIGHT: "Right video", TIE: "About the same"}
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def escape_markdown(text: str) -> str:
    """`text` with every Markdown/HTML special character backslash-escaped."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


@st.cache_resource(max_entries=1)
def _open(root: str, version: float) -> tuple[Study, VotesStore]:
    """The study and its store, reloaded when `version` (study.json's mtime) changes."""
    study = Study.load(root)
    return study, study.open_store()


def _player(study: Study, shown: Shown) -> None:
    left = video_data_uri(study.video_path(shown.left))
    right = video_data_uri(study.video_path(shown.right))
    st.iframe(player_html(left, right), height=460)


def rater_page(study: Study, store: VotesStore, rater: str) -> None:
    session = RatingSession(study, store, rater)
    done, total = session.progress()
    st.progress(done / total if total else 1.0, text=f"{done} of {total} comparisons done")
    notice = st.session_state.pop("notice", None)
    if notice:
        st.info(notice)
    shown = session.next()
    if shown is None:
        st.success("All done. Thank you for rating!")
        return
    slot_key = f"{rater}-{shown.slot.position}"
    if st.session_state.get("shown_slot") != slot_key:
        st.session_state["shown_slot"] = slot_key
        st.session_state["shown_at"] = time.monotonic()
    sample = study.sample(shown.item.sample)
    left, right = st.columns([1, 2])
    with left:
        st.image(study.benchmark.image(sample), caption="Input image")
    with right:
        st.markdown("**Caption**")
        st.text(sample.caption)
    _player(study, shown)
    answers = {}
    for question in study.questions:
        answers[question.id] = st.radio(escape_markdown(question.text), session.options(),
                                        format_func=OPTION_LABELS.__getitem__, index=None,
                                        horizontal=True, key=f"{slot_key}-{question.id}")
    complete = all(v is not None for v in answers.values())
    st.button("Submit", type="primary", disabled=not complete, key=f"submit-{slot_key}",
              on_click=_submit, args=(session, shown, slot_key))


def _submit(session: RatingSession, shown: Shown, slot_key: str) -> None:
    """Button callback: record the answers to the item the rater saw when they clicked.

    Runs before the next script run, with the item bound when the page was drawn, so a stale
    tab or a double click submits that item again (and is logged as a duplicate) instead of
    answering whatever item comes next.
    """
    answers = {q.id: st.session_state.get(f"{slot_key}-{q.id}") for q in session.study.questions}
    if any(v is None for v in answers.values()):
        return
    watched = time.monotonic() - st.session_state.get("shown_at", time.monotonic())
    if not session.submit(shown, answers, watch_seconds=watched):
        st.session_state["notice"] = ("Your answers to that comparison were already recorded "
                                      "(another tab or a double click); they were counted once.")


def admin_page(study: Study, store: VotesStore) -> None:
    st.header("Study progress")
    st.text(f"Study: {study.name}")
    st.subheader("Raters")
    st.dataframe(rater_progress(study, store), hide_index=True)
    st.subheader("Items")
    st.dataframe(item_progress(study, store), hide_index=True)
    st.download_button("Export votes (CSV)", votes_csv(study, store).encode("utf-8"),
                       file_name=f"{study.name}-votes.csv", mime="text/csv")


def serve_page(root: str) -> None:
    study_file = Path(root) / STUDY_FILE
    study, store = _open(root, study_file.stat().st_mtime if study_file.is_file() else 0.0)
    who = study.who(st.query_params.get("token"))
    if who is None:
        st.error("This link is not valid. Please use the personal link you were sent.")
    elif who == ADMIN:
        admin_page(study, store)
    else:
        rater_page(study, store, who)


def main() -> None:
    st.set_page_config(page_title="Video comparison", layout="wide")
    root = os.environ.get(STUDY_ENV)
    if not root:
        st.error(f"No study configured: start the app with `ttm-bench study serve STUDY` "
                 f"(it sets {STUDY_ENV}).")
        return
    try:
        serve_page(root)
    except TTMBenchError as exc:  # details go to the organiser's console, not to raters
        print(f"ttm-bench study app: {exc}", file=sys.stderr)
        st.error("This study is unavailable right now (its videos or database changed or "
                 "cannot be read). The organiser can see why in the server log.")


if __name__ == "__main__":  # `streamlit run` and AppTest execute the file as __main__
    main()
