"""Metric throughput benchmark (a script, not a test): `python -m ttm_bench.bench.metrics`.

Evaluates generated videos the way `ttm_bench.evaluation` does (decode each video once, hash
it, feed the same arrays to every metric) with real-size networks holding random weights:
open_clip ViT-L/14 (CLIPFrame), ViCLIP ViT-L/14 (ViCLIP-T/-V) and, for FVD, torchvision's S3D
as a stand-in of the same family and size as I3D (the real I3D exists only as TorchScript
weights). Forward hooks time every network call. Prints, per pass:

- decode, hashing and per-metric seconds; the networks' forward seconds;
- overhead ratio = wall time / total forward time (1.0 = nothing but the networks);
- videos per second;
- the speed-up of a second pass whose features come from the per-video cache.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ttm_bench.metrics.base import EvalItem, Metric
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.registry import create_metric
from ttm_bench.video import read_video, write_video

DEFAULT_METRICS = ("clipframe", "viclip_t", "viclip_v", "fvd16")


class ForwardTimer:
    """Accumulates wall seconds spent inside the forward of the modules it watches."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._started: dict[int, float] = {}

    def watch(self, name: str, module: torch.nn.Module) -> None:
        def before(mod: torch.nn.Module, args: Any) -> None:
            self._started[id(mod)] = time.perf_counter()

        def after(mod: torch.nn.Module, args: Any, output: Any) -> None:
            self.seconds[name] += time.perf_counter() - self._started.pop(id(mod))

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class S3DDetector(torch.nn.Module):
    """torchvision S3D behind the I3D TorchScript call signature (400 Kinetics logits)."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models.video import s3d

        self.net = s3d(weights=None, num_classes=400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = True) -> torch.Tensor:
        return self.net(x)


def build_models(names: list[str], timer: ForwardTimer) -> dict[str, Any]:
    """Random-weight, real-size networks for the metric families in `names`, hooked."""
    models: dict[str, Any] = {}
    if any(n.startswith("clipframe") for n in names):
        import open_clip

        clip = open_clip.create_model("ViT-L-14", pretrained=None, force_quick_gelu=True).eval()
        timer.watch("clip ViT-L/14", clip.visual)
        models["clipframe"] = clip
    if any(n.startswith("viclip") for n in names):
        from ttm_bench.metrics.viclip.model import ViCLIP

        viclip = ViCLIP().eval()
        timer.watch("viclip video", viclip.vision_encoder)
        timer.watch("viclip text", viclip.text_encoder)
        models["viclip"] = viclip
    if any(n.startswith("fvd") for n in names):
        detector = S3DDetector().eval()
        timer.watch("s3d (i3d stand-in)", detector)
        models["fvd"] = detector
    return models


def model_for(name: str, models: dict[str, Any]) -> Any:
    return next(model for family, model in models.items() if name.startswith(family))


def synthetic_videos(folder: Path, count: int, frames: int, height: int,
                     width: int) -> tuple[list[Path], list[np.ndarray]]:
    """Moving-gradient mp4 files to evaluate and different ones as ground truth (arrays)."""
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    paths, references = [], []
    for i in range(count):
        speed, phase = rng.uniform(1, 4, 2)
        clip = np.stack([np.stack([(xs + speed * t + phase * 40) % 256,
                                   (ys + 2 * t) % 256,
                                   np.full_like(xs, 40 * i % 256)], axis=-1)
                         for t in range(frames)]).astype(np.uint8)
        path = folder / f"video{i}.mp4"
        write_video(path, clip, fps=8)
        paths.append(path)
        references.append(np.ascontiguousarray(clip[:, ::-1]))
    return paths, references


@contextmanager
def stopwatch(totals: dict[str, float], key: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    totals[key] += time.perf_counter() - start


def run_pass(names: list[str], models: dict[str, Any], cache: FeatureCache,
             paths: list[Path], references: list[np.ndarray], timer: ForwardTimer,
             device: str) -> dict[str, float]:
    """One evaluation pass; returns seconds per stage, 'wall' and 'forward'."""
    metrics: list[Metric] = []
    for name in names:
        metric = create_metric(name, model=model_for(name, models), feature_cache=cache)
        metric.setup(device)
        metrics.append(metric)
    timer.seconds.clear()
    totals: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    for i, (path, reference) in enumerate(zip(paths, references, strict=True)):
        with stopwatch(totals, "decode"):
            video = read_video(path)
        with stopwatch(totals, "hash"):
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        item = EvalItem(f"s{i}", "all", video, 8.0, caption="a red ball rolls to the left",
                        image=video[0], reference=reference, video_sha256=sha)
        for metric in metrics:
            with stopwatch(totals, f"metric {metric.preset.metric}"):
                metric.update(item)
    totals["wall"] = time.perf_counter() - start
    totals["forward"] = timer.total
    return dict(totals)


def report(label: str, totals: dict[str, float], count: int) -> None:
    print(f"\n{label}")
    for key, seconds in sorted(totals.items()):
        if key not in {"wall", "forward"}:
            print(f"  {key:32s} {seconds:9.2f} s")
    ratio = (f"{totals['wall'] / totals['forward']:.3f}" if totals["forward"] > 0
             else "n/a (no network ran)")
    print(f"  {'network forward (sum)':32s} {totals['forward']:9.2f} s")
    print(f"  {'wall':32s} {totals['wall']:9.2f} s")
    print(f"  overhead ratio {ratio}   videos/s {count / totals['wall']:.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--metrics", default=",".join(DEFAULT_METRICS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.metrics.split(",")
    timer = ForwardTimer()
    models = build_models(names, timer)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths, references = synthetic_videos(folder, args.videos, args.frames, args.height,
                                             args.width)
        cache = FeatureCache(folder / "features")
        print(f"{args.videos} videos of {args.frames}×{args.height}×{args.width}, metrics "
              f"{', '.join(names)}, device {args.device}, torch threads {torch.get_num_threads()}")
        first = run_pass(names, models, cache, paths, references, timer, args.device)
        report("first pass (features computed)", first, args.videos)
        second = run_pass(names, models, cache, paths, references, timer, args.device)
        report("second pass (features from the cache)", second, args.videos)
        print(f"\ncached re-run speed-up: {first['wall'] / second['wall']:.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
