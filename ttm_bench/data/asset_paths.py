"""Paths a manifest may use: relative, inside the benchmark directory, covered by its hash.

A manifest names its assets by POSIX paths relative to the benchmark directory. A path that is
absolute, climbs out with `..`, or names a hidden file (hidden files are the temporaries the
content hash skips) would let a benchmark use bytes its hash does not cover, so it is refused;
so is a path that leaves the directory through a symbolic link.
"""

from __future__ import annotations

import re
from pathlib import Path

_DRIVE = re.compile(r"^[A-Za-z]:")
PATH_FIX = "use a relative path with '/' to a file inside the benchmark directory"


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



def outside_reason(root: Path, rel: str) -> str | None:
    """Why `root / rel` is not a file name inside `root` (bad syntax, or a symbolic link out of
    it), or None when it is."""
    reason = path_problem(rel)
    if reason is not None:
        return reason
    try:
        inside = (root / rel).resolve().is_relative_to(root.resolve())
    except RuntimeError:  # a cycle of symbolic links
        return f"{rel!r} goes through a loop of symbolic links"
    if inside:
        return None
    return f"{rel!r} leads outside the benchmark directory through a symbolic link"
