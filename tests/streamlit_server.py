"""Starting and stopping the rating app's real server for the end-to-end tests (the helpers
live with the load benchmark, which starts servers the same way)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ttm_bench.bench.human_load import free_port, running_server, serve_command, wait_healthy

__all__ = ["free_port", "port_is_free", "serve_command", "serving", "wait_healthy"]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@contextmanager
def serving(study_root: Path) -> Iterator[str]:
    """`ttm-bench study serve` on a free loopback port; yields its URL, stops it on exit."""
    port = free_port()
    with running_server(serve_command(study_root, port), port) as url:
        yield url
