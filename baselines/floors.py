"""Reference floors and ceilings: models that need no weights and bound what others score.

- `static`: the input image repeated — the motion floor (AD ≈ 0).
- `ground-truth`: the benchmark's own clip — the ceiling for reference-based metrics.
- `ken-burns`: a seeded slow pan and zoom of the input image — the classical image-animation
  baseline: global, rigid, plausible camera motion with no object motion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest, VideoModel


class StaticModel(VideoModel):
    """Repeats the first frame: every frame equals the input image."""

    name = "static"
    version = "1"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return np.repeat(request.image[None], request.num_frames, axis=0)


class GroundTruthModel(VideoModel):
    """Returns the first `num_frames` frames of the benchmark's ground-truth clip (an oracle)."""

    name = "ground-truth"
    version = "1"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        from ttm_bench.video import read_video

        if request.ground_truth is None:
            raise TTMBenchError(f"sample {request.sample_id!r} has no ground-truth video; the "
                                "ground-truth floor needs a benchmark with clips")
        return read_video(request.ground_truth, indices=range(request.num_frames))


class KenBurnsModel(VideoModel):
    """A slow zoom-in with a pan, both drawn from the request's seed.

    Over the clip the zoom grows linearly from 1 to `1 + zoom` (zoom uniform in
    [`min_zoom`, `max_zoom`]) while the crop centre moves linearly by up to `max_pan` of the
    frame size in a random direction, kept inside the zoomed image. Frames are bilinear
    warps of the input image (OpenCV `warpAffine`, reflected borders never reached).
    """

    name = "ken-burns"
    version = "1"
    default_config: Mapping[str, Any] = {"min_zoom": 0.05, "max_zoom": 0.2, "max_pan": 0.08}

    def load(self, config: Mapping[str, Any], device: str) -> None:
        if not 0 <= config["min_zoom"] <= config["max_zoom"]:
            raise TTMBenchError("ken-burns: need 0 <= min_zoom <= max_zoom")
        super().load(config, device)

    def generate(self, request: GenerationRequest) -> np.ndarray:
        rng = np.random.default_rng(request.seed)
        zoom = rng.uniform(self.config["min_zoom"], self.config["max_zoom"])
        angle = rng.uniform(0, 2 * np.pi)
        h, w = request.height, request.width
        image = request.image
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        frames = []
        for t in np.linspace(0.0, 1.0, request.num_frames):
            scale = 1.0 + zoom * t
            # The largest centre offset that keeps the zoomed crop inside the image.
            room = (1.0 - 1.0 / scale) / 2.0
            pan = min(self.config["max_pan"] * t, room)
            cx = w / 2 + pan * w * np.cos(angle)
            cy = h / 2 + pan * h * np.sin(angle)
            # Map output pixel p to input point c + (p - centre) / scale.
            matrix = np.array([[1 / scale, 0, cx - (w / 2) / scale],
                               [0, 1 / scale, cy - (h / 2) / scale]])
            frames.append(cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR |
                                         cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT))
        return np.stack(frames).astype(np.uint8)
