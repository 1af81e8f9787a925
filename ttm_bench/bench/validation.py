"""Validation scale benchmark (a script, not a test): `python -m ttm_bench.bench.validation`.

Writes a benchmark whose manifest has N lines (default 100,000) naming a few distinct images
(so each distinct file must be checked once, not once per line), one or two objects with
RLE masks per sample, then times `bench validate --no-videos` (full image decode, every mask
decoded, content hash re-read) and `bench info` at several manifest sizes. Prints, per size:
seconds, seconds per 10,000 samples and peak Python heap (MB, tracemalloc, a separate pass).
Target: <= 10 s and <= 200 MB per 100,000 samples.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ttm_bench.data.content_hash import INFO_FILE, MANIFEST_FILE, content_sha256
from ttm_bench.data.masks import encode_rle
from ttm_bench.data.sample import BenchmarkInfo
from ttm_bench.data.validation import validate_benchmark

SIZE = 64


def write_large_benchmark(root: Path, samples: int, images: int = 16) -> None:
    """A valid benchmark of `samples` manifest lines over `images` distinct PNGs."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    for i in range(images):
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"{i}.png")
    masks = []
    for i in range(8):
        mask = np.zeros((SIZE, SIZE), bool)
        mask[4 * i:4 * i + 12, 2 * i:2 * i + 20] = True
        masks.append(encode_rle(mask).to_dict())
    with open(root / MANIFEST_FILE, "w", encoding="utf-8") as f:
        for n in range(samples):
            objects = [{"id": k + 1, "label": "ball", "local_prompt": "a ball rolls",
                        "mask": masks[(n + k) % len(masks)]} for k in range(1 + n % 2)]
            f.write(json.dumps({"id": f"s{n:06d}", "image": f"images/{n % images}.png",
                                "caption": "a ball rolls to the left", "split": "single"
                                if n % 2 == 0 else "multi", "objects": objects,
                                "motion_prompt": None, "video": None,
                                "meta": {"speed_px": 1.5}}) + "\n")
    info = BenchmarkInfo("scale", "1", ("single", "multi"), 8.0, 16, SIZE, SIZE, "CC0-1.0")
    info = replace(info, sha256=content_sha256(root, info.to_dict()))
    (root / INFO_FILE).write_text(json.dumps(info.to_dict()))


def _measure(call: Callable[[], object]) -> tuple[float, float]:
    """(seconds of a plain run, peak traced MB of a second run)."""
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    from ttm_bench.cli import main as cli

    print(f"{'samples':>8s} {'command':>9s} {'seconds':>8s} {'s/10k':>6s} {'peak MB':>8s}")
    for n in args.samples:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "bench"
            write_large_benchmark(root, n)

            def validate(root: Path = root, n: int = n) -> None:
                report = validate_benchmark(root, check_videos=False)
                assert not report.problems and report.samples == n, report.problems[:3]

            def info(root: Path = root) -> None:
                assert cli(["bench", "info", str(root)]) == 0

            for name, call in (("validate", validate), ("info", info)):
                seconds, peak = _measure(call)
                print(f"{n:8d} {name:>9s} {seconds:8.2f} {seconds / n * 1e4:6.2f} {peak:8.1f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
