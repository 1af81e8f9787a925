"""A model that returns a known trajectory with its video, as a `module:Class` target that Ray
workers can import too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest, VideoModel
from ttm_bench.video import read_video


def shift_right(masks: np.ndarray, pixels: int) -> np.ndarray:
    """bool [..., H, W] moved `pixels` to the right; what leaves the frame is lost."""
    shifted = np.zeros_like(masks)
    shifted[..., pixels:] = masks[..., :masks.shape[-1] - pixels]
    return shifted


class OracleWithTrajectory(VideoModel):
    """The ground-truth clip (the rendered synthetic scene) with the benchmark's exact masklets
    as its trajectory, both at a native format `scale`× the benchmark's in frames, height and
    width (each frame and pixel repeated, so normalisation maps them back exactly). Without
    masklets in the benchmark, the trajectory is the first-frame masks throughout. It is moved
    `shift_px` benchmark pixels to the right; `trajectory: false` returns none."""

    name = "oracle-with-trajectory"
    version = "1"
    default_config: Mapping[str, Any] = {"scale": 2, "shift_px": 0, "trajectory": True}

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        assert request.ground_truth is not None
        root = request.ground_truth.parents[1]  # <benchmark>/videos/<id>.mp4
        bench = Benchmark.load(root)
        sample = bench.sample(request.sample_id)
        masklets = bench.masklets(sample)
        if masklets is None:  # a benchmark without masklets: the first-frame masks throughout
            masklets = np.repeat(bench.masks(sample)[None], request.num_frames, axis=0)
        masklets = shift_right(masklets, int(self.config["shift_px"]))
        scale = int(self.config["scale"])
        video = read_video(request.ground_truth)
        native = video.repeat(scale, 0).repeat(scale, 1).repeat(scale, 2)
        trajectory = masklets.repeat(scale, 0).repeat(scale, 2).repeat(scale, 3)
        return GeneratedVideo(native, request.fps * scale,
                              trajectory=trajectory if self.config["trajectory"] else None)
