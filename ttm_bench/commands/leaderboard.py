"""`ttm-bench leaderboard`: compare evaluated runs in one table (Markdown or HTML)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttm_bench.atomic import write_text
from ttm_bench.commands.key_values import parse_names
from ttm_bench.errors import TTMBenchError
from ttm_bench.report.leaderboard import RENDERERS, build_leaderboard
from ttm_bench.report.results import load_results


def add_results_arguments(parser: argparse.ArgumentParser) -> None:
    """The RESULTS directories and the --splits/--metrics selection shared by report commands
    (read them with `selection`)."""
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                        help="results directories written by `ttm-bench evaluate`")
    parser.add_argument("--splits", default=None,
                        help="comma-separated splits to show, in order (e.g. single,multi or all)")
    parser.add_argument("--metrics", default=None,
                        help="comma-separated metrics to show, in order (e.g. fvd16,ad_dis)")


def selection(args: argparse.Namespace) -> tuple[list[str] | None, list[str] | None]:
    """The --splits and --metrics names (None: the defaults)."""
    splits, metrics = ([None if text is None else parse_names(text, option)
                        for text, option in ((args.splits, "--splits"),
                                             (args.metrics, "--metrics"))])
    return splits, metrics


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "leaderboard",
        help="compare evaluated runs in one table",
        description="One row per run, metric columns grouped by split, each cell "
                    "'value (CI low–high)'; notes explain missing values and incomplete runs, "
                    "and the footer names the preset behind every metric.",
    )
    add_results_arguments(parser)
    parser.add_argument("--format", choices=sorted(RENDERERS), default="md",
                        help="output format (default: md)")
    parser.add_argument("--out", default="-", help="output file, or - for stdout (default)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out != "-" and Path(args.out).is_dir():
        raise TTMBenchError(f"--out {args.out} is a directory; give a file path, e.g. --out "
                            f"{Path(args.out) / f'leaderboard.{args.format}'}")
    splits, metrics = selection(args)
    board = build_leaderboard([load_results(p) for p in args.results],
                              splits=splits, metrics=metrics)
    text = RENDERERS[args.format](board)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
