"""Decode/model overlap benchmark (a script, not a test).

Run: `python -m ttm_bench.bench.decode_overlap`.

Evaluates synthetic mp4 files with `evaluation.extract_features` and a stand-in metric that
spends a fixed time per video outside the GIL (`sleep`, or `torch`: single-threaded matrix
products calibrated to that time), swept over model time = 0.2× … 5× the decode time (the
model time printed is measured alone, without decoding). The
decode time is the floor measured first (the same pipeline, sequential, with a metric that
costs nothing). Every figure is the best of `--repeats` runs.
Prints per point: decode, model and wall seconds and wall / max(decode, model); 1.0 means
decode fully hidden behind model time (or the reverse), (decode + model) / max is what a
sequential pipeline gives (`--sequential` also measures it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ttm_bench.bench.metrics import synthetic_videos
from ttm_bench.decode_prefetch import DEFAULT_IN_FLIGHT, DEFAULT_WORKERS
from ttm_bench.evaluation import VideoEntry, extract_features
from ttm_bench.metrics.base import EvalItem, PerSampleMetric

RATIOS = (0.2, 0.5, 1.0, 2.0, 5.0)


class StandInMetric(PerSampleMetric):
    """Spends `seconds` per video outside the GIL, like a metric network on an accelerator."""

    name = "stand_in"
    higher_is_better = None

    def __init__(self, seconds: float, kind: str = "sleep"):
        super().__init__()
        self.seconds, self.kind = seconds, kind
        self._products = _products_for(seconds) if kind == "torch" else 0

    def score(self, item: EvalItem) -> float:
        if self.kind == "sleep":
            time.sleep(self.seconds)
            return 0.0
        a = torch.ones(256, 256)
        for _ in range(self._products):
            a = torch.mm(a, a).clamp_(max=1.0)
        return float(a[0, 0])


def _products_for(seconds: float) -> int:
    """How many 256² single-threaded products take `seconds` (measured now)."""
    torch.set_num_threads(1)
    a = torch.ones(256, 256)
    start = time.perf_counter()
    for _ in range(50):
        torch.mm(a, a)
    return max(1, round(seconds / ((time.perf_counter() - start) / 50)))


def _wall(entries: list[VideoEntry], metric: PerSampleMetric, workers: int,
          repeats: int) -> float:
    """The fastest of `repeats` runs (the machine may be shared)."""
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        extract_features(entries, [metric], None, progress=False, workers=workers)
        walls.append(time.perf_counter() - start)
    return min(walls)


def _model_alone(metric: PerSampleMetric, videos: int, repeats: int) -> float:
    """Seconds the metric takes for `videos` items without any decoding (best of repeats)."""
    item = EvalItem("x", "all", np.zeros((1, 1, 1, 3), np.uint8), 8.0)
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(videos):
            metric.score(item)
        walls.append(time.perf_counter() - start)
    return min(walls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ttm_bench.bench.decode_overlap",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256, help="height and width in pixels")
    parser.add_argument("--stand-in", choices=["sleep", "torch"], default="sleep")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--ratios", type=float, nargs="+", default=list(RATIOS))
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs per point")
    parser.add_argument("--sequential", action="store_true",
                        help="also measure the sequential path (workers=0)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths, _ = synthetic_videos(Path(tmp), args.videos, args.frames, args.size, args.size)
        entries = [VideoEntry(p.stem, "all", p) for p in paths]
        decode = _wall(entries, StandInMetric(0.0), 0, args.repeats)
        print(f"{args.videos} videos of {args.frames}×{args.size}², decode floor "
              f"{decode:.2f} s ({args.videos / decode:.1f} videos/s); stand-in "
              f"{args.stand_in}; {args.workers} decode threads, {DEFAULT_IN_FLIGHT} in flight")
        print("model/decode   model s   wall s   wall/max" + ("   sequential" * args.sequential))
        for ratio in args.ratios:
            metric = StandInMetric(ratio * decode / args.videos, args.stand_in)
            model = _model_alone(metric, args.videos, args.repeats)
            wall = _wall(entries, metric, args.workers, args.repeats)
            line = f"{ratio:12.1f} {model:9.2f} {wall:8.2f} {wall / max(decode, model):10.2f}"
            if args.sequential:
                line += f" {_wall(entries, metric, 0, args.repeats) / max(decode, model):12.2f}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
