"""Tiny benchmarks, runs and studies for the human-study tests, generated on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from ttm_bench.data.benchmark import write_benchmark
from ttm_bench.data.sample import BenchmarkInfo, Sample
from ttm_bench.generation.run import RunDir, RunInfo, SampleRecord
from ttm_bench.human.spec import load_spec
from ttm_bench.human.study import Study, create_study
from ttm_bench.video import write_video

FRAMES, HEIGHT, WIDTH, FPS = 4, 16, 16, 4.0


def make_benchmark(root: Path, n: int = 4, captions: dict[int, str] | None = None) -> Path:
    """A benchmark of `n` flat-colour samples at 16×16."""
    root.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        Image.fromarray(np.full((HEIGHT, WIDTH, 3), 30 * i, np.uint8)).save(root / f"s{i}.png")
        caption = (captions or {}).get(i, f"sample {i} moves")
        samples.append(Sample(f"s{i}", f"s{i}.png", caption, "single"))
    info = BenchmarkInfo("tiny", "1", ("single",), FPS, FRAMES, HEIGHT, WIDTH, "CC0")
    write_benchmark(root, info, samples)
    return root


def make_run(root: Path, bench: Path, model: str, brightness: int,
             skip: tuple[str, ...] = ()) -> Path:
    """A finished run of `model` whose videos are flat frames of `brightness` (+ sample index)."""
    from ttm_bench.data.benchmark import Benchmark

    b = Benchmark.load(bench)
    run = RunDir(root)
    run.videos.mkdir(parents=True, exist_ok=True)
    run.write_info(RunInfo(model, "1", {}, "fixed", 0,
                           {"name": b.info.name, "version": b.info.version,
                            "sha256": b.info.sha256}, "test", "2026-01-01T00:00:00"))
    for k, s in enumerate(b.samples):
        if s.id in skip:
            continue
        video = np.full((FRAMES, HEIGHT, WIDTH, 3), brightness + k, np.uint8)
        write_video(run.video_path(s.id), video, FPS)
        run.write_record(SampleRecord(s.id, "ok", 0, FRAMES, FPS, HEIGHT, WIDTH, 0.1, 1.0))
    return root


def write_spec(path: Path, **fields: object) -> Path:
    """A study spec YAML at `path` with `fields` over sensible defaults (runs `ttm`, `base`)."""
    spec = {"name": "tiny-study", "benchmark": "bench", "runs": {"ttm": "ttm", "base": "base"},
            "raters_per_item": 2, "raters": 3, "seed": 0}
    spec.update(fields)
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def make_study(tmp: Path, n_samples: int = 4, **fields: object) -> Study:
    """Benchmark + two runs + a created study under `tmp`; `fields` override the spec."""
    make_benchmark(tmp / "bench", n_samples)
    make_run(tmp / "ttm", tmp / "bench", "ttm", 40)
    make_run(tmp / "base", tmp / "bench", "base", 140)
    return create_study(load_spec(write_spec(tmp / "spec.yaml", **fields)), tmp / "study")


def read_tokens(study: Study) -> dict[str, str]:
    """who → plaintext token, from the invitations file."""
    lines = (study.root / "invitations.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t") for line in lines if not line.startswith("#"))
