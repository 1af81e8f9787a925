"""Read what paired comparisons need from a results directory: per-sample values and features.

`per_sample.parquet` (sample_id, split, metric, value) holds the per-sample metrics;
`features/<metric>.npz` (`metrics.sample_features`) the features of each set-level metric, from
which its value on any subset of samples is recomputed without the model. Results directories
written before features were kept lack them: asking for such a metric says to re-run evaluate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics import sample_features
from ttm_bench.metrics.base import Metric, mean_of_defined
from ttm_bench.metrics.registry import create_metric
from ttm_bench.metrics.sample_features import SampleFeatures, features_file
from ttm_bench.report.results import Results, results_from_snapshot
from ttm_bench.results_dir import MANIFEST, open_results

PER_SAMPLE_FILE = "per_sample.parquet"
_COLUMNS = ("sample_id", "split", "metric", "value")


@dataclass(frozen=True)
class MetricSamples:
    """One run's samples of one metric: ids in evaluation order, their splits, and either
    per-sample `values` (float64 [n]) or a set-level metric holding the kept features."""

    sample_ids: tuple[str, ...]
    splits: tuple[str, ...]
    values: np.ndarray | None = None
    set_metric: Metric | None = None

    def statistic(self, rows: np.ndarray) -> float:
        """The metric over these rows (int indices, repeats allowed): the mean of per-sample
        values (undefined, NaN, ones left out, as the evaluation does; NaN when none is left),
        or the set-level metric's own `compute_on` of those samples."""
        if self.values is not None:
            return mean_of_defined(self.values[rows])
        assert self.set_metric is not None
        return self.set_metric.compute_on([self.sample_ids[r] for r in rows])


def _set_metric(results: Results, features: SampleFeatures) -> Metric:
    """The registered metric of the features' preset, holding them (no network is loaded)."""
    preset = results.presets[features.metric]
    metric = create_metric(features.metric, **preset.params)
    if metric.preset.hash != preset.hash:
        raise TTMBenchError(f"{results.directory / MANIFEST}: metric {features.metric!r} has "
                            f"preset {preset.hash}, but this ttm-bench builds it as "
                            f"{metric.preset.hash}; re-run `ttm-bench evaluate` with --out "
                            f"{results.directory}, or leave the metric out with --metrics")
    metric.merge_state(features.state())
    return metric


def _read_per_sample(path: Path, root: Path, can_be_undefined: set[str]) -> pd.DataFrame:
    """The per-sample table; values must be finite, or NaN for the metrics that can be
    undefined (`can_be_undefined`, from results.json)."""
    fix = f"re-run `ttm-bench evaluate` with --out {root} to rewrite it"
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise TTMBenchError(f"{path} is not a readable parquet table ({exc}); {fix}") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise TTMBenchError(f"{path} lacks the column(s) {missing}; {fix}")
    if table.duplicated(["sample_id", "metric"]).any():
        raise TTMBenchError(f"{path} has two values for one (sample_id, metric); {fix}")
    values = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=np.float64)
    allowed = np.isfinite(values) | (np.isnan(values) & table["metric"].isin(can_be_undefined))
    if not allowed.all():
        raise TTMBenchError(f"{path} has values that are not finite numbers (NaN is allowed only "
                            f"for metrics that can be undefined: {sorted(can_be_undefined)}); "
                            f"{fix}")
    return table.assign(value=values.astype(np.float64))


def _checked_features(results: Results, metric: str, path: Path) -> SampleFeatures:
    features = sample_features.read(path)
    expected = results.presets[metric].hash
    if features.metric != metric or features.preset_hash != expected:
        root = results.directory
        raise TTMBenchError(f"{path} holds features of {features.metric!r} with preset "
                            f"{features.preset_hash}, but {root / 'results.json'} has {metric!r} "
                            f"with preset {expected}; the directory was edited or mixed: re-run "
                            f"`ttm-bench evaluate` with --out {root}")
    return features


class RunSamples:
    """An evaluated run: its `results`, per-sample values and set-level features (the files
    as verified together by `open_results`)."""

    def __init__(self, results: Results, per_sample: pd.DataFrame,
                 features: Mapping[str, SampleFeatures]) -> None:
        self.results = results
        self._per_sample = per_sample
        self._features = features

    def metric(self, name: str) -> MetricSamples:
        """The samples of an evaluated metric (`name` in `results.presets`)."""
        rows = self._per_sample[self._per_sample["metric"] == name]
        evaluated = any(r.n > 0 for r in self.results.aggregate if r.metric == name)
        if len(rows) or not evaluated:
            return MetricSamples(tuple(rows["sample_id"].astype(str)),
                                 tuple(rows["split"].astype(str)),
                                 values=rows["value"].to_numpy(dtype=np.float64))
        if name not in self._features:
            root = self.results.directory
            raise TTMBenchError(
                f"{root} has no per-sample values or features for {name!r} "
                f"({features_file(name)} is missing: results written before evaluation kept the "
                f"features of set-level metrics); re-run `ttm-bench evaluate` with --out {root} "
                "(the feature cache makes that cheap), or leave the metric out with --metrics")
        features = self._features[name]
        return MetricSamples(features.sample_ids, features.splits,
                             set_metric=_set_metric(self.results, features))


def load_run_samples(directory: str | os.PathLike[str]) -> RunSamples:
    """The verified results in `directory` with its per-sample values and features."""
    snapshot = open_results(directory)
    results = results_from_snapshot(snapshot)
    if PER_SAMPLE_FILE not in snapshot.files:
        raise TTMBenchError(f"{snapshot.root / MANIFEST} lists no {PER_SAMPLE_FILE}; re-run "
                            f"`ttm-bench evaluate` with --out {snapshot.root}")
    per_sample = _read_per_sample(snapshot.path(PER_SAMPLE_FILE), snapshot.root,
                                  {m for m, info in results.metrics.items()
                                   if info.can_be_undefined})
    features = {metric: _checked_features(results, metric, snapshot.path(features_file(metric)))
                for metric in results.presets if features_file(metric) in snapshot.files}
    return RunSamples(results, per_sample, features)
