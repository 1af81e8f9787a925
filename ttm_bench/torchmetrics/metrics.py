"""The suite's metrics as torchmetrics Metrics: FVD (and its presets), CLIPFrame, ViCLIP, AD.

Each class takes a registry preset name and gives the number `ttm-bench evaluate` gives for the
same videos (tests/test_torchmetrics.py checks it to 1e-6 with tiny injected networks). Videos:
see `inputs` (uint8 [B, T, H, W, 3] or float [B, T, 3, H, W] in [0, 1]).

>>> import torch
>>> from ttm_bench.torchmetrics import AverageDisplacement
>>> metric = AverageDisplacement()  # OpenCV DIS: no weights needed
>>> still = torch.zeros(2, 4, 64, 64, 3, dtype=torch.uint8)
>>> metric.update(still)
>>> round(float(metric.compute()), 6)
0.0
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.fvd import FrechetVideoDistance as SuiteFVD
from ttm_bench.torchmetrics.base import PerSampleSuiteMetric, SuiteMetric, gathered
from ttm_bench.torchmetrics.inputs import check_batch, videos_as_uint8


class FrechetVideoDistance(SuiteMetric):
    """FVD (`fvd16`, `fvd128`, `fvd16_styleganv`, `fvd_cm`), KVD (`kvd16`) or FVD∞ (`fvd16_inf`)
    of generated videos against reference (ground-truth) videos, lower is better.

    update(videos, reference_videos, sample_ids=None): a batch of generated videos and the
    batch of their ground-truth clips (pairs, as in the benchmark; either layout). `sample_ids`
    are needed only by `fvd16_styleganv`, whose seeded ground-truth offset is per sample.
    States: the float64 [N, 400] I3D features of each side (gathered across processes), so
    compute() equals the single-process value.
    """

    presets = ("fvd16", "fvd128", "kvd16", "fvd16_inf", "fvd16_styleganv", "fvd_cm")
    higher_is_better = False

    def __init__(self, preset: str = "fvd16", **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)
        self.add_state("generated", default=[], dist_reduce_fx="cat")
        self.add_state("reference", default=[], dist_reduce_fx="cat")

    def update(self, videos: torch.Tensor, reference_videos: torch.Tensor,
               sample_ids: Sequence[str] | None = None) -> None:
        ids = []
        for item in self._items(videos, reference_videos=reference_videos,
                                sample_ids=sample_ids):
            self.suite.update(item)
            ids.append(item.sample_id)
        if len(set(ids)) != len(ids):
            raise TTMBenchError(f"sample_ids repeat within the batch: {ids}")
        state = self.suite.state()
        generated = [state["generated"][i] for i in ids]
        reference = [state["reference"][i] for i in ids]
        self.suite.reset()  # the features live in this metric's states only
        self.generated.append(torch.from_numpy(np.stack(generated)).to(self.device))
        self.reference.append(torch.from_numpy(np.stack(reference)).to(self.device))

    def _items(self, videos: torch.Tensor, **inputs: Any) -> Iterator[EvalItem]:
        clips = videos_as_uint8(videos)
        references = videos_as_uint8(inputs["reference_videos"], "reference_videos")
        check_batch("reference_videos", references, len(clips))
        ids = inputs["sample_ids"]
        if ids is None and self.suite.params.get("reference_offset_seed") is not None:
            raise TTMBenchError(f"{self.preset_name} starts each ground-truth clip at an offset "
                                "seeded by its sample id: pass sample_ids=[...] to update()")
        if ids is not None:
            check_batch("sample_ids", ids, len(clips))
        for k, (clip, ref) in enumerate(zip(clips, references, strict=True)):
            yield self._item(clip, None if ids is None else str(ids[k]), reference=ref)

    def compute(self) -> torch.Tensor:
        """The preset's distance over every pair seen (all processes), float64 scalar."""
        generated = gathered(self.generated, self.preset_name).cpu().numpy()
        reference = gathered(self.reference, self.preset_name).cpu().numpy()
        assert isinstance(self.suite, SuiteFVD)
        return torch.tensor(self.suite.distance(generated, reference), dtype=torch.float64)


class _VideoOnlyMetric(PerSampleSuiteMetric):
    """A per-video metric of the generated video alone: update(videos)."""

    def update(self, videos: torch.Tensor) -> None:
        super().update(videos)

    def _items(self, videos: torch.Tensor, **inputs: Any) -> Iterator[EvalItem]:
        return (self._item(clip) for clip in videos_as_uint8(videos))


class CLIPFrameConsistency(_VideoOnlyMetric):
    """CLIPFrame (`clipframe`, `clipframe_consecutive`): mean cosine similarity of CLIP frame
    embeddings, averaged over videos; higher is better. update(videos)."""

    presets = ("clipframe", "clipframe_consecutive")
    higher_is_better = True

    def __init__(self, preset: str = "clipframe", **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)


class ViCLIPScore(PerSampleSuiteMetric):
    """ViCLIP similarity, higher is better: `viclip_t` cosine(text, video), update(videos,
    texts=[...]); `viclip_v` cosine(video, reference video), update(videos,
    reference_videos=...)."""

    presets = ("viclip_t", "viclip_v")
    higher_is_better = True

    def __init__(self, preset: str = "viclip_t", **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)

    def update(self, videos: torch.Tensor, texts: Sequence[str] | None = None,
               reference_videos: torch.Tensor | None = None) -> None:
        super().update(videos, texts=texts, reference_videos=reference_videos)

    def _items(self, videos: torch.Tensor, **inputs: Any) -> Iterator[EvalItem]:
        clips = videos_as_uint8(videos)
        texts, references = inputs["texts"], inputs["reference_videos"]
        if self.preset_name == "viclip_t":
            if texts is None or isinstance(texts, str):
                raise TTMBenchError("viclip_t: pass texts=[one caption per video] to update()")
            check_batch("texts", texts, len(clips))
            return (self._item(clip, caption=text) for clip, text in zip(clips, texts,
                                                                          strict=True))
        if references is None:
            raise TTMBenchError("viclip_v: pass reference_videos=... (one per video) to update()")
        reference_clips = videos_as_uint8(references, "reference_videos")
        check_batch("reference_videos", reference_clips, len(clips))
        return (self._item(clip, reference=ref) for clip, ref in zip(clips, reference_clips,
                                                                     strict=True))


class AverageDisplacement(_VideoOnlyMetric):
    """AD (`ad_dis`, `ad_raft`, `ad_cotracker`): mean optical-flow magnitude between
    consecutive frames in pixels at the preset's evaluation size, averaged over videos; no
    direction is better. update(videos)."""

    presets = ("ad_dis", "ad_raft", "ad_cotracker")
    higher_is_better = None

    def __init__(self, preset: str = "ad_dis", **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)
