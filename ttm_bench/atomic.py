"""Atomic file writes: a file appears under its final name only when complete.

Writers write to a hidden temporary file in the destination directory and `os.replace` it into
place, so a killed process leaves either the old file or no file, never half of one. Stale
temporaries (`.*.tmp-*`) are safe to delete and are cleaned up by `remove_stale_temporaries`.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

TEMP_MARKER = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it to `path`, on error delete it.

    The temporary keeps `path`'s suffix so that format-sniffing writers (PyAV, PIL, parquet)
    pick the right format.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}{TEMP_MARKER}", suffix=final.suffix, dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp creates 0600; give the file the usual umask permissions
            tmp.chmod(0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write `data` as indented, key-sorted JSON to `path` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def remove_stale_temporaries(directory: str | os.PathLike[str],
                              stems: Iterable[str] | None = None) -> int:
    """Delete temporaries left by killed writers in `directory`; return how many were removed.

    stems: only the temporaries of these final file stems (e.g. the sample ids a shard owns,
    since other shards may be writing into the same directory); all when None.
    """
    root = Path(directory)
    if not root.is_dir():
        return 0
    patterns = ([f".*{TEMP_MARKER}*"] if stems is None
                else [f".{glob.escape(stem)}{TEMP_MARKER}*" for stem in stems])
    removed = 0
    for pattern in patterns:
        for p in root.glob(pattern):
            p.unlink(missing_ok=True)
            removed += 1
    return removed
