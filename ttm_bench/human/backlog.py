"""Submissions the journal holds but the votes database refused, and the incidents behind them.

When the database cannot be written (read-only file, "database is locked", full disk, server
down) a submission already appended to the journal is not lost: it waits here and is written by
`flush`, which the app calls on every page, so the rater is never asked again. Items waiting
here count as answered for their rater. Every failure is logged (with its traceback) to the
server log and kept, without the rater's answers, for the admin page's incidents section.
One `Backlog` serves every session of a server process; it is thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from ttm_bench.human.journal import Journal, JournalEntry, store_entry
from ttm_bench.human.store import StoreWriteError, VotesStore

LOG = logging.getLogger("ttm_bench.human")
MAX_INCIDENTS = 200


@dataclass
class Incident:
    """One kind of failure (`what`, `detail`) seen `count` times, last at `last_at` (Unix s)."""

    what: str
    detail: str
    first_at: float
    last_at: float
    count: int = 1


class Backlog:
    """Journaled submissions waiting for the votes database, and the failures seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], JournalEntry] = {}
        self._incidents: deque[Incident] = deque(maxlen=MAX_INCIDENTS)

    def report(self, what: str, error: BaseException) -> None:
        """Log `error` with its traceback to the server log and keep it for the admin page."""
        LOG.error("ttm-bench study app: %s", what, exc_info=error)
        detail = f"{type(error).__name__}: {error}"
        now = time.time()
        with self._lock:
            last = self._incidents[-1] if self._incidents else None
            if last is not None and (last.what, last.detail) == (what, detail):
                last.count += 1
                last.last_at = now
            else:
                self._incidents.append(Incident(what, detail, now, now))

    def incidents(self) -> list[Incident]:
        """Failures seen by this server process, oldest first."""
        with self._lock:
            return list(self._incidents)

    def add(self, entry: JournalEntry) -> None:
        with self._lock:
            self._entries[(entry.study, entry.rater, entry.item)] = entry

    def items(self, study: str, rater: str) -> set[str]:
        """Items of `rater` waiting to be written."""
        with self._lock:
            return {i for s, r, i in self._entries if (s, r) == (study, rater)}

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def flush(self, store: VotesStore) -> int:
        """Write waiting submissions, oldest first, until the database refuses one (reported);
        return how many were written."""
        with self._lock:
            waiting = sorted(self._entries.items(), key=lambda kv: kv[1].submitted_at)
        written = 0
        for key, entry in waiting:
            try:
                store_entry(store, entry, source="app")
            except StoreWriteError as exc:
                self.report("votes database still refuses writes; submissions wait in the "
                            "journal", exc)
                break
            with self._lock:
                self._entries.pop(key, None)
            written += 1
        return written

    def load(self, journal: Journal, store: VotesStore) -> None:
        """Queue every journal entry the database lacks (after a restart)."""
        for entry in journal.missing(store):
            self.add(entry)
