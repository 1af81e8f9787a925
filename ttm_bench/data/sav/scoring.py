"""Per-video scores for the SA-V-128 selection: aesthetics and motion.

- Aesthetic score: the LAION "improved aesthetic predictor" (`sac+logos+ava1-l14-linearMSE`),
  an MLP on L2-normalised CLIP ViT-L/14 (OpenAI) image embeddings, averaged over the first,
  middle and last frames. Its five linear layers have no activations between them (dropout
  only, inactive at inference), so they collapse exactly into one affine map, `AffineHead`.
- Motion score: the AD metric's displacement (RAFT-large optical-flow magnitude by default,
  `ttm_bench.metrics.motion`) in pixels between consecutive frames at AD's evaluation size
  (shorter side 256), on frame pairs `(t, t + 1)` every `pair_stride` (4) frames of the clip.

Scorers are small protocols, so tests and other backends plug in their own. Checkpoints come
from the weights registry (`ttm_bench.weights`) under the names below, or explicit paths.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ttm_bench.errors import TTMBenchError

# weights registry names (ttm_bench/weights.py)
CLIP_WEIGHTS = "clip_vit_l14_openai"  # OpenAI's ViT-L-14.pt
AESTHETIC_WEIGHTS = "laion_aesthetic_l14_linear_mse"  # sac+logos+ava1-l14-linearMSE.pth
AESTHETIC_LAYERS = ("layers.0", "layers.2", "layers.4", "layers.6", "layers.7")


class AestheticScorer(Protocol):
    identity: dict[str, Any]

    def score(self, frames: np.ndarray) -> float:
        """`frames`: uint8 [N, H, W, 3]; returns the mean aesthetic score (LAION: ~1-10)."""
        ...


class MotionScorer(Protocol):
    identity: dict[str, Any]

    def score(self, video: np.ndarray) -> float:
        """`video`: uint8 [T, H, W, 3]; returns the mean flow magnitude in pixels."""
        ...


@dataclass(frozen=True)
class AffineHead:
    """score = weight · embedding + bias; `weight`: float64 [D]."""

    weight: np.ndarray
    bias: float

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        """`embeddings`: float [N, D] → float64 [N]."""
        return np.asarray(embeddings, dtype=np.float64) @ self.weight + self.bias


def collapse_aesthetic_head(state: Mapping[str, Any]) -> AffineHead:
    """Compose the predictor's linear layers (`layers.{0,2,4,6,7}.weight/bias`) in float64."""
    missing = [f"{n}.{p}" for n in AESTHETIC_LAYERS for p in ("weight", "bias")
               if f"{n}.{p}" not in state]
    if missing:
        raise TTMBenchError(f"aesthetic predictor checkpoint lacks {', '.join(missing)}; use "
                            f"the {AESTHETIC_WEIGHTS!r} checkpoint from the weights registry")
    matrix: np.ndarray | None = None
    offset: np.ndarray | None = None
    for name in AESTHETIC_LAYERS:
        w = np.asarray(state[f"{name}.weight"], dtype=np.float64)  # [out, in]
        b = np.asarray(state[f"{name}.bias"], dtype=np.float64)
        matrix = w if matrix is None else w @ matrix
        offset = b if offset is None else w @ offset + b
    assert matrix is not None and offset is not None
    return AffineHead(matrix[0], float(offset[0]))


class LaionAestheticScorer:
    """CLIP image embeddings (L2-normalised) through the collapsed aesthetic head."""

    def __init__(self, embed: Callable[[np.ndarray], np.ndarray], head: AffineHead,
                 identity: dict[str, Any]):
        self.embed, self.head, self.identity = embed, head, identity

    def score(self, frames: np.ndarray) -> float:
        embeddings = np.asarray(self.embed(frames), dtype=np.float64)
        embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
        return float(self.head(embeddings).mean())

    @classmethod
    def load(cls, *, clip_checkpoint: str | os.PathLike[str] | None = None,
             head_checkpoint: str | os.PathLike[str] | None = None, device: str = "cpu"
             ) -> LaionAestheticScorer:
        """OpenAI's CLIP ViT-L/14 and the predictor, from the weights registry (or the given
        paths, verified too); `MissingWeightsError` names the fix when one is missing."""
        import torch

        from ttm_bench import weights

        clip_path = weights.locate(CLIP_WEIGHTS, clip_checkpoint)
        head_path = weights.locate(AESTHETIC_WEIGHTS, head_checkpoint)
        state = torch.load(head_path, map_location="cpu", weights_only=True)
        head = collapse_aesthetic_head({k: v.numpy() for k, v in state.items()})
        embed = clip_image_embedder(str(clip_path), device)
        return cls(embed, head, {"aesthetic": AESTHETIC_WEIGHTS, "clip": CLIP_WEIGHTS})


def clip_image_embedder(checkpoint: str | None, device: str, *, architecture: str = "ViT-L-14"
                        ) -> Callable[[np.ndarray], np.ndarray]:
    """CLIP image encoder: uint8 [N, H, W, 3] → float32 [N, D] (not normalised).

    `checkpoint`: an OpenAI CLIP file (loaded with open_clip's `load_openai_model`) with CLIP's
    evaluation preprocessing (shorter side to the model's size, bicubic, centre crop, OpenAI
    mean/std). None builds `architecture` with random weights, for tests only.
    """
    import warnings

    import open_clip
    import torch
    from open_clip.transform import image_transform
    from PIL import Image

    if checkpoint is None:
        model, _, preprocess = open_clip.create_model_and_transforms(architecture)
    else:
        with warnings.catch_warnings():  # OpenAI's file is TorchScript, which torch deprecates
            warnings.simplefilter("ignore", FutureWarning)
            model = open_clip.load_openai_model(checkpoint, precision="fp32", device=device)
        preprocess = image_transform(model.visual.image_size, is_train=False)
    model = model.to(device).eval()

    def embed(frames: np.ndarray) -> np.ndarray:
        batch = torch.stack([preprocess(Image.fromarray(f)) for f in frames]).to(device)
        with torch.inference_mode():
            return model.encode_image(batch).float().cpu().numpy()

    return embed


def flow_pairs(num_frames: int, pair_stride: int) -> list[tuple[int, int]]:
    """Consecutive frame pairs `(t, t + 1)` for t = 0, stride, 2·stride, ... < num_frames - 1."""
    return [(t, t + 1) for t in range(0, num_frames - 1, pair_stride)]


#: AD-shaped motion measure: video uint8 [T, H, W, 3] → mean displacement in pixels per frame.
Displacement = Callable[[np.ndarray], float]


class PairwiseMotionScorer:
    """Mean displacement over the pairs `flow_pairs(T, pair_stride)`, with frames resized to
    shorter side `short_side` first (AD's evaluation size), in pixels at that size."""

    def __init__(self, displacement: Displacement, identity: dict[str, Any], *,
                 short_side: int = 256, pair_stride: int = 4):
        self.displacement, self.short_side, self.pair_stride = (displacement, short_side,
                                                                pair_stride)
        self.identity = {**identity, "short_side": short_side, "pair_stride": pair_stride}

    def score(self, video: np.ndarray) -> float:
        from ttm_bench.video import resize_short_side

        pairs = flow_pairs(len(video), self.pair_stride)
        if not pairs:
            raise TTMBenchError("a motion score needs at least 2 frames")
        return float(np.mean([self.displacement(resize_short_side(video[[a, b]],
                                                                  self.short_side))
                              for a, b in pairs]))
