"""`ttm-bench report`: the visual HTML report (leaderboard, plots, video gallery) of evaluated
runs, as a self-contained folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ttm_bench.commands.leaderboard import add_results_arguments, selection
from ttm_bench.errors import TTMBenchError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the visual HTML report (plots and a video gallery) of evaluated runs",
        description="Writes OUT/index.html and OUT/assets/: the leaderboard, plots of every "
                    "metric per run and split, the motion–consistency plane, per-sample "
                    "distributions, and a gallery with each sample's input and every run's "
                    "video. Opens from disk or any static server; nothing is fetched.",
    )
    add_results_arguments(parser)
    parser.add_argument("--out", type=Path, required=True,
                        help="report folder (index.html and assets/ in it are replaced)")
    parser.add_argument("--bench", type=Path, default=None,
                        help="benchmark directory (default: the one the results record)")
    parser.add_argument("--videos", action="append", default=[], metavar="RUN=DIR",
                        help="folder of RUN's <sample_id>.mp4 videos (default: the run "
                             "directory's videos/ the results record); repeatable")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ttm_bench.report.html_report import write_report

    videos = {}
    for item in args.videos:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise TTMBenchError(f"--videos {item!r}: expected RUN=DIR")
        if name in videos:
            raise TTMBenchError(f"--videos names run {name!r} twice")
        videos[name] = Path(folder)
    splits, metrics = selection(args)
    index = write_report(args.results, args.out, bench=args.bench, videos=videos,
                         splits=splits, metrics=metrics)
    print(f"wrote {index}", file=sys.stderr)
    return 0
