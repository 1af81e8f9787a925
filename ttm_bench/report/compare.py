"""Paired comparisons of evaluated runs against a baseline run, on the samples both evaluated.

For every other run, metric and split, `build_comparison` pairs the samples present (and valid)
in both runs and computes Δ = run − baseline with a paired bootstrap interval and a two-sided
p-value (`metrics.paired`: sign-flip permutation test for per-sample metrics, paired bootstrap
for set-level ones, recomputed from the features the evaluation kept). The p-values of one
comparison are Holm–Bonferroni adjusted as one family, and each cell gets a verdict from the
adjusted p-value and the metric's direction. Everything here is pure computation on loaded
results (`run_samples.load_run_samples`); renderers live in `compare_tables` and `latex`.

Conventions:
- runs must share the benchmark content hash and, per metric, the preset hash;
- values are the metric over the paired samples of the cell, so Δ = run value − baseline value;
  a pair whose value is undefined (NaN) in either run is left out and counted (`n_undefined`);
  the baseline's own value (`Comparison.baseline_values`) is over every sample it evaluated;
- splits: every split of the runs, then `all`; metrics: those every run computed (registry
  order), unless chosen;
- every cell resamples with the same seed, so cells with the same n share their resample ids.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttm_bench.data.sample import ALL_SPLIT
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics.paired import (
    PairedDifference,
    Verdict,
    holm_adjust,
    paired_mean_difference,
    paired_statistic_difference,
    verdict,
)
from ttm_bench.report.leaderboard import (
    check_benchmarks,
    check_presets,
    check_runs_unique,
    choose,
    metric_info,
    metric_order,
    unalias,
)
from ttm_bench.report.results import BenchmarkRef, PresetRecord
from ttm_bench.report.run_samples import MetricSamples, RunSamples

#: Significance markers of the adjusted p-value, strictest first.
MARKERS = ((0.001, "***"), (0.01, "**"), (0.05, "*"))

#: Verdict words for metrics with no better direction, by metric family (name prefix).
_DIRECTIONLESS_WORDS = {"ad": ("more motion", "less motion")}


@dataclass(frozen=True)
class MetricColumn:
    """A compared metric: name, display label and direction (None: no better direction)."""

    name: str
    label: str
    higher_is_better: bool | None
    preset: PresetRecord


@dataclass(frozen=True)
class PairedCell:
    """One run against the baseline on one metric and split.

    n_paired: samples of the split present in both runs with a defined value in both;
    n_undefined: pairs left out because the value is undefined (NaN: a metric with
    `undefined_when`, e.g. motion locality of a static video) in either run;
    baseline_value/run_value: the metric over the n_paired samples; delta = run_value −
    baseline_value, [ci_low, ci_high] its paired interval; p_value raw and p_adjusted
    Holm–Bonferroni over the comparison's family;
    test: how p_value was computed; verdict: `Verdict.value`, or the metric's own words for
    metrics with no better direction (AD: "more motion"/"less motion").
    """

    run: str
    metric: str
    split: str
    n_paired: int
    baseline_value: float
    run_value: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    test: str
    verdict: str
    n_undefined: int = 0

    @property
    def marker(self) -> str:
        """`*`, `**`, `***` for adjusted p below 0.05, 0.01, 0.001; empty otherwise."""
        return next((m for limit, m in MARKERS if self.p_adjusted < limit), "")


@dataclass(frozen=True)
class PairingGap:
    """Samples evaluated by only one of (baseline, run), over the compared metrics."""

    run: str
    only_in_baseline: tuple[str, ...]
    only_in_run: tuple[str, ...]


@dataclass(frozen=True)
class Comparison:
    """Every run against the baseline: cells in (run, metric, split) order.

    baseline_values: (metric, split) → the baseline's value over every sample it evaluated in
    the split (its leaderboard value). family_size: the number of finite p-values adjusted
    together; alpha: the family-wise level of the verdicts.
    """

    benchmark: BenchmarkRef | None
    baseline: str
    runs: tuple[str, ...]
    metrics: tuple[MetricColumn, ...]
    splits: tuple[str, ...]
    cells: tuple[PairedCell, ...]
    baseline_values: dict[tuple[str, str], float]
    gaps: tuple[PairingGap, ...]
    n_boot: int
    seed: int
    level: float
    alpha: float
    family_size: int

    def cell(self, run: str, metric: str, split: str) -> PairedCell:
        return next(c for c in self.cells
                    if (c.run, c.metric, c.split) == (run, metric, split))

    @property
    def adjustment(self) -> str:
        """The multiple-comparison statement every rendering shows."""
        return (f"p-values Holm–Bonferroni adjusted over the {self.family_size} tests of this "
                f"table (family-wise α = {self.alpha:g})")


def _split_rows(samples: MetricSamples, split: str) -> dict[str, int]:
    """Sample id → row in `samples`, for one split (`all`: every sample)."""
    return {sid: i for i, (sid, s) in enumerate(zip(samples.sample_ids, samples.splits,
                                                    strict=True))
            if split == ALL_SPLIT or s == split}


def _difference(run: MetricSamples, baseline: MetricSamples, run_rows: np.ndarray,
                base_rows: np.ndarray, n_boot: int, level: float,
                seed: int) -> PairedDifference:
    if run.values is not None and baseline.values is not None:
        return paired_mean_difference(run.values[run_rows], baseline.values[base_rows],
                                      n_boot=n_boot, level=level, seed=seed)
    return paired_statistic_difference(lambda idx: run.statistic(run_rows[idx]),
                                       lambda idx: baseline.statistic(base_rows[idx]),
                                       len(run_rows), n_boot=n_boot, level=level, seed=seed)


def _paired_cell(run: RunSamples, base: RunSamples, metric: str, split: str, n_boot: int,
                 level: float, seed: int) -> PairedCell:
    """The cell before adjustment: samples of `split` in both runs, paired by sample id."""
    run_samples, base_samples = run.metric(metric), base.metric(metric)
    run_rows, base_rows = _split_rows(run_samples, split), _split_rows(base_samples, split)
    paired = sorted(set(run_rows) & set(base_rows))
    r_idx = np.array([run_rows[s] for s in paired], dtype=np.int64)
    b_idx = np.array([base_rows[s] for s in paired], dtype=np.int64)
    defined = _defined(run_samples, r_idx) & _defined(base_samples, b_idx)
    r_idx, b_idx = r_idx[defined], b_idx[defined]
    diff = _difference(run_samples, base_samples, r_idx, b_idx, n_boot, level, seed)
    return PairedCell(run.results.run, metric, split, len(r_idx),
                      base_samples.statistic(b_idx), run_samples.statistic(r_idx), diff.delta,
                      diff.ci_low, diff.ci_high, diff.p_value, math.nan, diff.test, "",
                      n_undefined=int((~defined).sum()))


def _defined(samples: MetricSamples, rows: np.ndarray) -> np.ndarray:
    """bool [len(rows)]: the rows whose value is defined (not NaN; set-level: all)."""
    if samples.values is None:
        return np.ones(len(rows), dtype=bool)
    return ~np.isnan(samples.values[rows])


def verdict_text(result: Verdict, metric: str) -> str:
    """The verdict in words; directionless metrics use their family's words if it has some."""
    family = next((f for f in _DIRECTIONLESS_WORDS if metric.startswith(f)), None)
    if family is None or result not in (Verdict.HIGHER, Verdict.LOWER):
        return result.value
    more, less = _DIRECTIONLESS_WORDS[family]
    return more if result is Verdict.HIGHER else less


def _find_baseline(runs: Sequence[RunSamples], baseline: str) -> RunSamples:
    for run in runs:
        if baseline == run.results.run:
            return run
    for run in runs:
        if Path(baseline).resolve() == run.results.directory.resolve():
            return run
    raise UnknownNameError("baseline run", baseline, [r.results.run for r in runs])


def _chosen(runs: Sequence[RunSamples], metrics: Sequence[str] | None,
            splits: Sequence[str] | None) -> tuple[list[str], list[str]]:
    results = [r.results for r in runs]
    known = metric_order(results)
    everywhere = [m for m in known if all(m in r.presets for r in results)]
    if metrics is not None:
        metrics = choose(unalias(metrics, known), known, "metric")
        for m in metrics:
            lacking = [r.run for r in results if m not in r.presets]
            if lacking:
                raise TTMBenchError(f"metric {m!r} was not evaluated for {', '.join(lacking)}; "
                                    "evaluate it for every compared run, or leave it out of "
                                    "--metrics")
    elif not everywhere:
        raise TTMBenchError("the runs have no evaluated metric in common; evaluate the same "
                            "metrics for every compared run")
    available = list(dict.fromkeys(s for r in results for s in r.splits if s != ALL_SPLIT))
    available.append(ALL_SPLIT)
    chosen_splits = available if splits is None else choose(splits, available, "split")
    return (everywhere if metrics is None else list(metrics)), chosen_splits


def build_comparison(
    runs: Sequence[RunSamples],
    baseline: str,
    *,
    metrics: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    alpha: float = 0.05,
) -> Comparison:
    """Compare every run with `baseline` (a run name or results directory among `runs`).

    runs: loaded with the per-sample data of the compared metrics (`load_run_samples`).
    """
    if len(runs) < 2:
        raise TTMBenchError("compare needs the baseline and at least one other results "
                            "directory")
    results = [r.results for r in runs]
    check_runs_unique(results)
    check_benchmarks(results)
    base = _find_baseline(runs, baseline)
    chosen_metrics, chosen_splits = _chosen(runs, metrics, splits)
    check_presets(results, chosen_metrics)
    others = [r for r in runs if r is not base]
    raw: list[tuple[PairedCell, bool | None]] = []
    gaps = []
    for run in others:
        base_ids = {s for m in chosen_metrics for s in base.metric(m).sample_ids}
        run_ids = {s for m in chosen_metrics for s in run.metric(m).sample_ids}
        gaps.append(PairingGap(run.results.run, tuple(sorted(base_ids - run_ids)),
                               tuple(sorted(run_ids - base_ids))))
        for metric in chosen_metrics:
            direction = metric_info(results, metric)[1]
            raw += [(_paired_cell(run, base, metric, split, n_boot, level, seed), direction)
                    for split in chosen_splits]
    adjusted = holm_adjust([cell.p_value for cell, _ in raw])
    cells = tuple(
        _with_verdict(cell, p, direction, alpha)
        for (cell, direction), p in zip(raw, adjusted, strict=True))
    baseline_values = {
        (m, s): base.metric(m).statistic(np.array(list(_split_rows(base.metric(m), s).values()),
                                                   dtype=np.int64))
        for m in chosen_metrics for s in chosen_splits}
    return Comparison(
        benchmark=base.results.benchmark,
        baseline=base.results.run,
        runs=tuple(r.results.run for r in others),
        metrics=tuple(MetricColumn(m, *metric_info(results, m), base.results.presets[m])
                      for m in chosen_metrics),
        splits=tuple(chosen_splits),
        cells=cells,
        baseline_values=baseline_values,
        gaps=tuple(gaps),
        n_boot=n_boot,
        seed=seed,
        level=level,
        alpha=alpha,
        family_size=sum(math.isfinite(p) for p in adjusted),
    )


def _with_verdict(cell: PairedCell, p_adjusted: float, direction: bool | None,
                  alpha: float) -> PairedCell:
    result = verdict(cell.delta, p_adjusted, direction, alpha)
    return dataclasses.replace(cell, p_adjusted=p_adjusted,
                               verdict=verdict_text(result, cell.metric))

