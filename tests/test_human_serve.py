"""`ttm-bench study serve` as a process: it stops when told to."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from tests.human_study_fixtures import make_study
from tests.streamlit_server import free_port, port_is_free, serve_command, wait_healthy


def test_sigterm_stops_serving_and_frees_the_port(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    port = free_port()
    server = subprocess.Popen(serve_command(study.root, port), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        deadline = time.monotonic() + 5
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_is_free(port), "the server kept serving after SIGTERM to `study serve`"
    finally:  # whatever is left of its process group (an orphaned server, before the fix)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
