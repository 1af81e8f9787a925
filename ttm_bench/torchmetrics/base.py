"""A ttm-bench metric preset behind `torchmetrics.Metric`: same preset, same number.

`SuiteMetric` builds the registered preset with `create_metric` (weights resolved by the
weights registry exactly as `ttm-bench evaluate` resolves them: a `checkpoint=` path, then
`$TTM_BENCH_WEIGHTS_DIR`, then the cache; a missing file raises the same `MissingWeightsError`
naming the fix) and feeds it `EvalItem`s built from the tensors given to `update`. What the
suite accumulates per video becomes torchmetrics state registered with `add_state(...,
dist_reduce_fx="cat")`, so DDP gathers every rank's per-sample values or features and
`compute` evaluates the preset on all of them: per-sample metrics average the gathered values,
set-level metrics (FVD) compute one distance on the gathered features — never an average of
per-rank FVDs.

Training code sees no disk writes: the suite's on-disk feature cache is off here, and object
tracks are shared in memory (`SHARED_TRACKS`).

Extension point: a new family needs a subclass that says which `update` arguments become which
`EvalItem` fields (`_items`, as `ObjectMotion` does with masks), and, if it is set-level, what it
accumulates (as `FrechetVideoDistance` does); per-sample families inherit everything else,
including undefined values (NaN per video, left out of the mean) for metrics that declare them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError, optional_dependency

with optional_dependency("ttm_bench.torchmetrics", "metrics"):
    from torchmetrics import Metric as TorchMetric
    from torchmetrics.utilities import dim_zero_cat
from ttm_bench.metrics.base import EvalItem, Metric, PerSampleMetric
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.objects.metrics import ObjectMetric
from ttm_bench.metrics.objects.track_cache import MemoryTrackCache
from ttm_bench.metrics.registry import canonical_name, create_metric, metric_class

#: Split name given to every item (torchmetrics has no splits).
SPLIT = "all"

#: Object tracks of the latest videos, shared by the object-motion metrics of this process (in
#: memory: nothing is written to disk), so several presets updated on one batch track it once.
SHARED_TRACKS = MemoryTrackCache(capacity=64)


class SuiteMetric(TorchMetric):
    """Base class: subclasses set `presets` (the registry names they accept) and `_items`."""

    is_differentiable = False
    full_state_update = False
    presets: ClassVar[tuple[str, ...]]

    def __init__(self, preset: str, *, checkpoint: str | os.PathLike[str] | None = None,
                 model: Any = None, device: str = "cpu",
                 metric_options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        """preset: a registry name (see `presets`); checkpoint/model: as `create_metric`'s;
        device: where the network runs; metric_options: preset parameters or other keywords
        of the suite metric (e.g. batch_size); kwargs: torchmetrics' own (sync_on_compute...)."""
        super().__init__(**kwargs)
        name = canonical_name(preset)
        if name not in self.presets:
            raise TTMBenchError(f"{type(self).__name__} computes {', '.join(self.presets)}; "
                                f"got preset {preset!r}")
        options = dict(metric_options or {})
        if checkpoint is not None:
            options["checkpoint"] = checkpoint
        if model is not None:
            options["model"] = model
        if issubclass(metric_class(name), ModelMetric):
            options.setdefault("feature_cache", FeatureCache(None))
        if issubclass(metric_class(name), ObjectMetric):
            options.setdefault("track_cache", SHARED_TRACKS)
        self.suite: Metric = create_metric(name, **options)
        self.suite.setup(device)
        self.network_device = device
        self.preset_name = name
        self._count = 0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Copies (`clone()`, pickling, DDP spawn) load the network again: the suite metric
        leaves a network it loaded out of its pickled state."""
        super().__setstate__(state)
        self.suite.setup(self.network_device)

    @property
    def preset(self) -> dict[str, Any]:
        """The preset record `ttm-bench evaluate` writes (metric, version, params, hash)."""
        return self.suite.preset.to_dict()

    def _items(self, videos: torch.Tensor, **inputs: Any) -> Iterator[EvalItem]:
        """One `EvalItem` per video of the batch, from `update`'s arguments."""
        raise NotImplementedError

    def _item(self, video: np.ndarray, sample_id: str | None = None, **fields: Any) -> EvalItem:
        self._count += 1
        return EvalItem(sample_id or f"video{self._count}", SPLIT, video, 0.0, **fields)


def gathered(state: list[torch.Tensor] | torch.Tensor, what: str) -> torch.Tensor:
    """A "cat" state as one tensor: a list before synchronisation, a tensor after it."""
    if isinstance(state, list):
        if not state:
            raise TTMBenchError(f"{what}: compute() before any update()")
        return dim_zero_cat(state)
    return state


class PerSampleSuiteMetric(SuiteMetric):
    """A suite metric scored per video and averaged (CLIPFrame, ViCLIP, AD, object motion).

    A preset that can be undefined on a video (`Metric.undefined_when`: motion locality of a
    static video) gives NaN there; `compute` leaves it out, as `ttm-bench evaluate` does, and
    `per_video` keeps it.
    """

    def __init__(self, preset: str, **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)
        if not isinstance(self.suite, PerSampleMetric):
            raise TTMBenchError(f"preset {preset!r} is not a per-sample metric")
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def update(self, videos: torch.Tensor, **inputs: Any) -> None:
        scores = np.array([self.suite.score(item) for item in self._items(videos, **inputs)],
                          dtype=np.float64)
        undefined = np.isnan(scores) if self.suite.undefined_when else np.zeros(len(scores), bool)
        if not np.isfinite(scores[~undefined]).all():
            raise TTMBenchError(f"{self.preset_name} gave a non-finite value; check the videos")
        self.values.append(torch.from_numpy(scores).to(self.device))

    def per_video(self) -> torch.Tensor:
        """The value of every video seen (all ranks in rank order, each in update order),
        float64 [N]; NaN where the preset is undefined."""
        with self.sync_context(should_sync=self._to_sync, should_unsync=self._should_unsync):
            return gathered(self.values, self.preset_name).clone()

    def compute(self) -> torch.Tensor:
        """The mean per-video value over every video seen (all ranks) where it is defined,
        float64 scalar (NaN when none is)."""
        values = gathered(self.values, self.preset_name)
        return values[~torch.isnan(values)].mean()
