"""`ttm-bench evaluate` and `ttm-bench metrics`: score a run or a folder of videos."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ttm_bench.commands.executor_options import add_executor_arguments, ray_options
from ttm_bench.commands.key_values import parse_overrides
from ttm_bench.errors import TTMBenchError


def _evaluate(args: argparse.Namespace) -> int:
    from ttm_bench.evaluation import evaluate, inputs_from_folder, inputs_from_run

    executor = build_executor(args)
    if args.videos:
        if args.run or args.bench:
            raise TTMBenchError("give either --videos DIR --name NAME, or --bench DIR --run RUN")
        if not args.name:
            raise TTMBenchError("--videos needs --name NAME for the results")
        inputs = inputs_from_folder(args.videos, args.name)
    else:
        if not (args.run and args.bench):
            raise TTMBenchError("give --bench DIR and --run RUN (or --videos DIR --name NAME)")
        inputs = inputs_from_run(args.run, args.bench, args.name)
    metrics = [m for m in args.metrics.split(",") if m] if args.metrics else None
    options: dict[str, dict[str, Any]] = {}
    for key, value in parse_overrides(args.metric_option, "--metric-option").items():
        metric, dot, option = key.partition(".")
        if not dot or not metric or not option:
            raise TTMBenchError(f"--metric-option {key}={value}: expected METRIC.KEY=VALUE, "
                                "e.g. fvd16.checkpoint=/weights/i3d_torchscript.pt")
        options.setdefault(metric, {})[option] = value
    results = evaluate(inputs, args.out, metrics, metric_options=options, device=args.device,
                       n_boot=args.n_boot, seed=args.seed, progress=not args.quiet,
                       executor=executor)
    print(summarise(results))
    print(f"results written to {args.out}")
    return 0


def build_executor(args: argparse.Namespace) -> Any:
    """None (evaluate in this process) or a `RayFeatureExecutor` from the --executor options."""
    options = ray_options(args)
    if options is None:
        return None
    from ttm_bench.evaluation_ray import RayFeatureExecutor

    return RayFeatureExecutor(options["address"], num_workers=options["num_workers"],
                              chunk_timeout_s=options["timeout"])


def summarise(results: dict) -> str:
    """Human-readable lines of the aggregate, each with its preset hash."""
    lines = []
    for row in results["aggregate"]:
        value = "nan" if row["value"] is None else f"{row['value']:.4g}"
        ci = ("" if row["ci_low"] is None else f" [{row['ci_low']:.4g}, {row['ci_high']:.4g}]")
        incomplete = "" if row["n"] == row["n_expected"] else " INCOMPLETE"
        lines.append(f"{row['split']:>8s} {row['metric']:>12s} = {value}{ci} "
                     f"(n={row['n']}/{row['n_expected']}, preset {row['preset_hash']}){incomplete}")
    by_reason: dict[str, list[str]] = {}
    for name, reason in results["skipped_metrics"].items():
        by_reason.setdefault(reason, []).append(name)
    for reason, names in by_reason.items():
        lines.append(f"skipped {', '.join(names)}: {reason}")
    for sid, reason in results["invalid_samples"].items():
        lines.append(f"invalid {sid}: {reason}")
    return "\n".join(lines)


def _metrics(args: argparse.Namespace) -> int:
    from ttm_bench.metrics.registry import ALIASES, create_metric, list_metrics

    default_set = set(list_metrics(default_set_only=True))
    for name in list_metrics():
        m = create_metric(name)
        direction = {True: "higher is better", False: "lower is better", None: "no direction"}
        opt_in = "" if name in default_set else "  (opt-in: name it in --metrics)"
        print(f"{name:22s} preset {m.preset.hash}  {direction[m.higher_is_better]}  "
              f"{dict(m.params)}{opt_in}")
    for alias, target in sorted(ALIASES.items()):
        print(f"{alias:22s} alias of {target}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate a run (or a folder of videos)")
    p.add_argument("--bench", type=Path, help="benchmark directory the run was generated on")
    p.add_argument("--run", type=Path, help="run directory")
    p.add_argument("--videos", type=Path, help="folder of <sample_id>.mp4 (no benchmark)")
    p.add_argument("--name", help="run name in the results (default: run directory name)")
    p.add_argument("--metrics", help="comma-separated metric names (default: all that can run)")
    p.add_argument("--out", required=True, type=Path, help="results directory")
    p.add_argument("--metric-option", action="append", default=[], metavar="METRIC.KEY=VALUE",
                   help="a metric's keyword, e.g. fvd16.checkpoint=PATH or "
                        "clipframe.batch_size=64 (repeatable)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the CIs")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_arguments(p, per_item="chunk of videos")
    p.set_defaults(func=_evaluate)
    p = subparsers.add_parser("metrics", help="list metrics with their preset hashes")
    p.set_defaults(func=_metrics)
