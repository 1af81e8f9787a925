"""Paths a manifest may use: relative, inside the benchmark directory, covered by its hash.

A manifest names its assets by POSIX paths relative to the benchmark directory. A path that is
absolute, climbs out with `..`, or names a hidden file (hidden files are the temporaries the
content hash skips) would let a benchmark use bytes its hash does not cover, so it is refused;
so is a path that leaves the directory through a symbolic link.
"""

from __future__ import annotations

import re
from pathlib import Path

from ttm_bench.errors import TTMBenchError

_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(rel: str) -> str | None:
    """Why `rel` cannot name an asset of a benchmark directory, or None when it can."""
    if not rel:
        return "is empty"
    if "\\" in rel:
        return f"{rel!r} uses backslashes"
    if rel.startswith("/") or _DRIVE.match(rel):
        return f"{rel!r} is absolute"
    parts = rel.split("/")
    if ".." in parts:
        return f"{rel!r} climbs out of the benchmark directory with '..'"
    if any(part in ("", ".") for part in parts):
        return f"{rel!r} is not a normalised path (empty or '.' component)"
    if any(part.startswith(".") for part in parts):
        return f"{rel!r} names a hidden file, which the content hash does not cover"
    return None


PATH_FIX = "use a relative path with '/' to a file inside the benchmark directory"


def resolve_inside(root: Path, rel: str) -> Path:
    """`root / rel`, after checking that it stays inside `root` once symbolic links resolve."""
    reason = path_problem(rel)
    path = root / rel
    if reason is None and not path.resolve().is_relative_to(root.resolve()):
        reason = f"{rel!r} leads outside the benchmark directory through a symbolic link"
    if reason is not None:
        raise TTMBenchError(f"asset path {reason}; {PATH_FIX}")
    return path
