"""`ttm-bench demo`: the whole pipeline on the shipped synthetic benchmark, in one command.

Builds the synthetic benchmark, generates a run per reference floor, evaluates every metric that
can run here (the others are listed with the reason) and writes the leaderboard as Markdown and
HTML, and the visual HTML report (`index.html` + `assets/`: plots and the video gallery). Every
stage resumes: rerunning reuses what is already done.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEMO_MODELS = ("ground-truth", "ken-burns", "static")


def run_demo(work: Path, report: Path, samples: int, progress: bool = True) -> list[Path]:
    """Run the demo; return the report files written."""
    from ttm_bench.atomic import write_text
    from ttm_bench.commands.evaluate import summarise
    from ttm_bench.data.benchmark import Benchmark
    from ttm_bench.data.synthetic import SyntheticConfig, build_synthetic
    from ttm_bench.evaluation import evaluate, inputs_from_run
    from ttm_bench.generation.runner import generate_run
    from ttm_bench.report.html_report import write_report
    from ttm_bench.report.leaderboard import RENDERERS, build_leaderboard
    from ttm_bench.report.results import load_results

    bench_dir = work / "bench"
    if (bench_dir / "benchmark.json").exists():
        bench = Benchmark.load(bench_dir)
        print(f"[1/4] reusing benchmark {bench.info.tag} in {bench_dir}")
    else:
        print(f"[1/4] building the synthetic benchmark in {bench_dir}")
        bench = build_synthetic(bench_dir, SyntheticConfig(samples=samples), progress=progress)
    results_dirs = []
    for i, model in enumerate(DEMO_MODELS, start=1):
        print(f"[2/4] generating run {i}/{len(DEMO_MODELS)}: {model}")
        summary = generate_run(bench_dir, model, work / "runs" / model, progress=progress)
        print(f"      {summary.describe()}")
    for i, model in enumerate(DEMO_MODELS, start=1):
        print(f"[3/4] evaluating run {i}/{len(DEMO_MODELS)}: {model}")
        out = work / "results" / model
        results = evaluate(inputs_from_run(work / "runs" / model, bench_dir), out,
                           progress=progress)
        print("      " + summarise(results).replace("\n", "\n      "))
        results_dirs.append(out)
    print("[4/4] writing the leaderboard and the HTML report")
    board = build_leaderboard([load_results(d) for d in results_dirs])
    written = []
    for fmt in ("md", "html"):
        path = report / f"leaderboard.{fmt}"
        write_text(path, RENDERERS[fmt](board))
        written.append(path)
    written.append(write_report(results_dirs, report))
    return written


def _demo(args: argparse.Namespace) -> int:
    written = run_demo(args.work, args.report, args.samples, progress=not args.quiet)
    print("\nThe demo leaderboard and report are in:")
    for path in written:
        print(f"  {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo", help="build → generate → evaluate → leaderboard and report, end to end")
    p.add_argument("--work", type=Path, default=Path("demo-out"),
                   help="working directory for the benchmark, runs and results")
    p.add_argument("--report", type=Path, default=Path("reports/demo"),
                   help="where the leaderboard and the HTML report are written")
    p.add_argument("--samples", type=int, default=16, help="synthetic benchmark size")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_demo)
