"""Resumable stage caches: records survive restarts, config changes reset, torn lines drop."""

import pytest

from ttm_bench.data.sav.stage_cache import StageCache, config_hash
from ttm_bench.errors import TTMBenchError


def test_records_persist_across_instances(tmp_path):
    path = tmp_path / "captions.jsonl"
    cache = StageCache(path, "caption", {"model": "m"})
    cache.add({"id": "a", "caption": "x"})
    cache.add({"id": "b", "caption": "y"})
    again = StageCache(path, "caption", {"model": "m"})
    assert "a" in again and "b" in again and len(again) == 2
    assert again.get("b") == {"id": "b", "caption": "y"}


def test_other_config_starts_afresh_and_rewrites(tmp_path):
    path = tmp_path / "captions.jsonl"
    StageCache(path, "caption", {"model": "m"}).add({"id": "a"})
    other = StageCache(path, "caption", {"model": "n"})
    assert len(other) == 0
    other.add({"id": "c"})
    assert set(StageCache(path, "caption", {"model": "n"}).records) == {"c"}
    assert len(StageCache(path, "caption", {"model": "m"})) == 0


def test_truncated_last_line_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "scores.jsonl"
    cache = StageCache(path, "score", {})
    cache.add({"id": "a", "v": 1})
    with path.open("a") as f:
        f.write('{"id": "b", "v"')  # a process killed mid-write
    resumed = StageCache(path, "score", {})
    assert set(resumed.records) == {"a"}
    resumed.add({"id": "b", "v": 2})
    assert StageCache(path, "score", {}).get("b") == {"id": "b", "v": 2}


def test_corrupt_middle_line_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "scores.jsonl"
    cache = StageCache(path, "score", {})
    cache.add({"id": "a"})
    path.write_text(path.read_text() + "garbage\n" + '{"id": "c"}\n')
    with pytest.raises(TTMBenchError, match=r"scores\.jsonl:3"):
        StageCache(path, "score", {})


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
