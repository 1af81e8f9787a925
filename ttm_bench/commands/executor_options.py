"""The `--executor local|ray` options shared by `generate` and `evaluate` (not a command)."""

from __future__ import annotations

import argparse
from typing import Any

from ttm_bench.errors import TTMBenchError


def add_executor_arguments(parser: argparse.ArgumentParser, per_item: str) -> None:
    """Add --executor, --address, --workers and --timeout (seconds per `per_item`)."""
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: this process; ray: an actor pool on a Ray cluster")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address ('auto': the `ray start` cluster on this "
                             "machine); default: a private local instance")
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray actors (model replicas); default: as many as the cluster fits")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help=f"Ray: replace a worker that spends longer than this per {per_item}")


def ray_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """None for --executor local (refusing Ray-only options), else the Ray executor's keywords
    (address, num_workers, timeout)."""
    if args.executor == "local":
        if args.address or args.workers or args.timeout:
            raise TTMBenchError("--address, --workers and --timeout need --executor ray")
        return None
    return {"address": args.address, "num_workers": args.workers, "timeout": args.timeout}
