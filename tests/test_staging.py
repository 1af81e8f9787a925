"""Staged benchmark directories appear complete or not at all."""

import pytest

from ttm_bench.data.staging import staged_directory
from ttm_bench.errors import TTMBenchError


def test_success_renames_into_place(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()  # an empty directory is fine
    with staged_directory(out) as staging:
        assert staging.name == ".bench.building" and not (out / "a").exists()
        (staging / "a").write_text("x")
    assert (out / "a").read_text() == "x" and not staging.exists()


def test_failure_leaves_nothing(tmp_path):
    out = tmp_path / "bench"
    with pytest.raises(RuntimeError), staged_directory(out) as staging:
        (staging / "a").write_text("x")
        raise RuntimeError("boom")
    assert not out.exists() and not staging.exists()


def test_non_empty_output_is_refused(tmp_path):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "old").write_text("x")
    with pytest.raises(TTMBenchError, match="not empty"), staged_directory(tmp_path / "bench"):
        pass
