"""A results directory as one unit: replaced whole, by one writer at a time, verified on read.

Layout: `results.json`, the manifest, plus the files it lists under `files` (relative path →
sha256), e.g. `per_sample.parquet`, `aggregate.parquet`, `features/fvd16.npz`. The manifest
also carries `format_version` (`FORMAT_VERSION`); every other field is the writer's.

Writing (`ResultsWriter`, a context manager holding `ROOT/.lock` with `fcntl.flock` from enter
to exit, so a whole evaluation is one writer's):

1. every file is written into `ROOT/.staging-<token>/` and hashed, the manifest last;
2. the staging directory is renamed to `ROOT/.commit-<token>/`: the commit point;
3. each file is moved into `ROOT`, the manifest last; then the commit directory and the files
   the previous manifest listed but the new one does not are removed.

A process killed before step 2 leaves the old state (its staging directory is deleted by the
next writer); killed during step 3, it leaves a commit directory whose manifest describes the
new state, each file either still in the commit directory or already moved: readers read that
state, and the next writer finishes the moves first. Readers (`open_results`) never write and
verify every listed file's hash, so a file changed, copied in from another evaluation or mixed
with another state is refused, naming the file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from ttm_bench.atomic import remove_stale_temporaries
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.hashing import file_sha256

FORMAT_VERSION = 2
MANIFEST = "results.json"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".staging-"
COMMIT_PREFIX = ".commit-"

#: Writes one file of the results directory at the path it is given.
FileWriter = Callable[[Path], None]

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _rewrite(root: Path) -> str:
    return f"rerun `ttm-bench evaluate` with --out {root} to rewrite the results directory"


def _check_relative(relative: str) -> str:
    """`relative` if it names a file inside the results directory, not the manifest."""
    parts = PurePosixPath(relative).parts
    if (not parts or relative.startswith("/") or ".." in parts or relative != "/".join(parts)
            or parts[0].startswith(".") or relative == MANIFEST):
        raise ValueError(f"{relative!r} is not a plain relative path of a results file")
    return relative


@dataclass(frozen=True)
class ResultsSnapshot:
    """A verified state of a results directory: the manifest, and each listed file's path
    (in the directory, or in a commit directory whose moves a killed writer left unfinished)."""

    root: Path
    manifest: Mapping[str, Any]
    files: Mapping[str, Path]

    def path(self, relative: str) -> Path:
        """The verified file `relative` (e.g. `aggregate.parquet`)."""
        if relative not in self.files:
            raise TTMBenchError(f"{self.root} has no {relative} in its {MANIFEST}; "
                                f"{_rewrite(self.root)}")
        return self.files[relative]


def _pending_commit(root: Path) -> Path | None:
    """The commit directory whose moves a killed writer left unfinished, if any."""
    pending = sorted(p for p in root.glob(f"{COMMIT_PREFIX}*") if (p / MANIFEST).is_file())
    if len(pending) > 1:
        raise TTMBenchError(f"{root} holds {len(pending)} unfinished commits "
                            f"({', '.join(p.name for p in pending)}); {_rewrite(root)}")
    return pending[0] if pending else None


def _read_manifest(path: Path, root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError([Problem(str(path), f"invalid JSON: {exc.msg}", _rewrite(root),
                                       line=exc.lineno)]) from None
    except UnicodeDecodeError as exc:
        raise ValidationError([Problem(str(path), f"not UTF-8 ({exc.reason})",
                                       _rewrite(root))]) from None
    if not isinstance(manifest, dict):
        raise ValidationError([Problem(str(path), "must be a JSON object", _rewrite(root))])
    return manifest


def _listed_files(manifest: Mapping[str, Any], path: Path, root: Path) -> dict[str, str]:
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        written = ("an older ttm-bench, which did not record the hashes of its files"
                   if version is None else f"format version {version!r}")
        raise TTMBenchError(f"{path} was written by {written}; this ttm-bench reads format "
                            f"version {FORMAT_VERSION}: {_rewrite(root)}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _SHA256.fullmatch(v)
            for k, v in files.items()):
        raise TTMBenchError(f"{path} [files] must map relative paths to sha256 hex digests; "
                            f"{_rewrite(root)}")
    for relative in files:
        try:
            _check_relative(relative)
        except ValueError as exc:
            raise TTMBenchError(f"{path} [files]: {exc}; {_rewrite(root)}") from None
    return files


def open_results(root: str | os.PathLike[str]) -> ResultsSnapshot:
    """Read and verify the current state of the results directory `root` (read-only).

    Raises `TTMBenchError` naming the file and the fix when the directory or its manifest is
    missing, the manifest has another format version, or a listed file is missing or does not
    have its recorded sha256. A mismatch is read a second time before it is reported, since a
    writer committing between reading the manifest and its files looks like one.
    """
    try:
        return _open_results(Path(root))
    except _FileMismatch:
        try:
            return _open_results(Path(root))
        except _FileMismatch as exc:
            raise TTMBenchError(str(exc)) from None


class _FileMismatch(TTMBenchError):
    """A listed file that is missing or has another hash than its manifest records."""


def _open_results(root: Path) -> ResultsSnapshot:
    create = f"create it with `ttm-bench evaluate --run RUN_DIR --bench BENCH_DIR --out {root}`"
    if not root.is_dir():
        what = "is a file, not a results directory" if root.exists() else "does not exist"
        raise TTMBenchError(f"results directory {root} {what}; {create}")
    pending = _pending_commit(root)
    path = (pending or root) / MANIFEST
    if not path.is_file():
        raise TTMBenchError(f"{root} has no {MANIFEST}, so it is not a finished results "
                            f"directory; {create}")
    manifest = _read_manifest(path, root)
    resolved = {}
    for relative, expected in _listed_files(manifest, path, root).items():
        file = pending / relative if pending and (pending / relative).is_file() else (
            root / relative)
        try:
            actual = file_sha256(file)
        except FileNotFoundError:  # never there, or moved by a writer committing right now
            raise _FileMismatch(f"{file} is missing, but {path} lists it; if an evaluation is "
                                f"writing {root}, rerun this command when it is done, else "
                                f"{_rewrite(root)}") from None
        if actual != expected:
            raise _FileMismatch(
                f"{file} does not have the sha256 that {path} records ({expected[:12]}…): it "
                "was changed, or comes from another evaluation, after the results were "
                f"written; {_rewrite(root)}")
        resolved[relative] = file
    return ResultsSnapshot(root, manifest, resolved)


class ResultsWriter:
    """The one writer of a results directory; see the module docstring for the protocol.

    >>> with ResultsWriter(out) as writer:                      # doctest: +SKIP
    ...     writer.commit({"run": "r"}, {"table.parquet": frame.to_parquet})
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._lock: int | None = None

    def __enter__(self) -> ResultsWriter:
        if self.root.exists() and not self.root.is_dir():
            raise TTMBenchError(f"results directory {self.root} is a file; choose a directory "
                                "path for --out")
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise TTMBenchError(
                f"results directory {self.root} is locked by pid {holder} (another "
                "`ttm-bench evaluate` is writing it); wait for it to finish, or choose another "
                "--out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock = fd
        try:
            self._recover()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def current_manifest(self) -> dict[str, Any] | None:
        """The manifest of the current state, unverified (None when there is none yet)."""
        path = self.root / MANIFEST
        return _read_manifest(path, self.root) if path.is_file() else None

    def commit(self, manifest: Mapping[str, Any],
               files: Mapping[str, FileWriter]) -> dict[str, Any]:
        """Replace the directory's state by `files` (relative path → writer) and `manifest`
        (JSON-serialisable; `format_version` and `files` are added). Returns the manifest
        written. A writer that raises leaves the old state untouched."""
        if self._lock is None:
            raise RuntimeError("ResultsWriter.commit outside its `with` block")
        staging = self.root / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
        staging.mkdir()
        try:
            hashes = {}
            for relative, write in files.items():
                target = staging / _check_relative(relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                write(target)
                _fsync(target)
                hashes[relative] = file_sha256(target)
            written = {**manifest, "format_version": FORMAT_VERSION, "files": hashes}
            text = json.dumps(written, indent=2, sort_keys=True, ensure_ascii=False,
                              allow_nan=False)
            (staging / MANIFEST).write_text(text + "\n", encoding="utf-8")
            _fsync(staging / MANIFEST)
            _fsync(staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        committed = self.root / (COMMIT_PREFIX + staging.name.removeprefix(STAGING_PREFIX))
        os.replace(staging, committed)
        self._finish(committed)
        return written

    def _finish(self, committed: Path) -> None:
        """Move a committed state into the root, the manifest last; drop what it no longer
        lists."""
        new = _read_manifest(committed / MANIFEST, self.root)["files"]
        try:
            old = (self.current_manifest() or {}).get("files")
        except TTMBenchError:  # a damaged old manifest: nothing of it to clean up
            old = None
        for relative in new:
            source = committed / relative
            if source.is_file():
                (self.root / relative).parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, self.root / relative)
        os.replace(committed / MANIFEST, self.root / MANIFEST)
        _fsync(self.root)
        for relative in old if isinstance(old, dict) else ():
            if relative not in new:
                try:
                    (self.root / _check_relative(relative)).unlink(missing_ok=True)
                except ValueError:
                    continue
        shutil.rmtree(committed, ignore_errors=True)

    def _recover(self) -> None:
        """Finish a commit a killed writer left; delete stale staging directories and
        temporaries."""
        try:
            pending = _pending_commit(self.root)
        except TTMBenchError:  # several (the lock was bypassed): none is finished; readers
            pending = None     # refuse the mixed state until a commit replaces it
        if pending is not None:
            self._finish(pending)
        for stale in [*self.root.glob(f"{STAGING_PREFIX}*"), *self.root.glob(f"{COMMIT_PREFIX}*")]:
            shutil.rmtree(stale, ignore_errors=True)
        remove_stale_temporaries(self.root)  # left by writers before this format


def _fsync(path: Path) -> None:
    """Flush `path` (a file or a directory) to disk, so a commit survives a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems cannot fsync directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
