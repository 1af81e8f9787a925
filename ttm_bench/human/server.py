"""The rating server: Streamlit's ASGI app (`st.App`) running the rating page (app.py), plus
a route that serves the study's videos as static files.

`GET /study-video/<sha256>.mp4` answers with the video whose sha256 `study.json` records, as a
plain file response: HTTP range requests (seeking, partial loads), `Cache-Control`, and no
trip through Streamlit's websocket, so a page sends only the two URLs. A URL names content,
never a run; a file that changed since the study was created is refused (404, and logged).
Any uncaught error of the page is logged and never displayed (`on_script_error`).

`streamlit run` discovers `app` below; `ttm_bench.human.serve` builds that command line.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from ttm_bench.hashing import file_sha256
from ttm_bench.human.serve import APP_PATH, STUDY_ENV, VIDEO_ROUTE
from ttm_bench.human.study import STUDY_FILE, Study, VideoRef

LOG = logging.getLogger("ttm_bench.human")
CACHE_CONTROL = "private, max-age=86400, immutable"  # content-addressed: never changes


@lru_cache(maxsize=1)
def _videos(root: str, version: float) -> dict[str, Path]:
    """sha256 → file of every study video (reloaded when study.json changes)."""
    study = Study.load(root, verify=False)
    videos = {}
    for key, digest in study.data["files"].items():
        ref = VideoRef(*key.split("/", 1))
        videos[digest] = study.video_path(ref, check_hash=False)
    return videos


@lru_cache(maxsize=4096)
def _unchanged(path: Path, digest: str, size: int, mtime_ns: int) -> bool:
    """Whether `path` (at this size and mtime) still has `digest`; hashed once per version."""
    return file_sha256(path) == digest


def study_video(request: Request) -> Response:
    """The route's handler (synchronous: Starlette runs it in a worker thread, so hashing a
    file the first time never blocks the server's event loop)."""
    digest = request.path_params["digest"]
    root = os.environ.get(STUDY_ENV, "")
    study_file = Path(root) / STUDY_FILE
    try:
        path = _videos(root, study_file.stat().st_mtime).get(digest)
        stat = path.stat() if path is not None else None
    except (OSError, ValueError) as exc:
        LOG.error("ttm-bench study server: cannot list the study's videos", exc_info=exc)
        return PlainTextResponse("not found", status_code=404)
    if path is None or stat is None:
        return PlainTextResponse("not found", status_code=404)
    if not _unchanged(path, digest, stat.st_size, stat.st_mtime_ns):
        LOG.error("ttm-bench study server: %s changed since the study was created; refusing "
                  "to serve it (restore the run or create a new study)", path)
        return PlainTextResponse("not found", status_code=404)
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": CACHE_CONTROL})


def _hide_error(exc: Exception) -> bool:
    """Log an uncaught page error and keep it off the page (its text may name runs)."""
    LOG.error("ttm-bench study app: uncaught error", exc_info=exc)
    return True


app = st.App(APP_PATH, routes=[Route(f"{VIDEO_ROUTE}/{{digest}}.mp4", study_video)],
             on_script_error=_hide_error)
