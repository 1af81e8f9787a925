"""Study progress for the organiser: per rater, per item, and attention-check failures."""

from __future__ import annotations

import pandas as pd

from ttm_bench.human.analysis import rater_checks
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
