"""Rebuilding a study's votes database from its write-ahead journal.

A damaged SQLite file is renamed aside (never deleted) with its WAL files; a fresh database gets
the study's queues from `study.json`, and the journal is replayed into it. On a healthy database
the replay only adds submissions the database lacks, so recovery is always safe to run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from ttm_bench.human.store import CorruptDatabaseError
from ttm_bench.human.study import Study


@dataclass(frozen=True)
class Recovery:
    """What `recover` did: where the damaged file went (if any) and the replay counts."""

    moved_aside: Path | None
    recorded: int
    already_present: int


def _move_aside(url: str) -> Path:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        raise CorruptDatabaseError(f"votes database {url} is unreadable; repair it with the "
                                   "database's own tools, then run `ttm-bench study recover`")
    path = Path(parsed.database)
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        extra = Path(f"{path}{suffix}")
        if extra.exists():
            extra.rename(Path(f"{target}{suffix}"))
    return target


def recover(study: Study) -> Recovery:
    """Make the study's database hold every journaled submission; see the module docstring."""
    moved = None
    try:
        store = study.open_store()
    except CorruptDatabaseError:
        moved = _move_aside(study.database_url)
        store = study.open_store()
    try:
        recorded, present = study.journal.replay(store)
    finally:
        store.close()
    return Recovery(moved, recorded, present)
