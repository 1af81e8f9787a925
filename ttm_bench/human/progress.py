"""Study progress for the organiser: a summary, per rater, per item, attention-check failures."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from ttm_bench.human.analysis import preference_table, rater_checks
from ttm_bench.human.outputs import format_share
from ttm_bench.human.store import VotesStore
from ttm_bench.human.study import Study
from ttm_bench.human.votes_csv import study_votes


def rater_progress(study: Study, store: VotesStore) -> pd.DataFrame:
    """Columns rater, done, assigned, checks, failed_checks (answers come from the store)."""
    votes = study_votes(study, store)
    checks = rater_checks(votes, None).set_index("rater")
    rows = []
    for rater in study.raters:
        queue = {slot.item for slot in store.queue(study.name, rater)}
        done = queue & store.rated_items(study.name, rater)
        rows.append({"rater": rater, "done": len(done), "assigned": len(queue),
                     "checks": int(checks["checks"].get(rater, 0)),
                     "failed_checks": int(checks["failed"].get(rater, 0))})
    return pd.DataFrame(rows)


def item_progress(study: Study, store: VotesStore) -> pd.DataFrame:
    """Columns item, sample, pair, raters (distinct raters with answers), target."""
    votes = store.votes(study.name)
    raters = votes.groupby("item")["rater"].nunique()
    rows = [{"item": item.id, "sample": item.sample, "pair": " vs. ".join(item.pair),
             "raters": int(raters.get(item.id, 0)), "target": study.spec.raters_per_item}
            for item in study.items.values() if not item.is_check]
    return pd.DataFrame(rows)


ACTIVE_WINDOW_S = 600.0


@dataclass(frozen=True)
class StudySummary:
    """The admin page's headline figures and its per-question preference preview.

    items_complete: regular items with `raters_per_item` distinct raters, of `items`;
    raters_active: raters who submitted within `ACTIVE_WINDOW_S`; votes_per_minute: recorded
    submissions per minute over that window. preview: pair, question, "share of decided
    items preferring the first model (decided of total)".
    """

    items_complete: int
    items: int
    raters_active: int
    raters: int
    failed_checks: int
    votes_per_minute: float
    preview: pd.DataFrame

    def line(self) -> str:
        return (f"Items complete: {self.items_complete} / {self.items} · raters active (last "
                f"{ACTIVE_WINDOW_S / 60:.0f} min): {self.raters_active} / {self.raters} · "
                f"failed attention checks: {self.failed_checks} · votes per minute: "
                f"{self.votes_per_minute:.1f}")


def study_summary(study: Study, store: VotesStore, now: float | None = None) -> StudySummary:
    """The `StudySummary` of `study` at Unix time `now` (default: the current time)."""
    now = time.time() if now is None else now
    votes = study_votes(study, store)
    log = store.submissions(study.name)
    recent = log[(log["outcome"] == "recorded") & (log["submitted_at"] >= now - ACTIVE_WINDOW_S)]
    items = item_progress(study, store)
    regular = votes[votes["expected"].isna()]
    prefs = preference_table(regular, study.questions)
    preview = pd.DataFrame({
        "pair": [f"{a} vs. {b}" for a, b in zip(prefs.get("pair_a", []), prefs.get("pair_b", []),
                                                strict=True)],
        "question": list(prefs.get("question", [])),
        "prefers first": [format_share(r.item_share_a, r.items_a + r.items_b, r.items)
                          for r in prefs.itertuples()],
    })
    return StudySummary(
        items_complete=int((items["raters"] >= items["target"]).sum()), items=len(items),
        raters_active=recent["rater"].nunique(), raters=len(study.raters),
        failed_checks=int(rater_checks(votes, None)["failed"].sum()) if len(votes) else 0,
        votes_per_minute=len(recent) / (ACTIVE_WINDOW_S / 60), preview=preview)

