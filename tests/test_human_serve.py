"""`ttm-bench study serve` as a process: it stops when told to and serves videos as files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from tests.human_study_fixtures import make_study
from tests.streamlit_server import (
    free_port,
    port_is_free,
    serve_command,
    serving,
    wait_healthy,
)
from ttm_bench.human.serve import streamlit_command, video_url
from ttm_bench.human.study import VideoRef


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


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), b""


def test_videos_are_static_files_with_range_requests(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    key, digest = next(iter(study.data["files"].items()))
    path = study.video_path(VideoRef(*key.split("/", 1)))
    data = path.read_bytes()
    with serving(study.root) as url:
        status, headers, body = _get(f"{url}{video_url(digest)}")
        assert (status, body) == (200, data)
        assert headers["accept-ranges"] == "bytes" and "max-age" in headers["cache-control"]
        assert headers["content-type"] == "video/mp4"
        status, headers, body = _get(f"{url}{video_url(digest)}", {"Range": "bytes=2-9"})
        assert (status, body) == (206, data[2:10])
        assert headers["content-range"] == f"bytes 2-9/{len(data)}"
        assert _get(f"{url}{video_url('0' * 64)}")[0] == 404
        assert _get(f"{url}/study-video/..%2Fstudy.json.mp4")[0] in (400, 404)
        path.write_bytes(data[:-4])  # changed since creation: never served
        assert _get(f"{url}{video_url(digest)}")[0] == 404


def test_no_full_garbage_collection_after_every_script_run() -> None:
    """Streamlit's default gc.collect(2) after each run was most of a Submit's CPU time."""
    command = streamlit_command("127.0.0.1", 8501)
    assert command[command.index("--runner.postScriptGC") + 1] == "false"
