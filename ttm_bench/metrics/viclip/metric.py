"""ViCLIP metrics: `viclip_t` (text–video), `viclip_v` and `viclip_v_static` (video–video).

Each video is embedded by the ViCLIP video tower from `num_frames` frames (see
`preprocess.video_pixels`); scores are cosines of L2-normalised embeddings, in [-1, 1].
`viclip_v` compares with the benchmark's ground-truth clip, `viclip_v_static` with the input
image repeated `num_frames` times (the paper leaves the reference ambiguous; both are offered).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.padded_batches import BatchedPerSampleMetric, padded_forward
from ttm_bench.metrics.viclip.model import ViCLIP, load_viclip
from ttm_bench.metrics.viclip.preprocess import tokenize, video_pixels
from ttm_bench.metrics.video_input import check_clip

#: Videos per forward pass of the video tower on an accelerator. Memory bound: ViT-L/14 on
#: 8 frames at 224 px is 2,057 tokens per video; its largest activation, unfused attention
#: scores (16 heads × 2,057² float32), is ≈ 270 MB per video, so 8 videos stay under ≈ 2.5 GB
#: of activations besides the 1.7 GB of weights. On the CPU larger batches gain little and the
#: padding of a last, partial batch would cost whole forwards, so there it is 1.
ACCELERATOR_BATCH_VIDEOS = 8


class ViCLIPMetric(ModelMetric, BatchedPerSampleMetric):
    """Shared loading and batched video embedding; subclasses define `counterpart`.

    A sample's value is the cosine of its video's embedding and its counterpart's (a caption's
    or a reference video's). `update` queues the videos whose embeddings are not cached and
    embeds them `batch_videos` at a time (`padded_forward`: the same bits as one at a time with
    the same `batch_videos`); values are recorded in update order once their videos are done.
    """

    higher_is_better = True
    checkpoint_name = "viclip_l14"
    default_params: ClassVar[dict] = {"num_frames": 8, "size": 224, "context_length": 32,
                                      "weights": "viclip_l14"}
    feature_params = ("num_frames", "size", "context_length", "weights")

    def __init__(self, *, batch_videos: int | None = None, **params: Any) -> None:
        """batch_videos: videos per forward (not part of the preset); default 1 on the CPU,
        `ACCELERATOR_BATCH_VIDEOS` on other devices."""
        if batch_videos is not None and (not isinstance(batch_videos, int) or batch_videos < 1):
            raise TTMBenchError(f"metric batch_videos={batch_videos!r}; use a positive integer")
        self._batch_videos = batch_videos
        super().__init__(**params)

    def setup(self, device: str) -> None:
        super().setup(device)
        self.batch_videos = self._batch_videos or (
            1 if torch.device(device).type == "cpu" else ACCELERATOR_BATCH_VIDEOS)

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

    def reset(self) -> None:
        super().reset()
        self._pending: list[PendingCosine] = []  # samples in update order, not yet recorded
        self._waiting: list[QueuedEmbedding] = []  # their videos not embedded yet, in order

    @abstractmethod
    def counterpart(self, item: EvalItem, waiting: list[QueuedEmbedding]) -> QueuedEmbedding:
        """What the video is compared with; a video to embed is appended to `waiting`."""

    def queue_video(self, video: np.ndarray, content_sha256: str | None, what: str,
                    waiting: list[QueuedEmbedding]) -> QueuedEmbedding:
        """The embedding of a uint8 [T, H, W, 3] video: from the cache, or appended to
        `waiting` with its pixels."""
        check_clip(video, what, self.params["num_frames"])
        content = content_sha256 or array_sha256(video)
        cached = self.feature_cache.get(content, self.feature_hash)
        if cached is not None:
            return QueuedEmbedding(content, embedding=cached)
        pixels = video_pixels(video, self.params["num_frames"], self.params["size"])
        waiting.append(QueuedEmbedding(content, pixels=pixels))
        return waiting[-1]

    def pending_cosine(self, item: EvalItem, waiting: list[QueuedEmbedding]) -> PendingCosine:
        second = self.counterpart(item, waiting)
        first = self.queue_video(item.video, item.video_sha256, f"video {item.sample_id!r}",
                                 waiting)
        return PendingCosine(item.sample_id, first, second)

    def embed(self, waiting: list[QueuedEmbedding]) -> None:
        """Embed these videos (unit-norm float64 [embed_dim] each) and cache the embeddings."""
        if not waiting:
            return
        pixels = torch.stack([queued.pixels for queued in waiting])
        embeddings = padded_forward(self.model.encode_video, pixels, self.batch_videos,
                                    self.device).numpy()
        for queued, embedding in zip(waiting, embeddings, strict=True):
            queued.embedding, queued.pixels = embedding, None
            self.feature_cache.put(queued.content, self.feature_hash, embedding)

    def score(self, item: EvalItem) -> float:
        """One sample's value, its videos embedded now (`update` batches across samples)."""
        waiting: list[QueuedEmbedding] = []
        pending = self.pending_cosine(item, waiting)
        self.embed(waiting)
        return pending.value

    def update(self, item: EvalItem) -> None:
        """Queue the sample; embed every full batch of waiting videos."""
        waiting: list[QueuedEmbedding] = []  # joins the queue only once the sample is valid
        self._pending.append(self.pending_cosine(item, waiting))
        self._waiting.extend(waiting)
        self._embed_waiting(whole_batches_only=True)

    def flush(self) -> None:
        """Embed every waiting video (the last batch padded) and record every queued sample."""
        self._embed_waiting(whole_batches_only=False)

    def _embed_waiting(self, whole_batches_only: bool) -> None:
        count = len(self._waiting)
        if whole_batches_only:
            count -= count % self.batch_videos
        self.embed(self._waiting[:count])
        del self._waiting[:count]
        while self._pending and self._pending[0].done:
            pending = self._pending.pop(0)
            value = pending.value
            if not np.isfinite(value):
                raise TTMBenchError(f"metric {self.name!r} gave {value} for sample "
                                    f"{pending.sample_id!r}; check that the video decodes")
            self._values[pending.sample_id] = value


@dataclass
class QueuedEmbedding:
    """A unit-norm float64 [embed_dim] embedding, or the float32 [T, 3, S, S] pixels of the
    video it will be computed from."""

    content: str  # sha256, the feature-cache key
    pixels: torch.Tensor | None = None
    embedding: np.ndarray | None = None


@dataclass
class PendingCosine:
    """A sample whose value is the cosine of two embeddings, once both are computed."""

    sample_id: str
    first: QueuedEmbedding
    second: QueuedEmbedding

    @property
    def done(self) -> bool:
        return self.first.embedding is not None and self.second.embedding is not None

    @property
    def value(self) -> float:
        assert self.first.embedding is not None and self.second.embedding is not None
        return float(self.first.embedding @ self.second.embedding)


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

    def counterpart(self, item: EvalItem, waiting: list[QueuedEmbedding]) -> QueuedEmbedding:
        if item.caption is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no caption; viclip_t needs one")
        return QueuedEmbedding(f"caption:{item.caption}",
                               embedding=self.text_embedding(item.caption))


class ViCLIPVideo(ViCLIPMetric):
    """cosine(generated video embedding, ground-truth clip embedding)."""

    name = "viclip_v"
    requires = frozenset({"reference"})

    def reference_video(self, item: EvalItem) -> np.ndarray:
        if item.reference is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no ground-truth clip; "
                                "use viclip_v_static or a benchmark with videos")
        return item.reference

    def counterpart(self, item: EvalItem, waiting: list[QueuedEmbedding]) -> QueuedEmbedding:
        return self.queue_video(self.reference_video(item), None,
                                f"reference of {item.sample_id!r}", waiting)


class ViCLIPVideoStatic(ViCLIPVideo):
    """cosine(generated video embedding, embedding of the input image repeated)."""

    name = "viclip_v_static"
    requires = frozenset({"image"})

    def reference_video(self, item: EvalItem) -> np.ndarray:
        if item.image is None:
            raise TTMBenchError(f"sample {item.sample_id!r} has no input image")
        check_clip(item.image[None], f"input image of {item.sample_id!r}")
        return np.repeat(item.image[None], self.params["num_frames"], axis=0)
