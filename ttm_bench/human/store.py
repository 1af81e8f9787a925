"""The votes database (SQLAlchemy): assignments, one vote row per answer, an append-only log.

Tables, all keyed by study name so one PostgreSQL database can hold many studies:

- `assignments` (study, rater, position, item, a_on_left): the queues, written once.
- `votes` (study, rater, item, question, choice, a_on_left, submitted_at, source), unique on
  (study, rater, item, question); `choice` is "a", "b" or "tie" relative to the item's pair.
- `submissions`: every submission attempt, recorded or not (answers as shown: left/right,
  display order, seconds on the item, outcome), never updated or deleted.

A submission writes all its answers and its log row in one transaction; if any of its answers
already exists (double click, second tab, resubmission after a refresh) the transaction rolls
back and the attempt is logged as a duplicate, so nothing is lost or counted twice. SQLite runs
in WAL mode and takes the write lock at BEGIN (`BEGIN IMMEDIATE`) with a generous busy timeout,
so concurrent raters queue instead of failing. PostgreSQL lets submissions run concurrently (the
unique index decides between racing duplicates); creating the tables and storing queues, which
read before they write, hold a transaction-level advisory lock so that several processes
opening one database at once serialise there as they do on SQLite. Values longer than their
column are refused on both backends (SQLite would store them, PostgreSQL would fail).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event, exc

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.assignment import Slot

CHOICES = ("a", "b", "tie")
SQLITE_BUSY_TIMEOUT_MS = 60_000
WRITE_OPTION = "ttm_bench_write"
POSTGRES_SETUP_LOCK = 0x7474_6D5F_766F_7465  # pg_advisory_xact_lock key for schema and queues

metadata = sa.MetaData()

assignments = sa.Table(
    "assignments", metadata,
    sa.Column("study", sa.String(64), primary_key=True),
    sa.Column("rater", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("item", sa.String(300), nullable=False),
    sa.Column("a_on_left", sa.Boolean, nullable=False),
    sa.UniqueConstraint("study", "rater", "item", name="uq_assignment_item"),
)

votes = sa.Table(
    "votes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(64), nullable=False),
    sa.Column("rater", sa.String(64), nullable=False),
    sa.Column("item", sa.String(300), nullable=False),
    sa.Column("question", sa.String(64), nullable=False),
    sa.Column("choice", sa.String(3), nullable=False),
    sa.Column("a_on_left", sa.Boolean, nullable=True),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.UniqueConstraint("study", "rater", "item", "question", name="uq_vote"),
    sa.CheckConstraint("choice IN ('a', 'b', 'tie')", name="ck_vote_choice"),
)

submissions = sa.Table(
    "submissions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(64), nullable=False, index=True),
    sa.Column("rater", sa.String(64), nullable=False),
    sa.Column("item", sa.String(300), nullable=False),
    sa.Column("answers", sa.Text, nullable=False),  # JSON {question: "left"|"right"|"tie"}
    sa.Column("a_on_left", sa.Boolean, nullable=True),
    sa.Column("watch_seconds", sa.Float, nullable=True),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # "recorded" | "duplicate"
)


class CorruptDatabaseError(TTMBenchError):
    """The votes database exists but cannot be read; `ttm-bench study recover` rebuilds it."""


class StoreWriteError(TTMBenchError):
    """The votes database refused a write (read-only, locked, full disk, server gone); the
    message names the database and the driver's reason, which may quote the row's values."""


@dataclass(frozen=True)
class Answer:
    """One answer as recorded: `choice` is "a", "b" or "tie" relative to the item's pair."""

    question: str
    choice: str


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def display_url(url: str) -> str:
    """`url` with its password masked, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url


def check_lengths(table: sa.Table, rows: Iterable[Mapping[str, object]]) -> None:
    """Raise TTMBenchError when a string in `rows` is longer than its column in `table`."""
    limits = {c.name: c.type.length for c in table.columns
              if isinstance(c.type, sa.String) and c.type.length}
    for row in rows:
        for name, limit in limits.items():
            value = row.get(name)
            if isinstance(value, str) and len(value) > limit:
                shown = value if len(value) <= 40 else f"{value[:40]}…"
                raise TTMBenchError(f"{table.name}.{name} {shown!r} has {len(value)} characters, "
                                    f"more than the {limit} the votes database stores; "
                                    "shorten it")


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below take effect
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # writers take the lock up front (no deadlocking lock upgrades); WAL readers need none
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class VotesStore:
    """Votes of one or more studies in a SQLAlchemy database (SQLite file or PostgreSQL URL)."""

    def __init__(self, url: str):
        self.url = url
        self.display_url = display_url(url)
        try:
            self.engine = sa.create_engine(url, connect_args=self._connect_args(url))
        except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as e:
            raise TTMBenchError(f"cannot open votes database {self.display_url!r}: {e}; use a "
                                "SQLAlchemy URL such as sqlite:///votes.sqlite or "
                                "postgresql://user@host/db (PostgreSQL needs a driver: "
                                "`pip install 'ttm-bench[postgres]'`)") from e
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        try:
            self._check_integrity()
            if set(metadata.tables) - set(sa.inspect(self.engine).get_table_names()):
                with self._writing(serialised=True) as conn:  # racing creators take turns
                    metadata.create_all(conn)
        except exc.OperationalError as e:  # unreachable server, bad credentials, lock timeout
            raise TTMBenchError(f"cannot open votes database {self.display_url}: {e.orig}; "
                                "check the URL and that its server (or file) is reachable") from e
        except exc.DatabaseError as e:
            if self.dialect != "sqlite":
                raise TTMBenchError(f"votes database {self.display_url} refused to set up its "
                                    f"tables: {e.orig}") from e
            raise CorruptDatabaseError(self._corrupt_message(str(e.orig))) from e

    @staticmethod
    def _connect_args(url: str) -> dict[str, object]:
        if url.startswith("sqlite"):
            return {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        return {}

    def _corrupt_message(self, detail: str) -> str:
        return (f"votes database {self.display_url} is unreadable or corrupt ({detail}); "
                "rebuild it from the study's journal with `ttm-bench study recover STUDY` (the "
                "damaged file is kept beside it)")

    def _check_integrity(self) -> None:
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            result = conn.exec_driver_sql("PRAGMA quick_check").scalar()
        if result != "ok":
            raise CorruptDatabaseError(self._corrupt_message(str(result)))

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _writing(self, *, serialised: bool = False) -> Iterator[sa.Connection]:
        """A write transaction (committed on success, rolled back on error).

        On SQLite every writer holds the database lock; on PostgreSQL `serialised` writers
        (those that read, then write what they did not find) take one advisory lock.
        """
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                if serialised and self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(POSTGRES_SETUP_LOCK)))
                yield conn

    # assignments -------------------------------------------------------------------------

    def has_assignments(self, study: str) -> bool:
        query = sa.select(assignments.c.study).where(assignments.c.study == study).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def ensure_assignments(self, study: str, slots: Iterable[Slot]) -> None:
        """Store the queue of every rater in `slots` who has none yet in `study` (idempotent,
        safe to call from several processes at once)."""
        rows = [{"study": study, "rater": s.rater, "position": s.position, "item": s.item,
                 "a_on_left": s.a_on_left} for s in slots]
        check_lengths(assignments, rows)
        with self._writing(serialised=True) as conn:
            present = set(conn.execute(sa.select(assignments.c.rater).distinct()
                                       .where(assignments.c.study == study)).scalars())
            missing = [r for r in rows if r["rater"] not in present]
            if missing:
                conn.execute(assignments.insert(), missing)

    def queue(self, study: str, rater: str) -> list[Slot]:
        """A rater's queue in order."""
        query = (sa.select(assignments).where(assignments.c.study == study,
                                              assignments.c.rater == rater)
                 .order_by(assignments.c.position))
        with self.engine.connect() as conn:
            return [Slot(r.rater, r.position, r.item, r.a_on_left) for r in conn.execute(query)]

    def rated_items(self, study: str, rater: str) -> set[str]:
        query = sa.select(votes.c.item).distinct().where(votes.c.study == study,
                                                          votes.c.rater == rater)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())

    # votes -------------------------------------------------------------------------------

    def submit(self, study: str, rater: str, item: str, answers: Iterable[Answer], *,
               shown: Mapping[str, str], a_on_left: bool | None, watch_seconds: float | None,
               source: str = "app", submitted_at: float | None = None) -> bool:
        """Record one rater's answers to one item atomically; False if already recorded.

        Raises `StoreWriteError` when the database refuses the write.

        shown: the answers as the rater gave them (question → "left"/"right"/"tie"), logged.
        """
        answers = list(answers)
        for a in answers:
            if a.choice not in CHOICES:
                raise TTMBenchError(f"invalid choice {a.choice!r} for question {a.question!r}; "
                                    f"use one of {list(CHOICES)}")
        now = time.time() if submitted_at is None else submitted_at
        log = {"study": study, "rater": rater, "item": item,
               "answers": json.dumps(dict(shown), sort_keys=True), "a_on_left": a_on_left,
               "watch_seconds": watch_seconds, "submitted_at": now, "source": source}
        rows = [{"study": study, "rater": rater, "item": item, "question": a.question,
                 "choice": a.choice, "a_on_left": a_on_left, "submitted_at": now,
                 "source": source} for a in answers]
        check_lengths(votes, rows)
        check_lengths(submissions, [log])
        try:
            try:
                with self._writing() as conn:
                    conn.execute(votes.insert(), rows)
                    conn.execute(submissions.insert(), {**log, "outcome": "recorded"})
                return True
            except exc.IntegrityError:
                with self._writing() as conn:
                    conn.execute(submissions.insert(), {**log, "outcome": "duplicate"})
                return False
        except exc.DBAPIError as e:  # not an IntegrityError: the database refuses writes
            raise StoreWriteError(f"votes database {self.display_url} refused a write: "
                                  f"{e.orig}") from e

    def votes(self, study: str) -> pd.DataFrame:
        """Every vote of `study`: columns as the `votes` table, sorted by id."""
        query = sa.select(votes).where(votes.c.study == study).order_by(votes.c.id)
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all(),
                                columns=[c.name for c in votes.columns])

    def submissions(self, study: str) -> pd.DataFrame:
        """The submission log of `study`, oldest first."""
        query = (sa.select(submissions).where(submissions.c.study == study)
                 .order_by(submissions.c.id))
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all(),
                                columns=[c.name for c in submissions.columns])
