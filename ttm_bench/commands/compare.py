"""`ttm-bench compare`: every run against a baseline on paired samples, with significance."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttm_bench.atomic import write_text
from ttm_bench.commands.key_values import parse_names
from ttm_bench.errors import TTMBenchError
from ttm_bench.report.compare import build_comparison
from ttm_bench.report.compare_tables import LAYOUTS, RENDERERS
from ttm_bench.report.latex import render_comparison
from ttm_bench.report.run_samples import load_run_samples

#: Output format → file suffix in --out.
FORMATS = {"md": "md", "html": "html", "latex": "tex", "csv": "csv", "json": "json"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="paired comparison of runs against a baseline (Δ, CI, p-values, verdicts)",
        description="For every other run, metric and split: the baseline's and the run's value "
                    "on the samples both evaluated, Δ = run − baseline with a paired bootstrap "
                    "interval, a two-sided p-value (sign-flip permutation test; paired "
                    "bootstrap for FVD) Holm–Bonferroni adjusted over the table, and a verdict.",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                        help="results directories written by `ttm-bench evaluate`")
    parser.add_argument("--baseline", required=True, metavar="RUN",
                        help="the baseline: a run name or one of the RESULTS directories")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder for comparison.<md|html|tex|csv|json>")
    parser.add_argument("--format", default="md,csv,json",
                        help="comma-separated formats: md, html, latex, csv, json "
                             "(default: md,csv,json)")
    parser.add_argument("--layout", choices=LAYOUTS, default="pairs",
                        help="pairs: one row per run × metric × split (default); ablation: the "
                             "paper's ablation table, baseline then variants, cells value (Δ)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics (default: every metric all runs have)")
    parser.add_argument("--splits", default=None,
                        help="comma-separated splits (default: every split, then all)")
    parser.add_argument("--ci", action="store_true",
                        help="LaTeX: add a column with the interval of Δ")
    parser.add_argument("--n-boot", type=int, default=1000,
                        help="bootstrap resamples and random sign flips (default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="resampling seed (default: 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n_boot < 1:
        raise TTMBenchError(f"--n-boot must be >= 1, got {args.n_boot} (the default is 1000)")
    if args.seed < 0:
        raise TTMBenchError(f"--seed must be >= 0, got {args.seed}")
    formats = parse_names(args.format, "--format")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise TTMBenchError(f"--format: unknown format(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(FORMATS)}")
    metrics, splits = (None if text is None else parse_names(text, option)
                       for text, option in ((args.metrics, "--metrics"),
                                            (args.splits, "--splits")))
    comparison = build_comparison([load_run_samples(p) for p in args.results], args.baseline,
                                  metrics=metrics, splits=splits, n_boot=args.n_boot,
                                  seed=args.seed)
    for fmt in formats:
        path = args.out / f"comparison.{FORMATS[fmt]}"
        text = (render_comparison(comparison, args.layout, with_ci=args.ci) if fmt == "latex"
                else RENDERERS[fmt](comparison, args.layout))
        try:
            write_text(path, text)
        except OSError as exc:
            raise TTMBenchError(f"cannot write {path}: {exc.strerror or exc}; choose another "
                                "--out") from None
        print(f"wrote {path}", file=sys.stderr)
    sys.stdout.write(RENDERERS["md"](comparison, args.layout))
    return 0
