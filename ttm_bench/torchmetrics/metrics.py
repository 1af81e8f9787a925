"""The suite's metrics as torchmetrics Metrics: FVD (and its presets), CLIPFrame, ViCLIP, AD,
object-level motion.

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
from ttm_bench.metrics.registry import GROUPS
from ttm_bench.torchmetrics.base import PerSampleSuiteMetric, SuiteMetric, gathered
from ttm_bench.torchmetrics.inputs import check_batch, object_masks, videos_as_uint8


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


class ObjectMotion(PerSampleSuiteMetric):
    """Object-level motion (`ad_object`, `ad_background`, `motion_locality`,
    `object_persistence`, `trajectory_miou`): each video's first-frame object masks tracked
    through it (the `flow` tracker by default: no weights), one value per video, averaged.
    `higher_is_better` is None for the class (torchmetrics fixes it per class); persistence and
    trajectory IoU are higher-is-better, the others have no better direction.

    update(videos, masks, num_objects=None, masklets=None):
    masks: the first-frame masks s(0) at the videos' size, bool [B, L, H, W] whose first
    `num_objects[b]` (int [B]; default all L) objects are real and the rest padding, or a list
    of B bool tensors [L_b, H, W]. masklets (`trajectory_miou` only): the target mask of each
    object in each frame, bool [B, T, L, H, W] padded like `masks`, or a list of [T, L_b, H, W];
    the preset's `target` (`auto` settles to `masklets`; `trajectory` for a model's own
    stage-1 trajectory) only names them in the preset and label.
    `motion_locality` is undefined (NaN) for a static video: `per_video()` keeps it, `compute()`
    leaves it out, as `ttm-bench evaluate` does. Tracks stay in memory (`base.SHARED_TRACKS`),
    shared by the presets updated on the same videos; nothing is written to disk.

    >>> motion = ObjectMotion("object_persistence")
    >>> still = torch.zeros(2, 4, 64, 64, 3, dtype=torch.uint8)
    >>> masks = torch.zeros(2, 3, 64, 64, dtype=torch.bool)
    >>> masks[:, 0, 8:24, 8:24] = masks[1, 1, 40:56, 40:56] = True
    >>> motion.update(still, masks, num_objects=torch.tensor([1, 2]))
    >>> motion.per_video().tolist()
    [1.0, 1.0]
    """

    presets = GROUPS["objects"]
    higher_is_better = None

    def __init__(self, preset: str = "ad_object", **kwargs: Any) -> None:
        super().__init__(preset, **kwargs)
        self.suite.choose_inputs(frozenset({"masks", "masklets"}))

    def update(self, videos: torch.Tensor, masks: torch.Tensor | Sequence[torch.Tensor],
               num_objects: torch.Tensor | None = None,
               masklets: torch.Tensor | Sequence[torch.Tensor] | None = None) -> None:
        super().update(videos, masks=masks, num_objects=num_objects, masklets=masklets)

    def _items(self, videos: torch.Tensor, **inputs: Any) -> Iterator[EvalItem]:
        clips = videos_as_uint8(videos)
        masks = object_masks(inputs["masks"], inputs["num_objects"], len(clips))
        masklets: list[np.ndarray | None] = [None] * len(clips)
        target = next(iter(self.suite.requires - {"masks"}), None)  # masklets or trajectory
        if target is not None:
            if inputs["masklets"] is None:
                raise TTMBenchError(f"{self.preset_name}: pass masklets=... (each object's "
                                    "target mask in each frame) to update()")
            masklets = list(object_masks(inputs["masklets"], inputs["num_objects"], len(clips),
                                         "masklets", frames=len(clips[0])))
        for k, (clip, mask, masklet) in enumerate(zip(clips, masks, masklets, strict=True)):
            if mask.shape[1:] != clip.shape[1:3] or (
                    masklet is not None and masklet.shape[1] != mask.shape[0]):
                got = "" if masklet is None else f", masklets {list(masklet.shape)}"
                raise TTMBenchError(f"masks[{k}]: shape {list(mask.shape)}{got} does not fit "
                                    f"video {k} of {list(clip.shape[1:3])} px; pass masks at "
                                    "the videos' size, with as many objects in masklets")
            yield self._item(clip, masks=mask, **({target: masklet} if target else {}))
