"""Personal access tokens: random, shown once to the organiser, stored only as sha256 digests."""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
