"""CLIPFrame: temporal consistency as the mean cosine similarity of CLIP frame embeddings.

Preset: open_clip ViT-L-14 with OpenAI's weights (`ViT-L-14.pt`, QuickGELU, float32 on every
device), standard CLIP preprocessing of every frame (resize the shorter side to 224 with
bicubic interpolation, centre crop 224×224, OpenAI mean/std), L2-normalised image embeddings.
`clipframe` averages the cosine over all ordered off-diagonal frame pairs (i ≠ j, the
LOVEU-TGVE convention); `clipframe_consecutive` over the pairs (t, t+1) only. Frames of
consecutive videos share forward batches of `batch_size` frames (not part of the preset); each
batch has exactly that many frames (the last padded), so a video's value does not depend on
which videos it was batched with, to the bit (local and distributed evaluation agree).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.padded_batches import BatchedPerSampleMetric, padded_forward
from ttm_bench.metrics.video_input import check_clip

PAIRS = ("all", "consecutive")


def mean_pairwise_cosine(embeddings: np.ndarray, pairs: str) -> float:
    """embeddings: float [T, D], unit rows. Mean cosine over off-diagonal or (t, t+1) pairs."""
    similarity = embeddings @ embeddings.T
    if pairs == "consecutive":
        return float(np.mean(np.diagonal(similarity, offset=1)))
    count = len(embeddings)
    return float((similarity.sum() - np.trace(similarity)) / (count * (count - 1)))


def import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise TTMBenchError("CLIPFrame needs open_clip: pip install 'ttm-bench[metrics]' "
                            "(open-clip-torch)") from exc
    return open_clip


def clip_transform(image_size: int) -> Any:
    """open_clip's evaluation transform for OpenAI CLIP: PIL image → float32 [3, S, S]."""
    return import_open_clip().transform.image_transform(
        image_size, is_train=False, resize_mode="shortest", interpolation="bicubic")


class CLIPFrame(ModelMetric, BatchedPerSampleMetric):
    """Mean cosine similarity between CLIP embeddings of a video's frames."""

    name = "clipframe"
    higher_is_better = True
    checkpoint_name = "clip_vit_l14_openai"
    default_params: ClassVar[dict[str, Any]] = {"model": "ViT-L-14", "pretrained": "openai",
                                                "image_size": 224, "pairs": "all",
                                                "precision": "fp32"}
    feature_params = ("model", "pretrained", "image_size", "precision")

    def __init__(self, *, batch_size: int = 32, **params: Any) -> None:
        self.batch_size = batch_size
        super().__init__(**params)
        if self.params["pairs"] not in PAIRS:
            raise TTMBenchError(f"clipframe pairs={self.params['pairs']!r}; use one of {PAIRS}")

    def setup(self, device: str) -> None:
        self._transform = clip_transform(self.params["image_size"])
        super().setup(device)

    def load_model(self, path: Path, device: str) -> Any:
        open_clip = import_open_clip()
        try:
            with warnings.catch_warnings():  # OpenAI's file is TorchScript, which torch deprecates
                warnings.simplefilter("ignore", FutureWarning)
                return open_clip.load_openai_model(str(path), precision="fp32",
                                                   device=device).eval()
        except RuntimeError as exc:
            raise TTMBenchError(f"{path} is not an OpenAI CLIP checkpoint ({exc}); delete it "
                                f"and run `ttm-bench weights fetch {self.checkpoint_name}`"
                                ) from exc

    def check_model(self, model: Any) -> None:
        size = getattr(model.visual, "image_size", None)
        expected = self.params["image_size"]
        if size is not None and tuple(np.atleast_1d(size)) not in {(expected,),
                                                                   (expected, expected)}:
            raise TTMBenchError(f"metric {self.name!r}: the CLIP model takes {size} px images, "
                                f"the preset asks for image_size={expected}")

    def reset(self) -> None:
        super().reset()
        #: videos waiting for their frames' embeddings, in update order
        self._queue: list[QueuedVideo] = []

    def preprocess(self, video: np.ndarray) -> torch.Tensor:
        """uint8 [T, H, W, 3] → float32 [T, 3, S, S], CLIP-normalised."""
        from PIL import Image

        return torch.stack([self._transform(Image.fromarray(frame)) for frame in video])

    def embed(self, pixels: torch.Tensor) -> np.ndarray:
        """float32 [N, 3, S, S] → float64 [N, D] unit-norm embeddings.

        Every forward pass takes exactly `batch_size` frames (`padded_forward`), so batching
        across videos, distributed chunks and `score` give the same bits.
        """
        embeddings = padded_forward(self.model.encode_image, pixels, self.batch_size,
                                    self.device)
        return torch.nn.functional.normalize(embeddings, dim=-1).numpy()

    def score(self, item: EvalItem) -> float:
        """One video's value, embedded alone (`update` batches frames across videos)."""
        check_clip(item.video, f"video {item.sample_id!r}", 2)
        embeddings = self.features(item.video_sha256 or array_sha256(item.video),
                                   lambda: self.embed(self.preprocess(item.video)))
        return mean_pairwise_cosine(embeddings, self.params["pairs"])

    def update(self, item: EvalItem) -> None:
        """Queue the video's frames (none when cached); embed every full batch that waits."""
        check_clip(item.video, f"video {item.sample_id!r}", 2)
        content = item.video_sha256 or array_sha256(item.video)
        cached = self.feature_cache.get(content, self.feature_hash)
        if cached is None:
            self._queue.append(QueuedVideo(item.sample_id, content, self.preprocess(item.video)))
        else:
            self._queue.append(QueuedVideo(item.sample_id, content, torch.empty(0), [cached]))
        self._embed_queue(whole_batches_only=True)

    def flush(self) -> None:
        """Embed every queued frame (the last batch padded) and score every queued video."""
        self._embed_queue(whole_batches_only=False)

    def _embed_queue(self, whole_batches_only: bool) -> None:
        """Embed queued frames in queue order, caching each video whose last frame is done,
        then record the finished videos at the head of the queue (values keep update order)."""
        waiting = [video.pixels for video in self._queue if len(video.pixels)]
        total = sum(len(pixels) for pixels in waiting)
        count = total - total % self.batch_size if whole_batches_only else total
        if count:
            embeddings = self.embed(torch.cat(waiting)[:count])
            start = 0
            for video in self._queue:
                take = min(len(video.pixels), count - start)
                if take:
                    video.embedded.append(embeddings[start:start + take])
                    video.pixels = video.pixels[take:]
                    start += take
                    if not len(video.pixels):
                        self.feature_cache.put(video.content, self.feature_hash,
                                               video.embeddings)
        while self._queue and not len(self._queue[0].pixels):
            video = self._queue.pop(0)
            self._record(video.sample_id, video.embeddings)

    def _record(self, sample_id: str, embeddings: np.ndarray) -> None:
        value = mean_pairwise_cosine(embeddings, self.params["pairs"])
        if not np.isfinite(value):
            raise TTMBenchError(f"metric {self.name!r} gave {value} for sample {sample_id!r}; "
                                "check that the video decodes")
        self._values[sample_id] = value


@dataclass
class QueuedVideo:
    """A video waiting in `CLIPFrame`'s queue for the embeddings of its frames."""

    sample_id: str
    content: str  # sha256, the feature-cache key
    pixels: torch.Tensor  # float32 [T', 3, S, S]: its frames not embedded yet
    embedded: list[np.ndarray] = field(default_factory=list)  # float64 [t, D] each, in order

    @property
    def embeddings(self) -> np.ndarray:
        """float64 [T, D]: every frame's embedding, once `pixels` is empty."""
        return np.concatenate(self.embedded)
