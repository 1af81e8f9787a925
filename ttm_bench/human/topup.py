"""Topping a study up: new raters for the items that have not reached their target.

When raters stop for good, their unfinished items stay short of `raters_per_item` distinct
raters. `invite_more` counts, per regular item, the distinct raters who answered it, and gives
N new raters balanced queues covering exactly the shortfall (plus the attention checks). Their
tokens go to a new invitations file; `study.json` gains their digests and queues. Raters who
come back later may take an item past its target; the analysis uses every vote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ttm_bench.atomic import write_json
from ttm_bench.errors import TTMBenchError
from ttm_bench.human.assignment import assign
from ttm_bench.human.study import STUDY_FILE, Study
from ttm_bench.human.tokens import new_token, token_digest, write_invitations


@dataclass(frozen=True)
class TopUp:
    """What `invite_more` did: the new rater ids, their invitations file, items covered."""

    raters: list[str]
    invitations: Path
    items: int


def shortfall(study: Study) -> dict[str, int]:
    """Regular item → raters still missing (only items below target)."""
    store = study.open_store()
    try:
        done = store.votes(study.name).groupby("item")["rater"].nunique()
    finally:
        store.close()
    target = study.spec.raters_per_item
    missing = {item.id: target - int(done.get(item.id, 0))
               for item in study.items.values() if not item.is_check}
    return {item: n for item, n in missing.items() if n > 0}


def invite_more(study: Study, n_raters: int) -> TopUp:
    """Add `n_raters` raters whose queues cover `shortfall(study)`; see the module docstring."""
    missing = shortfall(study)
    if not missing:
        raise TTMBenchError(f"every item of study {study.name!r} has its "
                            f"{study.spec.raters_per_item} raters; nobody to invite")
    most = max(missing.values())
    if n_raters < most:
        raise TTMBenchError(f"an item still needs {most} distinct raters; invite at least "
                            f"{most} (got {n_raters})")
    first = len(study.data["raters"]) + 1
    raters = [f"r{k:03d}" for k in range(first, first + n_raters)]
    checks = [item.id for item in study.items.values() if item.is_check]
    slots = assign(sorted(missing), raters, missing, seed=study.spec.seed + first, checks=checks)
    tokens = {r: new_token() for r in raters}
    path = study.root / f"invitations-{time.strftime('%Y%m%dT%H%M%S')}.txt"
    write_invitations(path, tokens)
    data = {**study.data,
            "raters": {**study.data["raters"], **{r: token_digest(t) for r, t in tokens.items()}},
            "queues": {**study.data["queues"],
                       **{r: [[s.item, s.a_on_left] for s in slots if s.rater == r]
                          for r in raters}}}
    updated = Study(study.root, data)
    store = updated.open_store()  # stores the new raters' queues
    store.close()
    write_json(study.root / STUDY_FILE, data)
    return TopUp(raters, path, len(missing))
