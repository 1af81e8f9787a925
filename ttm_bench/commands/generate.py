"""`ttm-bench generate` and `ttm-bench models`: run a model over a benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ttm_bench.commands.bench import add_skip_verify_argument
from ttm_bench.commands.executor_options import add_executor_arguments, ray_options
from ttm_bench.commands.key_values import parse_overrides


def build_executor(args: argparse.Namespace) -> Any:
    """None (the runner's local executor) or a `RayExecutor` from the --executor options."""
    options = ray_options(args)
    if options is None:
        return None
    from ttm_bench.generation.ray_executor import RayExecutor

    return RayExecutor(options["address"], num_workers=options["num_workers"],
                       sample_timeout_s=options["timeout"], progress=not args.quiet)


def _generate(args: argparse.Namespace) -> int:
    from ttm_bench.generation.runner import generate_run, parse_shard

    summary = generate_run(
        args.bench, args.model, args.out,
        overrides=parse_overrides(args.set), shard=parse_shard(args.shard),
        repetition=args.repetition, device=args.device, progress=not args.quiet,
        executor=build_executor(args), verify=not args.skip_verify,
    )
    print(summary.describe())
    return 1 if summary.failed else 0


def _models(args: argparse.Namespace) -> int:
    from ttm_bench.generation.registry import list_models, resolve_model

    names = list_models()
    width = max(map(len, names), default=0)
    for name in names:
        cls = resolve_model(name)
        print(f"{name:{width}s}  v{cls.version}  config: {dict(cls.default_config)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="generate a run: one model over a benchmark")
    p.add_argument("--bench", required=True, type=Path, help="benchmark directory")
    p.add_argument("--model", required=True, help="registered name or module:Class")
    p.add_argument("--out", required=True, type=Path, help="run directory (resumed if present)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config value (repeatable)")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="process every N-th sample")
    p.add_argument("--repetition", type=int, default=0, help="seed repetition index")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_skip_verify_argument(p)
    add_executor_arguments(p, per_item="sample")
    p.set_defaults(func=_generate)
    p = subparsers.add_parser("models", help="list registered models")
    p.set_defaults(func=_models)
