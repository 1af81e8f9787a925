"""Personal access tokens: random, shown once to the organiser (in an invitations file readable
only by its owner), stored elsewhere only as sha256 digests."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

TOKEN_BYTES = 18


def new_token() -> str:
    """A fresh URL-safe token (24 characters, 144 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """Hex sha256 of a token; what the study directory stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_holder(token: str | None, digests: dict[str, str]) -> str | None:
    """The name whose digest matches `token` (constant-time comparisons), or None."""
    if not token:
        return None
    digest = token_digest(token)
    holder = None
    for name, expected in digests.items():
        if hmac.compare_digest(digest, expected):
            holder = name
    return holder


def write_invitations(path: Path, tokens: dict[str, str]) -> None:
    """Write `who<TAB>token` lines to a new file `path` (mode 600); refuse to overwrite."""
    lines = [f"{who}\t{token}" for who, token in tokens.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# who\ttoken   (open http://HOST:PORT/?token=TOKEN; keep this file private)\n")
        f.write("\n".join(lines) + "\n")
