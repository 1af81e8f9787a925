"""Rating-server load benchmark (a script, not a test): `python -m ttm_bench.bench.human_load`.

Builds the demo (the default synthetic benchmark, `ken-burns` against `static`), creates a
study with N raters, starts `ttm-bench study serve` on a free loopback port and drives every
rater at once at the protocol level — Streamlit's websocket messages, as a browser sends them,
without a browser per rater: open the link, answer every question, press Submit, wait for the
next item, repeat until the queue is done (the answers go in one run of the questions'
fragment, which enables Submit, then Submit in a full run). Each rater also fetches the item's two
videos over HTTP, as the player does, and then thinks for `--think` seconds (watching the clips,
answering; ±50% uniform jitter, seeded per rater) before answering and submitting; raters
arrive spread over the first think time. `--think 0` is the saturation test: every rater
submits as fast as the server answers. Prints, per N and think time: submissions per second and
the p50 / p95 latency from pressing Submit to the next item being drawn. Target: p95 < 1 s at
N = 100 with realistic pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

from ttm_bench.human.study import INVITATIONS_FILE

LEFT = "Left video"
#: The demo's clips: 16 frames at 8 fps (`ttm_bench.data.synthetic` defaults) = 2 s each.
DEMO_CLIP_SECONDS = 2.0
#: A realistic rater: both clips (played side by side, in sync) watched twice to the end, then
#: ~2 s to read and answer each of the three questions.
DEFAULT_THINK_SECONDS = 2 * DEMO_CLIP_SECONDS + 3 * 2.0
JITTER = 0.5  # think times are uniform in [1 - JITTER, 1 + JITTER] × --think
VIDEO_SRC = re.compile(r'src="(/study-video/[0-9a-f]{64}\.mp4)"')


class Rater:
    """One rater's browser tab, speaking Streamlit's websocket protocol."""

    def __init__(self, url: str, token: str, think: float = 0.0, seed: int = 0):
        self.url, self.token, self.think = url, token, think
        self.rng = np.random.default_rng(seed)
        self.radios: list[str] = []  # widget ids of the questions on the page
        self.fragment = ""  # id of the fragment holding the questions and Submit
        self.submit: str | None = None
        self.progress = ""
        self.videos: list[str] = []

    async def _run(self, ws: object, widgets: list[object], fragment: str = "") -> None:
        """Send one script run (of `fragment` only, if given) with `widgets` and read its
        messages until it finishes."""
        msg = BackMsg()
        msg.rerun_script.query_string = f"token={self.token}"
        msg.rerun_script.widget_states.widgets.extend(widgets)
        msg.rerun_script.fragment_id = fragment
        await ws.send(msg.SerializeToString())
        self.radios, self.submit = [], None
        if not fragment:
            self.videos = []
        while True:
            fwd = ForwardMsg.FromString(await ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                which = element.WhichOneof("type")
                if which == "radio":
                    self.radios.append(element.radio.id)
                    self.fragment = fwd.delta.fragment_id
                elif which == "button" and element.button.label == "Submit":
                    self.submit = element.button.id
                elif which == "progress":
                    self.progress = element.progress.text
                elif which == "iframe":
                    self.videos = VIDEO_SRC.findall(element.iframe.srcdoc)
            elif kind == "script_finished":
                return

    def _fetch_videos(self) -> None:
        for path in self.videos:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                response.read()

    def _think_time(self) -> float:
        return self.think * self.rng.uniform(1 - JITTER, 1 + JITTER)

    async def rate(self, latencies: list[float]) -> int:
        """Answer the whole queue; append each Submit → next-item latency; return submissions."""
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        ws_url = self.url.replace("http://", "ws://") + "/_stcore/stream"
        done = 0
        await asyncio.sleep(self.think * self.rng.uniform())  # raters arrive spread out
        async with connect(ws_url, subprotocols=["streamlit"], max_size=None) as ws:
            await self._run(ws, [])
            while self.submit is not None:
                await asyncio.to_thread(self._fetch_videos)
                await asyncio.sleep(self._think_time())
                answers = [WidgetState(id=r, string_value=LEFT) for r in self.radios]
                await self._run(ws, answers, self.fragment)  # enables Submit, as clicks do
                before = self.progress
                start = time.perf_counter()
                await self._run(ws, [*answers, WidgetState(id=self.submit, trigger_value=True)])
                latencies.append(time.perf_counter() - start)
                if self.progress == before:
                    raise RuntimeError(f"Submit did not advance ({self.progress!r})")
                done += 1
        return done


def build_study(work: Path, raters: int, label: str = "") -> Path:
    """The demo runs (built once in `work`) and a new study of `raters` raters (in
    `study-{raters}{label}`); its folder."""
    from ttm_bench.cli import main as cli
    from ttm_bench.data.synthetic import build_synthetic

    bench = work / "bench"
    if not bench.exists():
        build_synthetic(bench, progress=False)
        for model in ("ken-burns", "static"):
            if cli(["generate", "--bench", str(bench), "--model", model, "--out",
                    str(work / model), "--quiet"]) != 0:
                raise RuntimeError(f"generating the demo run {model} failed")
    spec = work / f"study-{raters}{label}.yaml"
    spec.write_text(yaml.safe_dump({
        "name": f"load-{raters}", "benchmark": str(bench),
        "runs": {"ken-burns": str(work / "ken-burns"), "static": str(work / "static")},
        "raters": raters, "raters_per_item": max(1, raters // 2)}))
    out = work / f"study-{raters}{label}"
    if cli(["study", "create", str(spec), "--out", str(out)]) != 0:
        raise RuntimeError("creating the study failed")
    return out


def _tokens(study: Path) -> list[str]:
    lines = (study / INVITATIONS_FILE).read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[1] for line in lines
            if not line.startswith("#") and not line.startswith("admin")]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, seconds: float = 60.0) -> None:
    """Wait until the Streamlit server at `url` answers its health check."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not become healthy in {seconds} s")


@contextmanager
def running_server(command: list[str], port: int, env: dict[str, str] | None = None,
                   log: Path | None = None) -> Iterator[str]:
    """Start a rating server (`command`, listening on `port`); yield its URL once healthy;
    stop it on exit."""
    with open(log or os.devnull, "wb") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def serve_command(study: Path, port: int) -> list[str]:
    """`ttm-bench study serve` as an organiser runs it."""
    return [sys.executable, "-m", "ttm_bench", "study", "serve", str(study), "--port",
            str(port)]


async def _drive(url: str, tokens: list[str], think: float, seed: int
                 ) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(*(Rater(url, t, think, seed + i).rate(latencies)
                                    for i, t in enumerate(tokens)))
    return sum(counts), latencies, time.perf_counter() - start


def measure(study: Path, think: float = 0.0, seed: int = 0) -> tuple[int, list[float], float]:
    """Serve `study` and drive all its raters at once, each thinking `think` s (± jitter) per
    item: (submissions, latencies s, wall s)."""
    port = free_port()
    with running_server(serve_command(study, port), port) as url:
        return asyncio.run(_drive(url, _tokens(study), think, seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raters", default="20,100", help="comma-separated N values")
    parser.add_argument("--think", default=f"{DEFAULT_THINK_SECONDS:g},0",
                        help="comma-separated mean think times in seconds per item (watching "
                        "and answering; ±50%% jitter); 0 = saturation test (default: "
                        f"{DEFAULT_THINK_SECONDS:g} = both {DEMO_CLIP_SECONDS:g} s demo clips "
                        "watched twice + 2 s per question, and 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the think-time jitter")
    args = parser.parse_args(argv)
    thinks = [float(x) for x in args.think.split(",")]
    if any(not np.isfinite(t) or t < 0 for t in thinks):
        parser.error("--think values must be finite and >= 0")
    with tempfile.TemporaryDirectory() as tmp:
        for n, think in ((int(x), t) for x in args.raters.split(",") for t in thinks):
            study = build_study(Path(tmp), n, f"-think-{think:g}")
            submissions, latencies, wall = measure(study, think, args.seed)
            p50, p95 = np.percentile(latencies, [50, 95])
            print(f"N = {n:3d} raters, think {think:g} s: {submissions} submissions in "
                  f"{wall:.1f} s = "
                  f"{submissions / wall:.1f} submissions/s; Submit → next item p50 "
                  f"{p50:.3f} s, p95 {p95:.3f} s, max {max(latencies):.3f} s "
                  f"(mean {statistics.fmean(latencies):.3f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
