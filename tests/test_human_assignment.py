"""Rating queues: every item gets k distinct raters, loads are balanced, sides are random."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.assignment import assign, checks_per_rater


@settings(max_examples=60, deadline=None)
@given(n_items=st.integers(0, 40), n_raters=st.integers(1, 12), data=st.data())
def test_every_item_reaches_its_target_with_balanced_loads(n_items: int, n_raters: int,
                                                           data: st.DataObject) -> None:
    per_item = data.draw(st.integers(1, n_raters))
    seed = data.draw(st.integers(0, 2**32 - 1))
    items = [f"i{k}" for k in range(n_items)]
    raters = [f"r{k}" for k in range(n_raters)]
    slots = assign(items, raters, per_item, seed, checks=["c0", "c1"])
    regular = [s for s in slots if s.item in items]
    per = Counter(s.item for s in regular)
    assert all(per[i] == per_item for i in items)
    assert len({(s.rater, s.item) for s in slots}) == len(slots)  # nobody sees an item twice
    loads = Counter(s.rater for s in regular)
    counts = [loads.get(r, 0) for r in raters]
    assert max(counts) - min(counts) <= 1
    for r in raters:  # positions are 0..n-1 and every rater gets every check
        mine = [s for s in slots if s.rater == r]
        assert sorted(s.position for s in mine) == list(range(len(mine)))
        assert {"c0", "c1"} <= {s.item for s in mine}
    assert assign(items, raters, per_item, seed, checks=["c0", "c1"]) == slots


def test_sides_and_orders_are_randomised() -> None:
    items = [f"i{k}" for k in range(200)]
    slots = assign(items, ["a", "b", "c"], 3, seed=1)
    left = sum(s.a_on_left for s in slots)
    assert 240 < left < 360  # 600 fair coins: far inside ±5 sd
    orders = {tuple(s.item for s in slots if s.rater == r) for r in "abc"}
    assert len(orders) == 3
    assert assign(items, ["a", "b", "c"], 3, seed=2) != slots


def test_impossible_designs_are_refused() -> None:
    with pytest.raises(TTMBenchError, match="distinct raters"):
        assign(["x"], ["a"], 2, seed=0)
    with pytest.raises(TTMBenchError, match="unique"):
        assign(["x", "x"], ["a"], 1, seed=0)


def test_checks_per_rater_follows_the_rate() -> None:
    assert checks_per_rater(10, 4, 2, 0.0) == 0
    assert checks_per_rater(10, 4, 2, 0.1) == 1  # longest queue 5
    assert checks_per_rater(100, 5, 5, 0.1) == 10
