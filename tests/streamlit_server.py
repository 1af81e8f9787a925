"""Starting and stopping the rating app's real server for the end-to-end tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HEALTH_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_healthy(url: str, server: subprocess.Popen, seconds: float = HEALTH_TIMEOUT_S) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {seconds} s")


def serve_command(study_root: Path, port: int) -> list[str]:
    """`ttm-bench study serve` as a command line, the way organisers start it."""
    return [sys.executable, "-m", "ttm_bench", "study", "serve", str(study_root),
            "--port", str(port)]


@contextmanager
def serving(study_root: Path, log: Path | None = None) -> Iterator[str]:
    """`ttm-bench study serve` on a free loopback port; yields its URL, stops it on exit."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    server = subprocess.Popen(serve_command(study_root, port), stdout=out,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        if log:
            out.close()
