"""The write-ahead journal and rebuilding a lost or corrupt votes database from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.human_study_fixtures import make_study
from ttm_bench.human.rating import RatingSession
from ttm_bench.human.recovery import recover
from ttm_bench.human.store import CorruptDatabaseError, votes
from ttm_bench.human.study import Study

COMPARED = ["rater", "item", "question", "choice", "a_on_left", "submitted_at"]


def _rate_some(study: Study) -> None:
    store = study.open_store()
    for rater in study.raters:
        session = RatingSession(study, store, rater)
        for side in ("left", "right"):
            shown = session.next()
            session.submit(shown, {q.id: side for q in study.questions}, watch_seconds=2.0)
    session.submit(shown, {q.id: "left" for q in study.questions}, None)  # a duplicate
    store.close()


def _votes(study: Study):
    store = study.open_store()
    try:
        return store.votes(study.name)[COMPARED].sort_values(COMPARED).reset_index(drop=True)
    finally:
        store.close()


def test_every_attempt_is_journaled_before_the_database(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    _rate_some(study)
    entries = study.journal.entries()
    assert len(entries) == 2 * len(study.raters) + 1
    assert (study.root / "submissions.jsonl").stat().st_mode & 0o777 == 0o600
    assert recover(study).recorded == 0  # a healthy database already has everything


def test_a_corrupt_database_is_rebuilt_without_losing_a_vote(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    _rate_some(study)
    before = _votes(study)
    db = study.root / "votes.sqlite"
    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(b"\0garbage" * 4096)
    with pytest.raises(CorruptDatabaseError, match="study recover"):
        study.open_store()
    result = recover(study)
    assert result.moved_aside is not None and result.moved_aside.read_bytes().startswith(b"\0")
    assert result.recorded == 2 * len(study.raters) and result.already_present == 1
    after = _votes(study)
    assert after.equals(before)
    store = study.open_store()  # the queues came back too, so raters resume where they were
    session = RatingSession(study, store, study.raters[0])
    assert session.progress() == (2, len(session.queue))


def test_lost_rows_are_replayed_into_a_healthy_database(tmp_path: Path,
                                                        votes_database: str | None) -> None:
    """A database restored from an old backup (here: its votes deleted) gets them back from
    the journal, on SQLite and PostgreSQL alike, and nothing is moved aside."""
    study = make_study(tmp_path, database=votes_database)
    _rate_some(study)
    before = _votes(study)
    store = study.open_store()
    with store.engine.begin() as conn:
        conn.execute(sa.delete(votes).where(votes.c.study == study.name))
    store.close()
    result = recover(study)
    assert result.moved_aside is None
    assert (result.recorded, result.already_present) == (2 * len(study.raters), 1)
    assert _votes(study).equals(before)
    assert recover(study).recorded == 0


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    _rate_some(study)
    n = len(study.journal.entries())
    with open(study.root / "submissions.jsonl", "a", encoding="utf-8") as f:
        f.write('{"study": "tiny-study", "rater": "r0')
    assert len(study.journal.entries()) == n
