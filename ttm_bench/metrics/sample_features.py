"""Per-sample features of a set-level metric, kept in a results directory for paired comparisons.

A set-level metric such as FVD has no per-sample values, so `ttm-bench compare` recomputes it on
paired bootstrap resamples from the features the evaluation kept, never from the model.
One file per metric, `features/<metric>.npz` in the results directory (`FEATURES_DIR`), read
with `numpy.load(allow_pickle=False)`:

    format       str, `FORMAT`
    metric       str, the metric name (e.g. `fvd16`)
    preset_hash  str, the preset that produced the features (as in results.json)
    sample_id    str [N], unique, in evaluation order
    split        str [N], each sample's split
    generated    float64 [N, D], features of each sample's generated video
    reference    float64 [N, D], features of each sample's ground-truth clip

Row i of `generated` and `reference` belongs to `sample_id[i]`. They are the metric's
`state()` (role → sample id → features), so the metric class itself recomputes its value from
them (`merge_state`, then `compute_on`), with no network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttm_bench.atomic import atomic_path
from ttm_bench.errors import TTMBenchError

FORMAT = "ttm-bench-sample-features/1"
FEATURES_DIR = "features"

_ROLES = ("generated", "reference")


def features_file(metric: str) -> str:
    """The features file of `metric`, relative to the results directory (POSIX)."""
    return f"{FEATURES_DIR}/{metric}.npz"


def features_path(results_dir: str | os.PathLike[str], metric: str) -> Path:
    """Where the results directory keeps the features of `metric`."""
    return Path(results_dir) / features_file(metric)


@dataclass(frozen=True)
class SampleFeatures:
    """The features of one set-level metric, one row per sample (see the module docstring)."""

    metric: str
    preset_hash: str
    sample_ids: tuple[str, ...]
    splits: tuple[str, ...]
    generated: np.ndarray
    reference: np.ndarray

    @classmethod
    def from_state(cls, metric: str, preset_hash: str,
                   state: Mapping[str, Mapping[str, np.ndarray]],
                   split_of: Mapping[str, str]) -> SampleFeatures:
        """From a metric's `state()`: role ("generated", "reference") → sample id → float [D].
        Only samples in `split_of` (sample id → split) are kept, e.g. not videos another metric
        refused."""
        ids = tuple(s for s in state["generated"] if s in split_of)
        return cls(metric, preset_hash, ids, tuple(split_of[s] for s in ids),
                   _stack([state["generated"][s] for s in ids]),
                   _stack([state["reference"][s] for s in ids]))

    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """The metric `state()` these features came from, for its `merge_state`."""
        return {role: dict(zip(self.sample_ids, getattr(self, role), strict=True))
                for role in _ROLES}


def _stack(vectors: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack(vectors).astype(np.float64) if vectors else np.zeros((0, 0))


def write(path: str | os.PathLike[str], features: SampleFeatures) -> None:
    """Write `features` to `path` (.npz) atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, format=np.str_(FORMAT), metric=np.str_(features.metric),
                 preset_hash=np.str_(features.preset_hash),
                 sample_id=np.array(features.sample_ids, dtype=np.str_),
                 split=np.array(features.splits, dtype=np.str_),
                 generated=features.generated, reference=features.reference)


def read(path: str | os.PathLike[str]) -> SampleFeatures:
    """Read and check a file written by `write`; errors name the file and the fix."""
    fix = "re-run `ttm-bench evaluate` for this results directory to rewrite it"
    try:
        with np.load(path, allow_pickle=False) as data:
            fields = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise TTMBenchError(f"{path} does not exist; {fix}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise TTMBenchError(f"{path} is not a features file ({exc}); {fix}") from None
    if str(fields.get("format", "")) != FORMAT:
        raise TTMBenchError(f"{path} is not in format {FORMAT!r} (format "
                            f"{str(fields.get('format'))!r}); {fix}")
    missing = sorted({"metric", "preset_hash", "sample_id", "split", *_ROLES}
                     - set(fields))
    if missing:
        raise TTMBenchError(f"{path} lacks the field(s) {missing}; {fix}")
    ids = tuple(str(s) for s in fields["sample_id"].reshape(-1))
    generated = np.asarray(fields["generated"], dtype=np.float64)
    reference = np.asarray(fields["reference"], dtype=np.float64)
    problem = None
    if len(set(ids)) != len(ids):
        problem = "sample ids repeat"
    elif generated.ndim != 2 or generated.shape != reference.shape or (
            generated.shape[0] != len(ids)) or fields["split"].shape != (len(ids),):
        problem = (f"shapes disagree: {len(ids)} sample ids, {fields['split'].shape} splits, "
                   f"generated {generated.shape}, reference {reference.shape}")
    elif not (np.all(np.isfinite(generated)) and np.all(np.isfinite(reference))):
        problem = "features contain NaN or inf"
    if problem:
        raise TTMBenchError(f"{path}: {problem}; {fix}")
    return SampleFeatures(str(fields["metric"]), str(fields["preset_hash"]), ids,
                          tuple(str(s) for s in fields["split"]), generated, reference)
