"""ViCLIP metrics: `viclip_t` (text–video), `viclip_v` and `viclip_v_static` (video–video).

Each video is embedded by the ViCLIP video tower from `num_frames` frames (see
`preprocess.video_pixels`); scores are cosines of L2-normalised embeddings, in [-1, 1].
`viclip_v` compares with the benchmark's ground-truth clip, `viclip_v_static` with the input
image repeated `num_frames` times (the paper leaves the reference ambiguous; both are offered).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, PerSampleMetric
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.viclip.model import ViCLIP, load_viclip
from ttm_bench.metrics.viclip.preprocess import tokenize, video_pixels
from ttm_bench.metrics.video_input import check_clip


class ViCLIPMetric(ModelMetric, PerSampleMetric):
    """Shared loading and video embedding; subclasses define `score`."""

    higher_is_better = True
    checkpoint_name = "viclip_l14"
    default_params: ClassVar[dict] = {"num_frames": 8, "size": 224, "context_length": 32,
                                      "weights": "viclip_l14"}
    feature_params = ("num_frames", "size", "context_length", "weights")

    def load_model(self, path: Path, device: str) -> ViCLIP:
        return load_viclip(path, device)

    def check_model(self, model: ViCLIP) -> None:
        cfg = model.config
        expected = (self.params["num_frames"], self.params["size"], self.params["context_length"])
        if (cfg.num_frames, cfg.image_size, cfg.context_length) != expected:
            raise TTMBenchError(
                f"metric {self.name!r}: the model takes {cfg.num_frames} frames of "
                f"{cfg.image_size}px and {cfg.context_length} tokens, the preset asks for "
                f"{expected[0]} frames of {expected[1]}px and {expected[2]} tokens")

    def video_embedding(self, video: np.ndarray, content_sha256: str | None,
                        what: str) -> np.ndarray:
        """Unit-norm float64 [embed_dim] of a uint8 [T, H, W, 3] video (cached)."""
        check_clip(video, what, self.params["num_frames"])

        def compute() -> np.ndarray:
            pixels = video_pixels(video, self.params["num_frames"], self.params["size"])
            with torch.inference_mode():
                embedding = self.model.encode_video(pixels[None].to(self.device))
            return embedding[0].double().cpu().numpy()

        return self.features(content_sha256 or array_sha256(video), compute)


class ViCLIPText(ViCLIPMetric):
    """cosine(text embedding of the caption, video embedding)."""

    name = "viclip_t"
    requires = frozenset({"caption"})

    def reset(self) -> None:
        super().reset()
        self._text_cache: dict[str, np.ndarray] = {}

    def text_embedding(self, caption: str) -> np.ndarray:
        """Unit-norm float64 [embed_dim] of a caption (cached in memory and on disk)."""
        if caption not in self._text_cache:

            def compute() -> np.ndarray:
                tokens = tokenize([caption], self.params["context_length"]).to(self.device)
                with torch.inference_mode():
                    return self.model.encode_text(tokens)[0].double().cpu().numpy()

            key = hashlib.sha256(f"caption:{caption}".encode()).hexdigest()
            self._text_cache[caption] = self.features(key, compute)
        return self._text_cache[caption]

    def score(self, item: EvalItem) -> float:
        if item.caption is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no caption; viclip_t needs one")
        video = self.video_embedding(item.video, item.video_sha256, f"video {item.sample_id!r}")
        return float(self.text_embedding(item.caption) @ video)


class ViCLIPVideo(ViCLIPMetric):
    """cosine(generated video embedding, ground-truth clip embedding)."""

    name = "viclip_v"
    requires = frozenset({"reference"})

    def reference_video(self, item: EvalItem) -> np.ndarray:
        if item.reference is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no ground-truth clip; "
                                "use viclip_v_static or a benchmark with videos")
        return item.reference

    def score(self, item: EvalItem) -> float:
        video = self.video_embedding(item.video, item.video_sha256, f"video {item.sample_id!r}")
        ref = self.reference_video(item)
        reference = self.video_embedding(ref, None, f"reference of {item.sample_id!r}")
        return float(video @ reference)


class ViCLIPVideoStatic(ViCLIPVideo):
    """cosine(generated video embedding, embedding of the input image repeated)."""

    name = "viclip_v_static"
    requires = frozenset({"image"})

    def reference_video(self, item: EvalItem) -> np.ndarray:
        if item.image is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no input image")
        check_clip(item.image[None], f"input image of {item.sample_id!r}")
        return np.repeat(item.image[None], self.params["num_frames"], axis=0)
