"""The content sha256 of a benchmark directory: what a number's provenance points to.

Hash scheme v2 covers every field of `benchmark.json` but the hash itself (name, version,
splits, fps, frame count, size, licence, description, scheme) and every file of the directory
(path and bytes) except `benchmark.json` and hidden files (temporaries of interrupted writes):

    sha256("ttm-bench benchmark hash v2\\n" + canonical JSON of the fields + "\\n"
           + for each file, in sorted path order: path + "\\0" + sha256(bytes) + "\\n")

Because it is built from per-file digests, a verification re-reads only the files whose size,
mtime, ctime or inode changed since the last one (`FileHashCache`). Symbolic links are
followed when they stay inside the directory (their files are hashed under the link's path)
and refused when they leave it, so no file a manifest can reach is left out of the hash.

Scheme v1 (benchmarks written before v2) covered the files only; such a benchmark opens for
reading, but work on it needs `ttm-bench bench rehash DIR` first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from ttm_bench.atomic import write_json
from ttm_bench.errors import Problem, ValidationError
from ttm_bench.hashing import file_sha256, update_from_file
from ttm_bench.strict_json import dumps_canonical

INFO_FILE = "benchmark.json"
MANIFEST_FILE = "manifest.jsonl"
HASH_SCHEME = "v2"
LEGACY_SCHEME = "v1"
_HEADER = b"ttm-bench benchmark hash v2\n"
UNREADABLE_FIX = "make it readable by this user, or remove it from the benchmark directory"


def content_files(root: str | Path) -> list[str]:
    """Relative POSIX paths of every file the hash covers, sorted.

    Raises `ValidationError` naming the link for a symbolic link that leads outside `root`, is
    broken, or loops, and for anything that is neither a file nor a directory.
    """
    root = Path(root)
    real_root = root.resolve()
    files: list[str] = []

    def refuse(path: Path, what: str, fix: str) -> NoReturn:
        raise ValidationError([Problem(str(path), f"is {what}; the content hash cannot cover "
                                       "it", fix)])

    def walk(directory: Path, prefix: str, ancestors: frozenset[Path]) -> None:
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            refuse(directory, f"a folder that cannot be listed ({exc.strerror})", UNREADABLE_FIX)
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            path = Path(entry.path)
            if entry.is_symlink():
                fix = "replace the link by a copy of its target, or remove it"
                try:
                    target = path.resolve()
                except RuntimeError:  # a cycle of links
                    refuse(path, "a symbolic link that never resolves (a loop)", fix)
                if not target.is_relative_to(real_root):
                    refuse(path, f"a symbolic link to {target}, outside the benchmark "
                           f"directory {root}", fix)
                if not target.exists():
                    refuse(path, "a broken symbolic link", fix)
                if target in ancestors:
                    refuse(path, f"a symbolic link to its own parent folder {target} "
                           "(a loop)", fix)
            if path.is_dir():
                walk(path, rel + "/", ancestors | {path.resolve()})
            elif path.is_file():
                if rel != INFO_FILE:
                    files.append(rel)
            else:
                refuse(path, "neither a file nor a folder", "remove it from the benchmark "
                       "directory")

    walk(root, "", frozenset({real_root}))
    return sorted(files)


class FileHashCache:
    """sha256 of files, remembered by relative path and `stat` (size, mtime, ctime, inode) in
    one JSON file.

    A changed file changes its size or mtime and is hashed again; ctime and inode also catch an
    edit whose mtime was set back (`touch -d`, `os.utime`) or a file replaced by another. An
    unwritable cache only costs the re-hash. `path=None` caches nothing (every file is read).
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        self.changed = False
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("files"), dict):
                    self.entries = data["files"]

    @classmethod
    def for_directory(cls, root: Path) -> FileHashCache:
        """The cache of benchmark directory `root`, under `$TTM_BENCH_CACHE/benchmark_hashes`."""
        from ttm_bench.weights import cache_dir

        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:32]
        return cls(cache_dir() / "benchmark_hashes" / f"{key}.json")

    def sha256(self, root: Path, rel: str) -> str:
        """sha256 of `root / rel`, from the cache when its `stat` is unchanged."""
        st = (root / rel).stat()
        key = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
        entry = self.entries.get(rel)
        if isinstance(entry, list) and entry[:-1] == key:
            return str(entry[-1])
        digest = file_sha256(root / rel)
        self.entries[rel] = [*key, digest]
        self.changed = True
        return digest

    def save(self, files: Iterable[str]) -> None:
        """Keep the entries of `files` only, and write the cache if anything changed."""
        keep = set(files)
        if set(self.entries) - keep:
            self.entries = {k: v for k, v in self.entries.items() if k in keep}
            self.changed = True
        if self.path is not None and self.changed:
            with contextlib.suppress(OSError):
                write_json(self.path, {"files": self.entries})


def content_sha256(root: str | Path, fields: dict[str, Any],
                   cache: FileHashCache | None = None) -> str:
    """The scheme-v2 hash of directory `root` with `benchmark.json` fields `fields` (the hash
    field itself excluded); `cache` skips re-reading unchanged files."""
    root = Path(root)
    cache = cache or FileHashCache(None)
    digest = hashlib.sha256(_HEADER)
    digest.update(dumps_canonical({k: v for k, v in fields.items() if k != "sha256"}).encode())
    digest.update(b"\n")
    files = content_files(root)
    for rel in files:
        try:
            file_digest = cache.sha256(root, rel)
        except OSError as exc:
            raise ValidationError([Problem(str(root / rel), f"cannot be read ({exc.strerror})",
                                           UNREADABLE_FIX)]) from exc
        digest.update(os.fsencode(rel) + f"\0{file_digest}\n".encode())
    cache.save(files)
    return digest.hexdigest()


def legacy_content_sha256(root: str | Path) -> str:
    """The scheme-v1 hash (files only: `\\0 path \\0 bytes` in sorted order)."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel in content_files(root):
        digest.update(b"\0" + os.fsencode(rel) + b"\0")
        update_from_file(digest, root / rel)
    return digest.hexdigest()
