"""Content hashes of files, read in 1 MiB chunks (constant memory for any file size)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

CHUNK_BYTES = 1 << 20


def update_from_file(digest: Any, path: str | os.PathLike[str]) -> None:
    """Feed the bytes of `path` into a hashlib `digest`."""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of the bytes of `path`."""
    digest = hashlib.sha256()
    update_from_file(digest, path)
    return digest.hexdigest()
