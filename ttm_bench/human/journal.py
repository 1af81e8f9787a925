"""A write-ahead journal of submissions: one JSON line per attempt, appended before the database
write, so a lost or corrupt database can be rebuilt without losing a vote.

Appends take an exclusive `flock` and are fsynced; a line torn by a crash (the last one) is
ignored on reading. Replaying goes through `VotesStore.submit`, whose unique constraint makes
replays idempotent.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from ttm_bench.human.store import Answer, VotesStore


@dataclass(frozen=True)
class JournalEntry:
    """One submission attempt: `answers` maps question → "a"/"b"/"tie", `shown` question →
    the side as displayed."""

    study: str
    rater: str
    item: str
    answers: dict[str, str]
    shown: dict[str, str]
    a_on_left: bool | None
    watch_seconds: float | None
    submitted_at: float


class Journal:
    """An append-only JSON-lines file of `JournalEntry`s."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, entry: JournalEntry) -> None:
        line = (json.dumps(asdict(entry), sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock

    def entries(self) -> list[JournalEntry]:
        """Every complete entry, oldest first."""
        if not self.path.is_file():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(JournalEntry(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue  # a line torn by a crash while appending
        return entries

    def missing(self, store: VotesStore) -> list[JournalEntry]:
        """Entries whose (study, rater, item) has no answers in `store`, oldest first (the
        first entry of each)."""
        missing, seen = [], {}
        for e in self.entries():
            if e.study not in seen:
                votes = store.votes(e.study)
                seen[e.study] = set(zip(votes["rater"], votes["item"], strict=True))
            if (e.rater, e.item) not in seen[e.study]:
                seen[e.study].add((e.rater, e.item))
                missing.append(e)
        return missing

    def replay(self, store: VotesStore) -> tuple[int, int]:
        """Record every entry the store lacks; return (newly recorded, already present)."""
        entries = self.entries()
        missing = self.missing(store)
        recorded = sum(store_entry(store, e, source="journal") for e in missing)
        return recorded, len(entries) - recorded


def store_entry(store: VotesStore, entry: JournalEntry, source: str) -> bool:
    """Write `entry` to `store` (see `VotesStore.submit`); False when already recorded."""
    return store.submit(entry.study, entry.rater, entry.item,
                        [Answer(q, c) for q, c in entry.answers.items()], shown=entry.shown,
                        a_on_left=entry.a_on_left, watch_seconds=entry.watch_seconds,
                        source=source, submitted_at=entry.submitted_at)
