"""A rater's session: what to show next and how to record an answer — the app's whole logic.

The Streamlit app and the tests drive the same `RatingSession`, so what the tests prove about
concurrency, resume and duplicates holds for the app. State lives in the database only (each
submission is first appended to the study's write-ahead journal): a refreshed page, a closed
tab or a second tab resumes at the first item of the rater's queue without recorded answers.
With a `Backlog`, a submission the database refuses but the journal holds is accepted and
written later (see `ttm_bench.human.backlog`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.assignment import Slot
from ttm_bench.human.backlog import Backlog
from ttm_bench.human.journal import JournalEntry, store_entry
from ttm_bench.human.store import StoreWriteError, VotesStore
from ttm_bench.human.study import Item, Study, VideoRef

LEFT, RIGHT, TIE = "left", "right", "tie"


@dataclass(frozen=True)
class Shown:
    """One item as displayed to one rater."""

    slot: Slot
    item: Item

    @property
    def left(self) -> VideoRef:
        return self.item.video_a if self.slot.a_on_left else self.item.video_b

    @property
    def right(self) -> VideoRef:
        return self.item.video_b if self.slot.a_on_left else self.item.video_a

    def to_pair_choice(self, side: str) -> str:
        """Map a displayed answer (left/right/tie) to the pair's "a"/"b"/"tie"."""
        if side == TIE:
            return "tie"
        if side not in (LEFT, RIGHT):
            raise TTMBenchError(f"invalid answer {side!r}; use left, right or tie")
        return "a" if (side == LEFT) == self.slot.a_on_left else "b"


class NotSavedError(TTMBenchError):
    """Neither the journal nor the database took a submission: the rater must submit again."""


class RatingSession:
    """The queue of one rater in one study, backed by the votes store (and a backlog)."""

    def __init__(self, study: Study, store: VotesStore, rater: str,
                 backlog: Backlog | None = None):
        if rater not in study.data["raters"]:
            raise TTMBenchError(f"unknown rater {rater!r} in study {study.name!r}")
        self.study, self.store, self.rater, self.backlog = study, store, rater, backlog
        self.queue = store.queue(study.name, rater)

    def _answered(self) -> set[str]:
        done = self.store.rated_items(self.study.name, self.rater)
        if self.backlog is not None:
            done |= self.backlog.items(self.study.name, self.rater)
        return done

    def options(self) -> tuple[str, ...]:
        return (LEFT, RIGHT, TIE) if self.study.spec.allow_tie else (LEFT, RIGHT)

    def progress(self) -> tuple[int, int]:
        """(items answered, items in the queue)."""
        done, total, _ = self.position()
        return done, total

    def next(self) -> Shown | None:
        """The first unanswered item of the queue, or None when the rater is done."""
        return self.position()[2]

    def position(self) -> tuple[int, int, Shown | None]:
        """(items answered, items in the queue, the first unanswered item or None), from one
        read of the answers: what a page shows."""
        answered = self._answered()
        first = next((slot for slot in self.queue if slot.item not in answered), None)
        done = sum(slot.item in answered for slot in self.queue)
        shown = None if first is None else Shown(first, self.study.items[first.item])
        return done, len(self.queue), shown

    def submit(self, shown: Shown, answers: Mapping[str, str], watch_seconds: float | None
               ) -> bool:
        """Record the answers (question id → left/right/tie) to `shown`.

        Every question must be answered with an allowed option. Returns False, recording
        nothing new, when this rater's answers to this item already exist. When the database
        refuses the write, a journaled submission goes to the backlog (True); without a
        backlog, or when the journal failed too, raises (`StoreWriteError`, `NotSavedError`).
        """
        if shown.slot.rater != self.rater:
            raise TTMBenchError("this item belongs to another rater's queue")
        expected = {q.id for q in self.study.questions}
        if set(answers) != expected:
            raise TTMBenchError(f"answer every question exactly once: expected {sorted(expected)}"
                                f", got {sorted(answers)}")
        allowed = self.options()
        for question, side in answers.items():
            if side not in allowed:
                raise TTMBenchError(f"answer {side!r} to {question!r} is not one of "
                                    f"{list(allowed)}")
        entry = JournalEntry(self.study.name, self.rater, shown.item.id,
                             {q: shown.to_pair_choice(side) for q, side in answers.items()},
                             dict(answers), shown.slot.a_on_left, watch_seconds, time.time())
        try:
            self.study.journal.append(entry)  # first, so a lost database loses no vote
            journaled = True
        except OSError as exc:  # full disk, read-only study directory
            if self.backlog is None:
                raise
            self.backlog.report("the submissions journal cannot be written", exc)
            journaled = False
        try:
            return store_entry(self.store, entry, source="app")
        except StoreWriteError as exc:
            if self.backlog is None:
                raise
            self.backlog.report("the votes database refused a submission", exc)
            if not journaled:
                raise NotSavedError("neither the journal nor the votes database took the "
                                    "submission") from exc
            self.backlog.add(entry)
            return True
