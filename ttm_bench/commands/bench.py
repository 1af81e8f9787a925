"""`ttm-bench bench build|validate|info`: create and check benchmark directories."""

from __future__ import annotations

import argparse
from pathlib import Path


def _build_synthetic(args: argparse.Namespace) -> int:
    from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic

    config = SyntheticConfig(samples=args.samples, seed=args.seed, frames=args.frames,
                             height=args.size[0], width=args.size[1], fps=args.fps)
    bench = build_synthetic(args.out, config, progress=not args.quiet)
    print(f"wrote {bench.info.tag} ({len(bench)} samples, sha256 {bench.info.sha256[:12]}…) "
          f"to {bench.root}")
    return 0


def _add_synthetic(builders: argparse._SubParsersAction) -> None:
    from ttm_bench.data.synthetic import SyntheticConfig

    d = SyntheticConfig()
    p = builders.add_parser("synthetic", help="the shipped procedural benchmark (exact motion GT)")
    p.add_argument("--out", required=True, type=Path, help="new benchmark directory")
    p.add_argument("--samples", type=int, default=d.samples, help="half single-, half multi-object")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=(d.height, d.width))
    p.add_argument("--fps", type=float, default=d.fps)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_build_synthetic)


#: Benchmark builders: name → function adding its sub-parser under `bench build`.
BUILDERS = {"synthetic": _add_synthetic}


def _validate(args: argparse.Namespace) -> int:
    from ttm_bench.data.benchmark import validate_benchmark

    problems = validate_benchmark(args.dir, check_videos=not args.no_videos)
    if problems:
        for p in problems:
            print(f"- {p}")
        print(f"{args.dir}: {len(problems)} problem(s)")
        return 1
    print(f"{args.dir}: valid")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ttm_bench.data.benchmark import Benchmark

    bench = Benchmark.load(args.dir)
    i = bench.info
    counts = {s: sum(x.split == s for x in bench.samples) for s in i.splits}
    print(f"{i.tag}: {len(bench)} samples {counts}, {i.num_frames} frames at {i.fps:g} fps, "
          f"{i.height}x{i.width}, licence {i.licence}, sha256 {i.sha256}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="build, validate and inspect benchmarks")
    sub = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="build a benchmark directory")
    builders = build.add_subparsers(dest="builder", required=True, metavar="BENCHMARK")
    for add in BUILDERS.values():
        add(builders)
    p = sub.add_parser("validate", help="report every problem of a benchmark directory")
    p.add_argument("dir", type=Path)
    p.add_argument("--no-videos", action="store_true", help="skip probing the video files")
    p.set_defaults(func=_validate)
    p = sub.add_parser("info", help="summarise a benchmark directory")
    p.add_argument("dir", type=Path)
    p.set_defaults(func=_info)


