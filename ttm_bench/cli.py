"""`ttm-bench` entry point: builds the argument parser from the command modules and dispatches.

Each module in `ttm_bench.commands` exposes `register(subparsers)`, adding its sub-commands with
a `func(args) -> int` default. User errors (`TTMBenchError`) print one message and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ttm_bench import __version__
from ttm_bench.errors import TTMBenchError

COMMAND_MODULES = (
    "ttm_bench.commands.bench",
    "ttm_bench.commands.generate",
    "ttm_bench.commands.evaluate",
    "ttm_bench.commands.leaderboard",
    "ttm_bench.commands.compare",
    "ttm_bench.commands.demo",
    "ttm_bench.commands.study",
    "ttm_bench.commands.weights",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ttm-bench", description="Benchmark and evaluation suite for image-to-video models."
    )
    parser.add_argument("--version", action="version", version=f"ttm-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TTMBenchError as exc:
        print(f"ttm-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ttm-bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
