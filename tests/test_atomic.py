"""Atomic writes: a file appears complete or not at all; stale temporaries are cleaned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ttm_bench.atomic import atomic_path, remove_stale_temporaries, write_json


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_written_files_get_umask_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "b.json", {})
    finally:
        os.umask(mask)
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o644


def test_remove_temporaries_touches_only_the_given_stems(tmp_path: Path) -> None:
    names = [".a.tmp-1.mp4", ".a[1].tmp-2.mp4", ".b.tmp-3.mp4", "a.mp4"]
    for name in names:
        (tmp_path / name).touch()
    assert remove_stale_temporaries(tmp_path, ["a", "a[1]"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.tmp-3.mp4", "a.mp4"]
    assert remove_stale_temporaries(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]
