"""`ttm-bench` entry point: builds the argument parser from the command modules and dispatches.

Each module in `ttm_bench.commands` exposes `register(subparsers)`, adding its sub-commands with
a `func(args) -> int` default. User errors (`TTMBenchError`) and a full, read-only or forbidden
output location print one message and exit 2.
"""

from __future__ import annotations

import argparse
import errno
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
    "ttm_bench.commands.report",
    "ttm_bench.commands.demo",
    "ttm_bench.commands.study",
    "ttm_bench.commands.weights",
)


#: The fix for errors of the disk rather than of ttm-bench: a full, read-only or forbidden
#: output location. Every writer writes a temporary and renames it, so nothing half-written
#: stays behind and rerunning the same command afterwards resumes.
_ENVIRONMENT_FIXES = {
    errno.ENOSPC: "the disk is full: free space and rerun the same command, or choose an output "
                  "directory on another disk",
    errno.EDQUOT: "the disk quota is exceeded: free space and rerun the same command, or choose "
                  "an output directory elsewhere",
    errno.EROFS: "the filesystem is read-only: choose an output directory on a writable disk",
    errno.EACCES: "permission denied: fix the permissions, or choose another output directory",
    errno.EPERM: "operation not permitted: fix the permissions, or choose another output "
                 "directory",
    errno.ENOTDIR: "a part of that path is a file, not a directory: choose another path",
    errno.EISDIR: "that path is a directory: give a file path",
}


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
    except OSError as exc:
        fix = _ENVIRONMENT_FIXES.get(exc.errno)
        if fix is None:
            raise
        print(f"ttm-bench: error: cannot write {exc.filename or 'an output file'}: "
              f"{exc.strerror}; {fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ttm-bench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
