"""Topping a study up with new raters when others stopped before finishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.human_study_fixtures import make_study
from ttm_bench.errors import TTMBenchError
from ttm_bench.human.rating import RatingSession
from ttm_bench.human.study import Study
from ttm_bench.human.topup import invite_more, shortfall


def _finish(study: Study, rater: str) -> None:
    store = study.open_store()
    session = RatingSession(study, store, rater)
    while (shown := session.next()) is not None:
        session.submit(shown, {q.id: "left" for q in study.questions}, 1.0)
    store.close()


def test_new_raters_cover_exactly_the_shortfall(tmp_path: Path) -> None:
    study = make_study(tmp_path, attention_checks={"kind": "broken", "rate": 0.3})
    _finish(study, "r001")
    _finish(study, "r003")  # r002 never shows up
    store = study.open_store()
    left_over = {s.item for s in store.queue(study.name, "r002")
                 if not study.items[s.item].is_check}
    assert shortfall(study) == dict.fromkeys(left_over, 1)
    with pytest.raises(TTMBenchError, match="invite at least"):
        invite_more(study, 0)
    result = invite_more(study, 1)
    assert result.raters == ["r004"] and result.items == len(left_over)
    updated = Study.load(study.root)
    token = dict(line.split("\t") for line in result.invitations.read_text().splitlines()[1:])
    assert updated.who(token["r004"]) == "r004" and study.who(token["r004"]) is None
    queue = {s.item for s in store.queue(study.name, "r004")}
    checks = {i.id for i in study.items.values() if i.is_check}
    assert queue == left_over | checks
    _finish(updated, "r004")
    assert shortfall(updated) == {}
    with pytest.raises(TTMBenchError, match="nobody to invite"):
        invite_more(updated, 1)
