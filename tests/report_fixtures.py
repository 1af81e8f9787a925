"""Evaluated runs for the HTML report's tests: floors generated on a small synthetic benchmark
and evaluated with the weight-free motion metric, so every number and video is real."""

from __future__ import annotations

from pathlib import Path

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run

REPORT_MODELS = ("ground-truth", "ken-burns", "static")


def make_evaluated_runs(root: Path, bench: Benchmark) -> list[Path]:
    """Generate and evaluate (`ad_dis`) one run per floor under `root`; return the results
    directories, in `REPORT_MODELS` order."""
    results = []
    for model in REPORT_MODELS:
        run = root / "runs" / model
        generate_run(bench.root, model, run, progress=False)
        out = root / "results" / model
        evaluate(inputs_from_run(run, bench.root), out, ["ad_dis"], n_boot=200, progress=False)
        results.append(out)
    return results
