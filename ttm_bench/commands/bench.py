"""`ttm-bench bench build|validate|info|rehash|import`: create, check and import benchmarks."""

from __future__ import annotations

import argparse
from pathlib import Path

from ttm_bench.commands.arg_types import positive_number
from ttm_bench.commands.bench_builders import add_animation_bench, add_import, add_sav128


def add_skip_verify_argument(parser: argparse.ArgumentParser) -> None:
    """`--skip-verify`, for commands that open a benchmark for work (recorded in their output)."""
    parser.add_argument("--skip-verify", action="store_true",
                        help="do not check the benchmark's content hash (recorded as "
                             '"benchmark_verification": "skipped")')


def _build_synthetic(args: argparse.Namespace) -> int:
    from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic

    config = SyntheticConfig(samples=args.samples, seed=args.seed, frames=args.frames,
                             height=args.size[0], width=args.size[1], fps=args.fps,
                             one_moves=args.one_moves)
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
    p.add_argument("--fps", type=positive_number, default=d.fps)
    p.add_argument("--one-moves", type=int, default=d.one_moves, metavar="N",
                   help="also N scenes of the opt-in split one-moves: two objects, only the "
                        "first moves (a known answer for the object metrics)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_build_synthetic)


#: Benchmark builders: name → function adding its sub-parser under `bench build`.
BUILDERS = {"synthetic": _add_synthetic, "sav128": add_sav128,
            "animation-bench": add_animation_bench}


def _validate(args: argparse.Namespace) -> int:
    from ttm_bench.data.validation import validate_benchmark

    report = validate_benchmark(args.dir, quick=args.quick, check_videos=not args.no_videos)
    for p in report.problems:
        print(f"- {p}")
    for note in report.skipped:
        print(f"skipped: {note}")
    if report.problems:
        print(f"{args.dir}: {len(report.problems)} problem(s) in {report.samples} sample(s)")
        return 1
    print(f"{args.dir}: valid ({report.samples} samples"
          f"{', quick check' if report.skipped else ''})")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ttm_bench.data.benchmark import MANIFEST_FILE, read_info, split_problem
    from ttm_bench.data.manifest import read_manifest
    from ttm_bench.errors import Problem, TTMBenchError, ValidationError

    if not args.dir.is_dir():
        raise TTMBenchError(f"benchmark directory {args.dir} does not exist; build one with "
                            "`ttm-bench bench build synthetic --out DIR`")
    problems: list[Problem] = []
    i = read_info(args.dir, problems)
    counts: dict[str, int] = {}
    manifest = args.dir / MANIFEST_FILE
    for line, sample in read_manifest(manifest, problems):
        counts[sample.split] = counts.get(sample.split, 0) + 1
        if i is not None and (p := split_problem(i, sample, str(manifest), line)):
            problems.append(p)
    if problems or i is None:
        raise ValidationError(problems)
    print(f"{i.tag}: {sum(counts.values())} samples {counts}, {i.num_frames} frames at "
          f"{i.fps:g} fps, {i.height}x{i.width}, licence {i.licence}, sha256 {i.sha256} "
          f"(hash scheme {i.hash_scheme}; not verified here: `ttm-bench bench validate`)")
    return 0


def _rehash(args: argparse.Namespace) -> int:
    from ttm_bench.data.verification import rehash_benchmark

    old, new = rehash_benchmark(args.dir, force=args.force)
    print(f"{args.dir}: sha256 {old[:12] or '(none)'}… → {new[:12]}…; runs and results made "
          "with the old hash do not match it: regenerate and re-evaluate them")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="build, validate and inspect benchmarks")
    sub = bench.add_subparsers(dest="bench_command", required=True, metavar="ACTION")
    build = sub.add_parser("build", help="build a benchmark directory")
    builders = build.add_subparsers(dest="builder", required=True, metavar="BENCHMARK")
    for add in BUILDERS.values():
        add(builders)
    add_import(sub)
    p = sub.add_parser("validate", help="report every problem of a benchmark directory")
    p.add_argument("dir", type=Path)
    p.add_argument("--quick", action="store_true",
                   help="read image and video headers only and reuse cached file digests")
    p.add_argument("--no-videos", action="store_true", help="skip the ground-truth videos")
    p.set_defaults(func=_validate)
    p = sub.add_parser("info", help="summarise a benchmark directory")
    p.add_argument("dir", type=Path)
    p.set_defaults(func=_info)
    p = sub.add_parser("rehash", help="rewrite benchmark.json's content sha256 (current scheme)")
    p.add_argument("dir", type=Path)
    p.add_argument("--force", action="store_true",
                   help="accept content that changed since the old hash was written")
    p.set_defaults(func=_rehash)
