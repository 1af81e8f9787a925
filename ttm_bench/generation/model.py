"""The `VideoModel` protocol every generator implements (reference TTM, baselines, floors).

A model is constructed without arguments, `load`ed once with its config and device, then asked to
`generate` one video per `GenerationRequest`. Models know nothing of benchmarks or runs: the
runner builds requests and writes outputs.

A model that generates at its own native frame count, fps or size returns a `GeneratedVideo`;
the runner maps it onto the request with the one normalisation policy
(`ttm_bench.generation.normalize`) and records that mapping in the sidecar. A model that
generates from per-object mask trajectories (TTM's stage 1) returns them in
`GeneratedVideo.trajectory`; the runner saves them beside the video for `trajectory_miou`.
A model may raise `GenerationFailure` to attach what it knows about a failure (a command, its
stderr) to the sidecar.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ttm_bench.errors import TTMBenchError


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
    batch_size: int = 1  # requests an executor sends to one `generate_batch` call

    def load(self, config: Mapping[str, Any], device: str) -> None:
        """Load weights and state. Missing weights raise `TTMBenchError` naming the fix.

        The default keeps the config (`self.config`) and the device; weightless models need
        nothing more.
        """
        self.config = dict(config)
        self.device = device

    @abstractmethod
    def generate(self, request: GenerationRequest) -> np.ndarray | GeneratedVideo:
        """Return the video as uint8 [T, H, W, 3] with T, H, W as the request asks, or a
        `GeneratedVideo` at the model's native format (normalised by the runner)."""

    def generate_batch(self, requests: Sequence[GenerationRequest]
                       ) -> list[np.ndarray | GeneratedVideo | GenerationFailure]:
        """One output per request, in order; a request that failed is a `GenerationFailure` in
        its place. Models that serve a batch at once (an external tool loading its weights once
        per invocation) override this and set `batch_size`; the default calls `generate`."""
        return [self.generate(r) for r in requests]


@dataclass(frozen=True)
class GeneratedVideo:
    """A model's output at its native format, before normalisation.

    frames: uint8 [T', H', W', 3] as the model produced it; fps: its native frame rate.
    record: what the model wants kept in the sidecar (e.g. the command that produced it).
    trajectory: bool [T', L, H', W'], the per-object masks the video was generated to follow
        (a two-stage model's stage-1 trajectory), aligned with `frames` and with the request's
        objects (L = len(request.masks), in their order); None when the model has none. The
        runner maps it with the video's normalisation (nearest neighbour) and saves it.
    """

    frames: np.ndarray
    fps: float
    record: Mapping[str, Any] = field(default_factory=dict)
    trajectory: np.ndarray | None = None


class GenerationFailure(TTMBenchError):
    """A sample that could not be generated; `record` goes into the failed sample's sidecar."""

    def __init__(self, message: str, record: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.record = dict(record or {})
