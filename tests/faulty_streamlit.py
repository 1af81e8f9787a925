"""The rating app's server with injected storage faults, for the blinding tests.

`python tests/faulty_streamlit.py FAULT_FILE STREAMLIT_RUN_ARGS...` runs `streamlit run` in this
process after patching the votes store so that, while FAULT_FILE holds a SQLite error message
("attempt to write a readonly database", "database is locked", "database or disk is full"),
every INSERT fails with it exactly as the sqlite3 driver raises it (SQLAlchemy then quotes the
statement and its parameters, run names included). When the message is the full-disk one the
submissions journal fails too (ENOSPC). An empty FAULT_FILE means a healthy disk.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import event

from ttm_bench.human import journal, store

DISK_FULL = "database or disk is full"


def main() -> None:
    fault_file = Path(sys.argv[1])

    def fault() -> str:
        return fault_file.read_text(encoding="utf-8").strip()

    original_init = store.VotesStore.__init__

    def init(self: store.VotesStore, url: str) -> None:
        original_init(self, url)

        @event.listens_for(self.engine, "before_cursor_execute")
        def _fail(conn, cursor, statement, parameters, context, executemany) -> None:
            if fault() and statement.lstrip().upper().startswith("INSERT"):
                raise sqlite3.OperationalError(fault())

    original_append = journal.Journal.append

    def append(self: journal.Journal, entry: journal.JournalEntry) -> None:
        if fault() == DISK_FULL:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
        original_append(self, entry)

    store.VotesStore.__init__ = init
    journal.Journal.append = append
    from streamlit.web.cli import main as streamlit_main

    sys.argv = ["streamlit", *sys.argv[2:]]
    streamlit_main()


if __name__ == "__main__":
    main()
