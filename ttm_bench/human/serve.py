"""Launching the rating app: the `streamlit run` command line and its environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The Streamlit script (the rating page); run as a file by Streamlit, never imported.
APP_PATH = Path(__file__).with_name("app.py")
#: The server `streamlit run` starts: the page plus the video route (`ttm_bench.human.server`).
SERVER_PATH = Path(__file__).with_name("server.py")
#: URL prefix of the study's videos, served as static files by the server.
VIDEO_ROUTE = "/study-video"
#: Environment variable naming the study directory the app serves.
STUDY_ENV = "TTM_BENCH_STUDY"


def streamlit_command(address: str, port: int) -> list[str]:
    """`python -m streamlit run app.py ...` with the hardening options the app relies on:
    no file watcher, no static file serving, XSRF protection, no usage statistics, minimal
    toolbar (raters cannot rerun or change settings), no error details in the page (an
    exception text can name the runs being compared; the app logs details instead), and no
    full garbage collection after every script run (Streamlit's default; with this process's
    heap it was most of a run's CPU time and capped one server at ~7 submissions/s, while
    Python's own generational collection still runs)."""
    return [sys.executable, "-m", "streamlit", "run", str(SERVER_PATH),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--server.enableXsrfProtection", "true", "--server.enableStaticServing", "false",
            "--server.runOnSave", "false", "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
            "--client.showErrorDetails", "none", "--runner.postScriptGC", "false"]


def video_url(digest: str) -> str:
    """The server's URL (path) of the study video with sha256 `digest`."""
    return f"{VIDEO_ROUTE}/{digest}.mp4"


def app_environment(study_root: Path) -> dict[str, str]:
    """The current environment plus the study directory for the app."""
    return {**os.environ, STUDY_ENV: str(study_root)}
