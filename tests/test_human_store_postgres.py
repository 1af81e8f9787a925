"""PostgreSQL-only behaviour of the votes store, and the throwaway server the tests use.

The store's shared behaviour (duplicates, resume, concurrency, export, recovery) runs on both
backends in test_human_store.py and test_human_recovery.py through the `votes_database` fixture.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer, missing_requirement, running_postgres
from ttm_bench.errors import TTMBenchError
from ttm_bench.human.store import CorruptDatabaseError, VotesStore

psycopg = pytest.importorskip("psycopg", reason="PostgreSQL driver psycopg not installed")


def _refuses_connections(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_the_throwaway_server_is_stopped_and_deleted_even_after_an_error() -> None:
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="test failure"), running_postgres() as server:
        seen: PostgresServer = server
        with psycopg.connect(seen.url("postgres")) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        raise RuntimeError("test failure")
    assert not seen.root.exists() and _refuses_connections(seen.port)


def test_an_unreachable_server_is_not_called_corrupt_and_hides_the_password() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TTMBenchError) as err:
        VotesStore(f"postgresql://rater:s3cret@127.0.0.1:{port}/votes")
    message = str(err.value)
    assert not isinstance(err.value, CorruptDatabaseError)  # `study recover` cannot help here
    assert "cannot open votes database" in message and "s3cret" not in message
    assert "rater:***@127.0.0.1" in message


def test_a_missing_database_names_the_server_problem(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("no_such_database")
    with pytest.raises(TTMBenchError, match='database "no_such_database" does not exist') as err:
        VotesStore(url)
    assert not isinstance(err.value, CorruptDatabaseError)


def test_the_driver_is_psycopg_3_through_the_plain_url(postgres_url: str) -> None:
    """`postgresql://` in a study spec uses psycopg 3, the driver of the `postgres` extra."""
    store = VotesStore(postgres_url)
    assert store.engine.dialect.driver == "psycopg"
    with store.engine.connect() as conn:
        assert int(conn.exec_driver_sql("SHOW server_version_num").scalar()) >= 130000


@pytest.mark.slow
def test_two_servers_on_one_database_lose_nothing(tmp_path: Path, postgres_url: str) -> None:
    """Two `study serve` processes share one PostgreSQL database; half the raters use each,
    all at once, through the websocket protocol a browser speaks."""
    import asyncio

    pytest.importorskip("streamlit")
    from tests.human_study_fixtures import make_study, read_tokens
    from tests.streamlit_server import serving
    from ttm_bench.bench.human_load import Rater

    study = make_study(tmp_path, raters=6, raters_per_item=4, database=postgres_url)
    tokens = read_tokens(study)
    raters = study.raters

    async def drive(urls: list[str]) -> list[int]:
        latencies: list[float] = []
        return await asyncio.gather(*(Rater(urls[k % 2], tokens[r]).rate(latencies)
                                      for k, r in enumerate(raters)))

    with serving(study.root) as first, serving(study.root) as second:
        done = asyncio.run(drive([first, second]))
    store = study.open_store()
    queues = {r: len(store.queue(study.name, r)) for r in raters}
    assert done == [queues[r] for r in raters]
    votes = store.votes(study.name)
    assert len(votes) == 3 * sum(queues.values())
    assert not votes.duplicated(["rater", "item", "question"]).any()
    log = store.submissions(study.name)
    assert (log["outcome"] == "recorded").sum() == sum(queues.values())
    assert len(study.journal.entries()) == sum(queues.values())  # one shared journal
