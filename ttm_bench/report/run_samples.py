"""Read what paired comparisons need from a results directory: per-sample values and features.

`per_sample.parquet` (sample_id, split, metric, value) holds the per-sample metrics;
`features/<metric>.npz` (`metrics.sample_features`) the features of each set-level metric, from
which its value on any subset of samples is recomputed without the model. Results directories
written before features were kept lack them: asking for such a metric says to re-run evaluate.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics import sample_features
from ttm_bench.metrics.sample_features import SampleFeatures, features_path
from ttm_bench.report.results import Results, load_results

PER_SAMPLE_FILE = "per_sample.parquet"
_COLUMNS = ("sample_id", "split", "metric", "value")


@dataclass(frozen=True)
class MetricSamples:
    """One run's samples of one metric: ids in evaluation order, their splits, and either
    per-sample `values` (float64 [n]) or the `features` of a set-level metric."""

    sample_ids: tuple[str, ...]
    splits: tuple[str, ...]
    values: np.ndarray | None = None
    features: SampleFeatures | None = None

    def statistic(self, rows: np.ndarray) -> float:
        """The metric over these rows (int indices, repeats allowed): the mean of per-sample
        values, or the set statistic recomputed from the features."""
        if self.values is not None:
            return float(self.values[rows].mean()) if len(rows) else math.nan
        assert self.features is not None
        return self.features.compute_on(rows)


def _read_per_sample(root: Path) -> pd.DataFrame:
    path = root / PER_SAMPLE_FILE
    fix = f"re-run `ttm-bench evaluate` with --out {root} to rewrite it"
    try:
        table = pd.read_parquet(path)
    except FileNotFoundError:
        raise TTMBenchError(f"{path} does not exist; {fix}") from None
    except (OSError, ValueError) as exc:
        raise TTMBenchError(f"{path} is not a readable parquet table ({exc}); {fix}") from None
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise TTMBenchError(f"{path} lacks the column(s) {missing}; {fix}")
    if table.duplicated(["sample_id", "metric"]).any():
        raise TTMBenchError(f"{path} has two values for one (sample_id, metric); {fix}")
    values = pd.to_numeric(table["value"], errors="coerce")
    if not np.all(np.isfinite(values.to_numpy(dtype=np.float64))):
        raise TTMBenchError(f"{path} has values that are not finite numbers; {fix}")
    return table.assign(value=values.astype(np.float64))


def _set_level(results: Results, metric: str) -> MetricSamples:
    root = results.directory
    path = features_path(root, metric)
    if not path.is_file():
        raise TTMBenchError(
            f"{root} has no per-sample values or features for {metric!r} ({path} is missing: "
            "results written before evaluation kept the features of set-level metrics); re-run "
            f"`ttm-bench evaluate` with --out {root} (the feature cache makes that cheap), or "
            "leave the metric out with --metrics")
    features = sample_features.read(path)
    expected = results.presets[metric].hash
    if features.metric != metric or features.preset_hash != expected:
        raise TTMBenchError(f"{path} holds features of {features.metric!r} with preset "
                            f"{features.preset_hash}, but {root / 'results.json'} has {metric!r} "
                            f"with preset {expected}; the directory was edited or mixed: re-run "
                            f"`ttm-bench evaluate` with --out {root}")
    return MetricSamples(features.sample_ids, features.splits, features=features)


class RunSamples:
    """An evaluated run: its `results` and, loaded on first use, each metric's samples."""

    def __init__(self, results: Results, per_sample: pd.DataFrame) -> None:
        self.results = results
        self._per_sample = per_sample
        self._loaded: dict[str, MetricSamples] = {}

    def metric(self, name: str) -> MetricSamples:
        """The samples of an evaluated metric (`name` in `results.presets`)."""
        if name not in self._loaded:
            rows = self._per_sample[self._per_sample["metric"] == name]
            evaluated = any(r.n > 0 for r in self.results.aggregate if r.metric == name)
            if len(rows) or not evaluated:
                self._loaded[name] = MetricSamples(
                    tuple(rows["sample_id"].astype(str)), tuple(rows["split"].astype(str)),
                    values=rows["value"].to_numpy(dtype=np.float64))
            else:
                self._loaded[name] = _set_level(self.results, name)
        return self._loaded[name]


def load_run_samples(directory: str | os.PathLike[str]) -> RunSamples:
    """The results in `directory` with its per-sample values (features load on demand)."""
    results = load_results(directory)
    return RunSamples(results, _read_per_sample(results.directory))
