"""The reference TTM, TI2V and the ablations as `VideoModel`s (`ttm`, `ti2v`, `ttm-…`).

Each name expects a checkpoint of its own variant (`checkpoint=DIR`; no weights have been
released, see `checkpoint.NO_RELEASED_WEIGHTS`). The model generates its native clip and
resamples it to the request: frames by nearest index, pixels by area/linear interpolation.
Object prompts: the request's `local_prompts`, else its `object_labels`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import cv2
import numpy as np

from reference_impl.ttm.checkpoint import load_checkpoint
from reference_impl.ttm.pipeline import TTMOutput, TTMPipeline
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest, VideoModel


def resample_video(video: np.ndarray, frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [T, H, W, 3] → uint8 [frames, height, width, 3] (nearest frames, area/linear)."""
    index = np.floor(np.linspace(0, video.shape[0] - 1, frames) + 0.5).astype(int)
    shrinking = height * width < video.shape[1] * video.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.stack([cv2.resize(video[i], (width, height), interpolation=interpolation)
                     for i in index])


class ReferenceTTMModel(VideoModel):
    """Loads a checkpoint of variant `name` and runs `TTMPipeline` on each request.

    Config: checkpoint (directory), steps / visual_guidance / text_guidance (None: the
    architecture's defaults). `last_output` keeps the latest `TTMOutput` (with the stage-1
    trajectory) for callers that want to save or show it.
    """

    name: ClassVar[str] = "ttm"
    version: ClassVar[str] = "1"
    default_config: ClassVar[Mapping[str, Any]] = {
        "checkpoint": "", "steps": None, "visual_guidance": None, "text_guidance": None,
    }

    def load(self, config: Mapping[str, Any], device: str) -> None:
        self.config = dict(config)
        self.pipeline = TTMPipeline(load_checkpoint(str(config["checkpoint"]), self.name, device))
        self.last_output: TTMOutput | None = None

    def generate(self, request: GenerationRequest) -> np.ndarray:
        prompts = request.local_prompts or request.object_labels
        if len(prompts) != request.masks.shape[0]:
            raise TTMBenchError(f"sample {request.sample_id}: {request.masks.shape[0]} masks but "
                                f"{len(prompts)} local prompts; give one prompt per object")
        output = self.pipeline(
            request.image, request.masks, request.caption, prompts,
            motion_prompt=request.motion_prompt, seed=request.seed, steps=self.config["steps"],
            visual_guidance=self.config["visual_guidance"],
            text_guidance=self.config["text_guidance"],
        )
        self.last_output = output
        return resample_video(output.video, request.num_frames, request.height, request.width)


class TTMModel(ReferenceTTMModel):
    """Through-The-Mask: mask trajectories, masked self- and cross-attention."""

    name = "ttm"


class TI2VModel(ReferenceTTMModel):
    """The paper's TI2V baseline: stage 2 without trajectories, unmasked extra layers."""

    name = "ti2v"


class NoMaskedAttentionModel(ReferenceTTMModel):
    """Ablation: trajectories, but the extra layers are unmasked."""

    name = "ttm-no-masked-attn"


class MaskedCrossOnlyModel(ReferenceTTMModel):
    """Ablation: trajectories, masked cross-attention only."""

    name = "ttm-masked-cross"


class MaskedSelfOnlyModel(ReferenceTTMModel):
    """Ablation: trajectories, masked self-attention only."""

    name = "ttm-masked-self"
