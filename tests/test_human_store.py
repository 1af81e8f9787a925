"""The votes store and rating sessions: duplicates, resume, concurrency, corruption.

Tests taking `votes_database` run on both backends: SQLite in the study directory and a fresh
database on a throwaway PostgreSQL server (skipped where none can run, see
tests/postgres_server.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.human_study_fixtures import make_study
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.human.assignment import Slot
from ttm_bench.human.backlog import Backlog
from ttm_bench.human.journal import Journal
from ttm_bench.human.rating import NotSavedError, RatingSession
from ttm_bench.human.store import Answer, StoreWriteError, VotesStore, sqlite_url
from ttm_bench.human.store import votes as votes_table
from ttm_bench.human.study import Study
from ttm_bench.human.votes_csv import export_votes, import_votes


def _answers(session: RatingSession, side: str) -> dict[str, str]:
    return {q.id: side for q in session.study.questions}


def test_answers_map_displayed_sides_to_the_pair(tmp_path: Path,
                                                 votes_database: str | None) -> None:
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    session = RatingSession(study, store, "r001")
    shown = session.next()
    assert shown.left == (shown.item.video_a if shown.slot.a_on_left else shown.item.video_b)
    assert session.submit(shown, _answers(session, "left"), watch_seconds=3.5)
    votes = store.votes(study.name)
    assert set(votes["choice"]) == {"a" if shown.slot.a_on_left else "b"}
    assert len(votes) == 3 and set(votes["question"]) == {q.id for q in study.questions}
    log = store.submissions(study.name)
    assert list(log["outcome"]) == ["recorded"] and log["watch_seconds"][0] == 3.5


def test_resubmission_is_logged_but_not_counted(tmp_path: Path,
                                                votes_database: str | None) -> None:
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    first = RatingSession(study, store, "r001")
    second_tab = RatingSession(study, store, "r001")
    shown = first.next()
    assert second_tab.next() == shown
    assert first.submit(shown, _answers(first, "left"), None)
    assert not second_tab.submit(shown, _answers(second_tab, "right"), None)  # other tab
    assert not first.submit(shown, _answers(first, "left"), None)  # double click
    assert len(store.votes(study.name)) == 3
    assert list(store.submissions(study.name)["outcome"]) == ["recorded", "duplicate",
                                                              "duplicate"]
    assert first.next() != shown and first.progress()[0] == 1


def test_incomplete_or_invalid_answers_are_refused(tmp_path: Path,
                                                   votes_database: str | None) -> None:
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    session = RatingSession(study, store, "r001")
    shown = session.next()
    answers = _answers(session, "left")
    with pytest.raises(TTMBenchError, match="every question"):
        session.submit(shown, dict(list(answers.items())[:2]), None)
    with pytest.raises(TTMBenchError, match="not one of"):
        session.submit(shown, {**answers, "visual_quality": "tie"}, None)  # no tie in this study
    with pytest.raises(TTMBenchError, match="another rater"):
        RatingSession(study, store, "r002").submit(shown, answers, None)
    with pytest.raises(TTMBenchError, match="unknown rater"):
        RatingSession(study, store, "mallory")
    assert store.votes(study.name).empty


def test_a_rater_resumes_where_they_stopped(tmp_path: Path,
                                            votes_database: str | None) -> None:
    study = make_study(tmp_path, database=votes_database)
    session = RatingSession(study, study.open_store(), "r002")
    queue = [s.item for s in session.queue]
    session.submit(session.next(), _answers(session, "right"), 1.0)
    # a new process (server restart, new browser) sees the same state from the database
    resumed = RatingSession(study, VotesStore(study.database_url), "r002")
    assert resumed.progress() == (1, len(queue))
    assert resumed.next().item.id == queue[1]


def test_many_concurrent_raters_lose_and_double_count_nothing(tmp_path: Path,
                                                             votes_database: str | None) -> None:
    """24 raters, each with two tabs submitting every item at once, through `RatingSession`."""
    study = make_study(tmp_path, n_samples=8, raters=24, raters_per_item=12,
                       database=votes_database)
    store = study.open_store()
    barrier = threading.Barrier(48)
    errors: list[BaseException] = []
    attempts: list[bool] = []  # list.append is atomic

    def rate(rater: str) -> None:
        try:
            session = RatingSession(study, store, rater)
            barrier.wait()
            # both tabs of a rater walk the same queue, racing each other on every item
            while (shown := session.next()) is not None:
                attempts.append(session.submit(shown, _answers(session, "left"), 0.1))
        except BaseException as exc:  # reported below; a thread must not swallow failures
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(r,)) for r in study.raters for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected_slots = 8 * 12
    votes = store.votes(study.name)
    assert len(votes) == expected_slots * 3
    assert not votes.duplicated(["rater", "item", "question"]).any()
    log = store.submissions(study.name)  # every attempt, in the order the database took them
    assert len(log) == len(attempts) and log["id"].is_monotonic_increasing
    assert (log["outcome"] == "recorded").sum() == sum(attempts) == expected_slots
    assert all(RatingSession(study, store, r).next() is None for r in study.raters)


def test_the_database_itself_keeps_one_vote_per_question(tmp_path: Path,
                                                          votes_database: str | None) -> None:
    """The unique and check constraints live in the real schema, not only in `submit`."""
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    row = {"study": study.name, "rater": "r001", "item": "i", "question": "q", "choice": "a",
           "a_on_left": True, "submitted_at": 1.0, "source": "test"}
    with store.engine.begin() as conn:
        conn.execute(votes_table.insert(), row)
    for bad in ({}, {"question": "q2", "choice": "x"}):  # a second vote; an unknown choice
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:
            conn.execute(votes_table.insert(), {**row, **bad})
    assert list(store.votes(study.name)["choice"]) == ["a"]


def test_concurrent_first_opens_keep_every_queue(tmp_path: Path,
                                                 votes_database: str | None) -> None:
    """8 processes' stores open one new database at once, each storing a different but
    overlapping set of raters' queues: the tables are made once and no queue is lost."""
    url = votes_database or sqlite_url(tmp_path / "votes.sqlite")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_and_store(k: int) -> None:
        try:
            barrier.wait()
            store = VotesStore(url)
            store.ensure_assignments("s", [Slot(f"r{r}", p, f"i{p}", True)
                                           for r in range(k, k + 3) for p in range(4)])
            store.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_store, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = VotesStore(url)
    assert all([s.item for s in store.queue("s", f"r{r}")] == ["i0", "i1", "i2", "i3"]
               for r in range(10))


def test_export_and_reimport_round_trip_exactly(tmp_path: Path,
                                                votes_database: str | None) -> None:
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    for rater in study.raters:
        session = RatingSession(study, store, rater)
        while (shown := session.next()) is not None:
            session.submit(shown, _answers(session, "right"), watch_seconds=0.5)
    stored = store.votes(study.name)
    csv = tmp_path / "votes.csv"
    assert export_votes(study, store, csv) == len(stored) == 4 * 2 * 3
    exported = pd.read_csv(csv)
    assert list(exported["choice"]) == list(stored["choice"])
    assert list(exported["a_on_left"]) == list(stored["a_on_left"])
    seconds = [datetime.fromisoformat(t).timestamp() for t in exported["submitted_at"]]
    assert seconds == pytest.approx(list(stored["submitted_at"]), abs=1e-6)
    assert import_votes(study, store, csv) == (0, 4 * 2)  # all already there
    assert store.votes(study.name).equals(stored)
    assert list(store.submissions(study.name)["outcome"]) == ["recorded"] * 8 + ["duplicate"] * 8


def test_overlong_values_are_refused_on_every_backend(tmp_path: Path,
                                                      votes_database: str | None) -> None:
    """SQLite would store a 40-character source, PostgreSQL would fail mid-transaction: both
    refuse it up front, writing nothing."""
    study = make_study(tmp_path, database=votes_database)
    store = study.open_store()
    with pytest.raises(TTMBenchError, match=r"votes.source .* more than the 32"):
        store.submit(study.name, "r001", "i", [Answer("q", "a")], shown={}, a_on_left=None,
                     watch_seconds=None, source="x" * 40)
    with pytest.raises(TTMBenchError, match=r"assignments.item .* more than the 300"):
        store.ensure_assignments(study.name, [Slot("new", 0, "i" * 301, True)])
    rows = [{"study": study.name, "rater": "r001", "item": next(iter(study.items)),
             "question": q.id, "choice": "a", "source": "x" * 40} for q in study.questions]
    pd.DataFrame(rows).to_csv(tmp_path / "long.csv", index=False)
    with pytest.raises(ValidationError, match=r"source 'x+' is longer than 32"):
        import_votes(study, store, tmp_path / "long.csv")  # the whole file is checked first
    assert store.votes(study.name).empty and store.submissions(study.name).empty
    assert store.queue(study.name, "new") == []


def test_store_refuses_a_corrupt_database(tmp_path: Path) -> None:
    path = tmp_path / "votes.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(TTMBenchError, match="corrupt"):
        VotesStore(sqlite_url(path))


def test_store_rejects_unknown_choices_and_bad_urls(tmp_path: Path) -> None:
    store = VotesStore(sqlite_url(tmp_path / "v.sqlite"))
    with pytest.raises(TTMBenchError, match="invalid choice"):
        store.submit("s", "r", "i", [Answer("q", "left")], shown={}, a_on_left=True,
                     watch_seconds=None)
    with pytest.raises(TTMBenchError, match="SQLAlchemy URL"):
        VotesStore("nonsense://x")


def test_sqlite_uses_wal_and_writers_lock_at_begin(tmp_path: Path) -> None:
    store = VotesStore(sqlite_url(tmp_path / "v.sqlite"))
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda _c, _cur, statement, *_: statements.append(statement))
    store.submit("s", "r", "i", [Answer("q", "a")], shown={"q": "left"}, a_on_left=True,
                 watch_seconds=1.0)
    store.votes("s")
    begins = [s for s in statements if s.startswith("BEGIN")]
    assert begins == ["BEGIN IMMEDIATE", "BEGIN"]  # the write, then the read
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def _rate_in_process(study_root: str, raters: list[str]) -> int:
    """One server process: its own engine, rating whole queues for `raters`."""
    from ttm_bench.human.study import Study

    study = Study.load(study_root, verify=False)
    store = study.open_store()
    recorded = 0
    for rater in raters:
        session = RatingSession(study, store, rater)
        while (shown := session.next()) is not None:
            recorded += session.submit(shown, _answers(session, "right"), watch_seconds=0.2)
    return recorded


def test_several_server_processes_share_one_database(tmp_path: Path,
                                                    votes_database: str | None) -> None:
    """Two processes (as two app workers would be), each with its own engine, both driving
    all 24 raters at once."""
    import multiprocessing

    study = make_study(tmp_path, n_samples=6, raters=24, raters_per_item=8,
                       database=votes_database)
    groups = [study.raters, study.raters[::-1]]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        recorded = pool.starmap(_rate_in_process, [(str(study.root), g) for g in groups])
    assert sum(recorded) == 6 * 8
    votes = study.open_store().votes(study.name)
    assert len(votes) == 6 * 8 * 3 and not votes.duplicated(["rater", "item", "question"]).any()
    assert len(study.journal.entries()) >= 6 * 8


def test_schema_compiles_for_postgresql() -> None:
    from sqlalchemy.dialects import postgresql

    from ttm_bench.human.store import metadata

    ddl = [str(sa.schema.CreateTable(t).compile(dialect=postgresql.dialect()))
           for t in metadata.sorted_tables]
    assert any("CONSTRAINT uq_vote UNIQUE (study, rater, item, question)" in d for d in ddl)


def test_a_read_only_database_raises_a_store_write_error(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    study.open_store().close()
    read_only = VotesStore(f"sqlite:///file:{study.root / 'votes.sqlite'}?mode=ro&uri=true")
    with pytest.raises(StoreWriteError, match="readonly database"):
        read_only.submit(study.name, "r001", next(iter(study.items)),
                         [Answer(q.id, "a") for q in study.questions], shown={},
                         a_on_left=True, watch_seconds=None)


def _refusing(reason: str) -> Callable[..., bool]:
    """A stand-in for `VotesStore.submit` on a database that refuses writes for `reason`."""
    def refuse(*args: object, **kwargs: object) -> bool:
        raise StoreWriteError(f"votes database refused a write: {reason}")

    return refuse


def _backlogged_session(tmp_path: Path) -> tuple[Study, VotesStore, Backlog, RatingSession]:
    study = make_study(tmp_path)
    store, backlog = study.open_store(), Backlog()
    return study, store, backlog, RatingSession(study, store, "r001", backlog)


def test_a_refused_write_waits_in_the_backlog_and_is_not_asked_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study, store, backlog, session = _backlogged_session(tmp_path)
    shown = session.next()
    with monkeypatch.context() as patch:
        patch.setattr(store, "submit", _refusing("database is locked"))
        assert session.submit(shown, _answers(session, "left"), 1.0)  # accepted: journaled
        assert session.next() != shown and session.progress()[0] == 1 and len(backlog) == 1
        assert backlog.flush(store) == 0 and len(backlog) == 1  # still refused
        assert "database is locked" in backlog.incidents()[-1].detail
    restarted = Backlog()  # a server restart: the journal still has it
    restarted.load(study.journal, store)
    assert restarted.items(study.name, "r001") == {shown.item.id}
    assert backlog.flush(store) == 1 and len(backlog) == 0
    assert len(store.votes(study.name)) == 3 and session.progress()[0] == 1
    assert restarted.flush(store) == 1  # written already: counted once, logged as a duplicate
    assert list(store.submissions(study.name)["outcome"]) == ["recorded", "duplicate"]


def test_without_journal_or_database_the_rater_must_resubmit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, store, backlog, session = _backlogged_session(tmp_path)
    shown = session.next()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "append", disk_full)
    monkeypatch.setattr(store, "submit", _refusing("database or disk is full"))
    with pytest.raises(NotSavedError):
        session.submit(shown, _answers(session, "left"), 1.0)
    assert session.next() == shown and len(backlog) == 0 and len(backlog.incidents()) == 2
