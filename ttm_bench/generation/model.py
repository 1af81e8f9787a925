"""The `VideoModel` protocol every generator implements (reference TTM, baselines, floors).

A model is constructed without arguments, `load`ed once with its config and device, then asked to
`generate` one video per `GenerationRequest`. Models know nothing of benchmarks or runs: the
runner builds requests and writes outputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class GenerationRequest:
    """Everything a model may condition on for one sample.

    image: uint8 [H, W, 3], the first frame x(0) at the benchmark's resolution.
    masks: bool [L, H, W], the first-frame object masks s(0), one per object (L may be 0).
    local_prompts: one c_local per object, aligned with `masks` and `object_labels`.
    num_frames, fps, height, width: the output the benchmark expects.
    seed: derived from (benchmark, sample id, repetition); models must seed all randomness with it.
    ground_truth: path of the benchmark's ground-truth clip. Only oracle floors (e.g.
        `ground-truth`) may read it; a real model that does is cheating.
    """

    sample_id: str
    image: np.ndarray
    caption: str
    num_frames: int
    fps: float
    height: int
    width: int
    seed: int
    motion_prompt: str | None = None
    local_prompts: tuple[str, ...] = ()
    object_labels: tuple[str, ...] = ()
    masks: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 1), dtype=bool))
    ground_truth: Path | None = None


class VideoModel(ABC):
    """An image-to-video generator behind the suite's one narrow interface.

    Subclasses set `name`, `version` (bump it when outputs change) and `default_config`, and
    implement `generate` (and `load`, when they have weights). Config values arrive merged
    over `default_config`.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "0"
    default_config: ClassVar[Mapping[str, Any]] = {}

    def load(self, config: Mapping[str, Any], device: str) -> None:
        """Load weights and state. Missing weights raise `TTMBenchError` naming the fix.

        The default keeps the config (`self.config`) and the device; weightless models need
        nothing more.
        """
        self.config = dict(config)
        self.device = device

    @abstractmethod
    def generate(self, request: GenerationRequest) -> np.ndarray:
        """Return the video as uint8 [T, H, W, 3] with T, H, W as the request asks."""
