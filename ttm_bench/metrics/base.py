"""The metric protocol: small stateful classes with `update` and `compute`, pinned by a preset.

A metric is built from a `Preset` (its name and every parameter that can change a number, hashed
into `Preset.hash`), fed one `EvalItem` per video through `update`, and asked for the value over
any subset of samples through `compute_on` — the evaluation uses that for per-split values and
for bootstrap resamples (ids may repeat). Per-sample metrics also expose `per_sample()`.

Metrics never decode videos or read files: the evaluation decodes each video once and hands the
same arrays to every metric.

Distributed evaluation (`evaluation_ray`) pickles the driver's metrics to each worker, which
calls `setup` again there (what `setup` loaded is left out of the pickle; see
`ModelMetric.__getstate__`), feeds it a chunk of videos and sends back `state()`; the driver
`merge_state`s the chunks in input order, which must leave it as if it had seen every video.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.overrides import check_overrides

#: Names an `EvalItem` field a metric can require beyond the video itself.
REQUIREMENTS = frozenset({"caption", "image", "reference", "masks", "masklets", "trajectory"})


@dataclass(frozen=True)
class Preset:
    """Everything that pins a metric's number. Two equal presets give equal numbers."""

    metric: str
    params: Mapping[str, Any]
    version: str = "1"

    @property
    def hash(self) -> str:
        """16 hex digits of sha256 over the canonical JSON of (metric, version, params)."""
        blob = json.dumps(
            {"metric": self.metric, "version": self.version, "params": dict(self.params)},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "version": self.version, "params": dict(self.params),
                "hash": self.hash}

    def extended(self, params: Mapping[str, Any]) -> Preset:
        """This preset with more parameters (e.g. those of the chosen backend only)."""
        return Preset(self.metric, {**self.params, **params}, self.version)


def pop_own_params(params: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Remove from `params` the keys of `defaults` (the parameters only one backend reads) and
    return `defaults` updated with them, for `Preset.extended` once the metric is built."""
    return {**defaults, **{key: params.pop(key) for key in list(params) if key in defaults}}


@dataclass
class EvalItem:
    """One generated video and what metrics may compare it with.

    video: uint8 [T, H, W, 3] as decoded from the run. fps: its frame rate.
    image: uint8 [H, W, 3], the benchmark's input frame x(0).
    reference: uint8 [T', H', W', 3], the benchmark's ground-truth clip.
    video_sha256: content hash of the encoded file, for feature caches.
    masks: bool [L, H, W], the benchmark's first-frame object masks s(0) at the video's size.
    masklets: bool [T, L, H, W], the benchmark's per-frame masks of the same objects.
    trajectory: bool [T, L, H, W], the per-object masks the run's model generated this video
        from (its stage-1 trajectory, saved by the runner), checked against the sidecar's hash.
    """

    sample_id: str
    split: str
    video: np.ndarray
    fps: float
    caption: str | None = None
    image: np.ndarray | None = None
    reference: np.ndarray | None = None
    video_sha256: str | None = None
    masks: np.ndarray | None = None
    masklets: np.ndarray | None = None
    trajectory: np.ndarray | None = None


class MissingWeightsError(TTMBenchError):
    """A checkpoint a metric or model needs is not installed; the message names the fix."""


class Metric(ABC):
    """Base class. Subclasses set the class attributes and implement `update`/`compute_on`.

    higher_is_better: True/False for the leaderboard's ↑/↓, None when no direction is better.
    requires: which `EvalItem` fields (see `REQUIREMENTS`) must be present.
    default_params: the pinned preset parameters; constructor keywords override them.
    """

    name: ClassVar[str]
    label: str = ""  # set from the registry entry by `create_metric`
    higher_is_better: ClassVar[bool | None]
    requires: ClassVar[frozenset[str]] = frozenset()
    default_params: ClassVar[Mapping[str, Any]] = {}
    preset_version: ClassVar[str] = "1"
    #: For a metric undefined on some videos (motion locality of a static video): what those
    #: samples are, formatted with the preset's parameters, e.g. "static videos (mean
    #: displacement below {static_px} px/frame)". None: every value is defined.
    undefined_when: ClassVar[str | None] = None

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.default_params))
        if unknown:
            raise TTMBenchError(f"metric {self.name!r} has no parameter(s) {unknown}; "
                                f"known: {sorted(self.default_params) or 'none'}")
        params = check_overrides(self.default_params, params, f"metric {self.name!r}",
                                 f"--metric-option {self.name}.")
        self.preset = Preset(self.name, {**self.default_params, **params}, self.preset_version)
        self.warnings: list[str] = []
        self.reset()

    @property
    def params(self) -> Mapping[str, Any]:
        return self.preset.params

    def setup(self, device: str) -> None:  # noqa: B027 - optional hook
        """Load models/weights. Raise `MissingWeightsError` when a checkpoint is missing."""

    def choose_inputs(self, available: frozenset[str]) -> None:  # noqa: B027 - optional hook
        """Settle preset parameters that depend on what the inputs provide (`available`: names
        of `REQUIREMENTS`), such as an `auto` choice, before `requires` is checked; the chosen
        value goes into the preset, so results say which was used."""

    @abstractmethod
    def reset(self) -> None:
        """Drop all accumulated state."""

    @abstractmethod
    def update(self, item: EvalItem) -> None:
        """Accumulate one video."""

    @abstractmethod
    def compute_on(self, sample_ids: Sequence[str]) -> float:
        """The metric over these samples (ids may repeat, as in bootstrap resamples)."""

    @property
    @abstractmethod
    def sample_ids(self) -> list[str]:
        """Ids of the samples accumulated so far, in update order."""

    def per_sample(self) -> dict[str, float]:
        """Per-sample values; empty for set-level metrics such as FVD."""
        return {}

    def compute(self) -> float:
        """The metric over every accumulated sample."""
        return self.compute_on(self.sample_ids)

    def state(self) -> Any:
        """What `update` accumulated, as picklable data, to merge into a copy in another process
        (distributed evaluation); work `update` deferred is done first. Metrics that support it
        override this and `merge_state`."""
        raise TTMBenchError(f"metric {self.name!r} cannot be evaluated distributed yet (it has "
                            "no state()/merge_state()); evaluate it without --executor ray")

    def merge_state(self, state: Any) -> None:
        """Add the samples of another copy's `state()`, as if `update` had seen them here."""
        raise TTMBenchError(f"metric {self.name!r} cannot merge distributed state")


class PerSampleMetric(Metric):
    """A metric that scores each video alone and aggregates by the mean.

    A metric with `undefined_when` scores NaN where it is undefined: such samples stay in
    `per_sample()` as NaN, are left out of the mean (and of the evaluation's interval), are
    listed by `undefined_ids` and named in a warning, never dropped silently. Any other
    non-finite score is refused.
    """

    def reset(self) -> None:
        self._values: dict[str, float] = {}

    @abstractmethod
    def score(self, item: EvalItem) -> float:
        """The metric's value for one video."""

    def update(self, item: EvalItem) -> None:
        value = float(self.score(item))
        if not (np.isfinite(value) or (np.isnan(value) and self.undefined_when)):
            raise TTMBenchError(
                f"metric {self.name!r} gave {value} for sample {item.sample_id!r}; "
                "the video is likely degenerate (check it decodes and is not empty)"
            )
        self._values[item.sample_id] = value
        self._note_undefined()

    @property
    def undefined_ids(self) -> list[str]:
        """Samples whose value is undefined (NaN), in update order."""
        return [s for s, v in self._values.items() if np.isnan(v)]

    def _note_undefined(self) -> None:
        """Keep the warning that names the undefined samples up to date."""
        if self.undefined_when is None:
            return
        undefined = self.undefined_ids
        self.warnings = [] if not undefined else [
            f"undefined for {len(undefined)} of the run's {len(self._values)} sample(s), left "
            f"out of its means: {self.undefined_when.format(**self.params)}: "
            f"{', '.join(undefined[:5])}{' …' if len(undefined) > 5 else ''}"]

    @property
    def sample_ids(self) -> list[str]:
        return list(self._values)

    def per_sample(self) -> dict[str, float]:
        return dict(self._values)

    def state(self) -> dict[str, float]:
        return dict(self._values)

    def merge_state(self, state: dict[str, float]) -> None:
        self._values.update(state)
        self._note_undefined()

    def compute_on(self, sample_ids: Sequence[str]) -> float:
        """The mean over the samples' defined values; NaN when none is defined."""
        return mean_of_defined([self._values[s] for s in sample_ids])


def defined_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The values that are defined (not NaN: `Metric.undefined_when`), float64 [n ≤ len]."""
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]


def mean_of_defined(values: Sequence[float] | np.ndarray) -> float:
    """The mean of the defined values (the mean of a per-sample metric); NaN when none is."""
    defined = defined_values(values)
    return float(defined.mean()) if defined.size else float("nan")


@dataclass
class MetricSpec:
    """A registry entry: the class target, the preset parameters it overrides, and the label
    reports show (data, so reports can name a metric without importing its class).

    in_default_set: evaluated when no metric is named (False for opt-in compatibility presets
    that would recompute features). depends_on_n: the expected value moves with the number of
    samples (FVD), so values are shown with their n and compared only at equal n.
    """

    target: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    in_default_set: bool = True
    depends_on_n: bool = False
