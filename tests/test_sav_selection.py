"""The SA-V-128 selection protocol on hand-made candidates with known outcomes."""

import numpy as np
import pytest

from ttm_bench.data.sampling import seeded_draw
from ttm_bench.data.sav.selection import (
    CATEGORIES,
    Candidate,
    SelectionProtocol,
    category_loop,
    combined_scores,
    select,
)


def test_combined_scores_are_summed_z_scores():
    cands = [Candidate("a", "Food", 1.0, 10.0, 1), Candidate("b", "Food", 3.0, 10.0, 1)]
    # aesthetic z = [-1, 1]; motion is constant, contributes 0
    assert combined_scores(cands) == {"a": -1.0, "b": 1.0}


def test_category_loop_round_robin_by_score():
    cands = [Candidate("f1", "Food", 5, 0, 1), Candidate("f2", "Food", 4, 0, 1),
             Candidate("f3", "Food", 3, 0, 1), Candidate("a1", "Animal", 1, 0, 1),
             Candidate("o1", "Other", 2, 0, 2)]
    combined = {c.id: c.aesthetic for c in cands}
    # round 1 in CATEGORIES order: Animal, Food, Other; round 2: Food only
    assert category_loop(cands, combined, keep=4) == ["a1", "f1", "o1", "f2"]
    assert category_loop(cands, combined, keep=10) == ["a1", "f1", "o1", "f2", "f3"]


def test_seeded_draw_is_a_sorted_subset_and_reproducible():
    ids = [f"v{i:02d}" for i in range(20)]
    a = seeded_draw(ids[::-1], 5, np.random.default_rng(3))
    b = seeded_draw(ids, 5, np.random.default_rng(3))
    assert a == b and a == sorted(a) and len(set(a)) == 5 and set(a) <= set(ids)


def _pool(n_per_category=3):
    rng = np.random.default_rng(0)
    return [Candidate(f"{cat[:3]}{i}", cat, float(rng.normal()), float(rng.normal()), 1 + i % 2)
            for cat in CATEGORIES for i in range(n_per_category)]


def test_select_draws_from_kept_pool_by_split():
    cands = _pool()
    sel = select(cands, SelectionProtocol(keep=20, n_single=4, n_multi=3, seed=1), "s.json")
    by_id = {c.id: c for c in cands}
    assert not sel.problems and len(sel.kept) == 20
    assert set(sel.single) <= set(sel.kept) and set(sel.multi) <= set(sel.kept)
    assert all(by_id[i].num_objects == 1 for i in sel.single) and len(sel.single) == 4
    assert all(by_id[i].num_objects >= 2 for i in sel.multi) and len(sel.multi) == 3
    assert sel == select(list(reversed(cands)), SelectionProtocol(20, 4, 3, 1), "s.json")
    assert sel.to_dict()["kept"] == sel.kept


def test_select_reports_too_few_candidates():
    sel = select(_pool(1), SelectionProtocol(keep=500, n_single=64, n_multi=64), "sel.json")
    assert sel.single == [] and sel.multi == []
    messages = " ".join(p.message for p in sel.problems)
    assert "only 10 valid candidates" in messages and "single-object" in messages
    assert all(p.file == "sel.json" and p.fix for p in sel.problems)


def test_select_rejects_unknown_category():
    with pytest.raises(ValueError, match="unknown categories"):
        select([Candidate("x", "Sports", 1, 1, 1)], SelectionProtocol(), "s.json")


def test_seeded_draw_refuses_more_than_available():
    with pytest.raises(ValueError, match="cannot draw 2 from 1"):
        seeded_draw(["a"], 2, np.random.default_rng(0))
