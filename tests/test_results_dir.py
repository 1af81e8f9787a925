"""The results directory contract: replaced whole, verified on read, never left mixed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.results_dir import FORMAT_VERSION, ResultsWriter, open_results


def _text(content: str):
    return lambda path: path.write_text(content)


def _commit(root: Path, state: str, extra: bool = False) -> None:
    files = {"a.txt": _text(f"a {state}"), "b/c.txt": _text(f"c {state}")}
    if extra:
        files["features/x.npz"] = _text(f"x {state}")
    with ResultsWriter(root) as writer:
        writer.commit({"state": state}, files)


def _state(root: Path) -> str:
    """The state a reader sees; every file must belong to it."""
    snapshot = open_results(root)
    state = snapshot.manifest["state"]
    for relative, path in snapshot.files.items():
        assert path.read_text().endswith(state), f"{relative} is not of state {state}"
    return state


def test_commit_round_trip_and_manifest(tmp_path: Path) -> None:
    _commit(tmp_path / "r", "old", extra=True)
    snapshot = open_results(tmp_path / "r")
    assert snapshot.manifest["format_version"] == FORMAT_VERSION
    assert sorted(snapshot.files) == ["a.txt", "b/c.txt", "features/x.npz"]
    assert snapshot.path("b/c.txt").read_text() == "c old"
    _commit(tmp_path / "r", "new")
    assert _state(tmp_path / "r") == "new"
    assert not (tmp_path / "r" / "features" / "x.npz").exists()  # no longer listed: removed
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        ".lock", "a.txt", "b", "features", "results.json"]


def test_a_changed_or_mixed_file_is_refused_naming_it(tmp_path: Path) -> None:
    _commit(tmp_path / "one", "one")
    _commit(tmp_path / "two", "two")
    (tmp_path / "one" / "a.txt").write_bytes((tmp_path / "two" / "a.txt").read_bytes())
    with pytest.raises(TTMBenchError, match=r"one/a\.txt does not have the sha256.*--out"):
        open_results(tmp_path / "one")
    (tmp_path / "two" / "b" / "c.txt").unlink()
    with pytest.raises(TTMBenchError, match=r"c\.txt is missing"):
        open_results(tmp_path / "two")


def test_old_format_and_foreign_paths_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "results.json").write_text(json.dumps({"run": "x"}))
    with pytest.raises(TTMBenchError, match=r"older ttm-bench.*rerun `ttm-bench evaluate`"):
        open_results(root)
    for path in ("../x", "/etc/passwd", ".lock", "a/../../b"):
        manifest = {"format_version": FORMAT_VERSION, "files": {path: "0" * 64}}
        (root / "results.json").write_text(json.dumps(manifest))
        with pytest.raises(TTMBenchError, match="not a plain relative path"):
            open_results(root)
    with ResultsWriter(root) as writer, pytest.raises(ValueError, match="plain relative"):
        writer.commit({}, {"../escape.txt": _text("x")})
    assert not (tmp_path / "escape.txt").exists()
    (root / "results.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ValidationError, match="not UTF-8"):
        open_results(root)


def test_a_failing_writer_leaves_the_old_state_and_no_temporaries(tmp_path: Path) -> None:
    root = tmp_path / "r"
    _commit(root, "old")

    def full_disk(path: Path) -> None:
        raise OSError(28, "No space left on device")

    with ResultsWriter(root) as writer, pytest.raises(OSError):
        writer.commit({"state": "new"}, {"a.txt": _text("a new"), "b/c.txt": full_disk})
    assert _state(root) == "old"
    assert not list(root.glob(".staging-*")) and not list(root.glob(".commit-*"))


_KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from ttm_bench import results_dir

root, kill_at = Path(sys.argv[1]), int(sys.argv[2])
calls, replace = [0], os.replace
def replace_then_die(src, dst):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
os.replace = replace_then_die
files = {n: (lambda p, n=n: p.write_text(n.split("/")[-1][0] + " new"))
         for n in ("a.txt", "b/c.txt", "features/x.npz")}
with results_dir.ResultsWriter(root) as writer:
    writer.commit({"state": "new"}, files)
"""


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5])
def test_kill_9_between_renames_leaves_the_old_or_the_new_state(tmp_path: Path,
                                                                kill_at: int) -> None:
    """SIGKILL before each rename of a commit (staging → commit, 3 files, the manifest): a
    reader sees one whole state, and the next writer finishes it and cleans up."""
    root = tmp_path / "r"
    _commit(root, "old")
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLED_WRITER), str(root),
                             str(kill_at)], check=False)
    assert killed.returncode == -9
    assert _state(root) == ("old" if kill_at == 1 else "new")
    _commit(root, "newer")
    assert _state(root) == "newer"
    assert not list(root.glob(".staging-*")) and not list(root.glob(".commit-*"))


def test_a_file_as_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(TTMBenchError, match="is a file; choose a directory"):
        ResultsWriter(tmp_path / "f").__enter__()
    with pytest.raises(TTMBenchError, match="is a file, not a results directory"):
        open_results(tmp_path / "f")
