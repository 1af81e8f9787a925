"""Per-video scores for the SA-V-128 selection: aesthetics and motion.

- Aesthetic score: the LAION "improved aesthetic predictor" (`sac+logos+ava1-l14-linearMSE`),
  an MLP on L2-normalised CLIP ViT-L/14 (OpenAI) image embeddings, averaged over the first,
  middle and last frames. Its five linear layers have no activations between them (dropout
  only, inactive at inference), so they collapse exactly into one affine map, `AffineHead`.
- Motion score: mean RAFT optical-flow magnitude in pixels between consecutive frames, at the
  AD preset's evaluation size (shorter side 256), on frame pairs `(t, t + 1)` every
  `pair_stride` (4) frames of the clip. Any AD-shaped displacement function plugs in.

Scorers are small protocols, so tests and other backends plug in their own. Checkpoints are
named by the weights registry names below and passed as paths.
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
RAFT_WEIGHTS = "raft_large"  # torchvision raft_large_C_T_SKHT_V2
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
    def from_checkpoints(cls, clip_checkpoint: str | os.PathLike[str],
                         head_checkpoint: str | os.PathLike[str], *, device: str = "cpu"
                         ) -> LaionAestheticScorer:
        """Load OpenAI's CLIP ViT-L/14 file and the predictor's state dict."""
        import torch

        for path, name in ((clip_checkpoint, CLIP_WEIGHTS), (head_checkpoint, AESTHETIC_WEIGHTS)):
            if not os.path.isfile(path):
                raise TTMBenchError(f"checkpoint {path} not found; fetch {name!r} with "
                                    "`ttm-bench weights fetch` or pass its path")
        state = torch.load(head_checkpoint, map_location="cpu", weights_only=True)
        head = collapse_aesthetic_head({k: v.numpy() for k, v in state.items()})
        embed = clip_image_embedder(str(clip_checkpoint), device)
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


def mean_flow_magnitude(flow: np.ndarray) -> float:
    """`flow`: float [N, H, W, 2] (dx, dy in pixels) → mean Euclidean length, in pixels."""
    return float(np.linalg.norm(np.asarray(flow, dtype=np.float64), axis=-1).mean())


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


def raft_displacement(checkpoint: str | os.PathLike[str], device: str = "cpu") -> Displacement:
    """Mean RAFT flow magnitude between consecutive frames, in pixels.

    torchvision RAFT-large with the `raft_large` weights: frames scaled to [-1, 1], padded
    bottom/right by edge replication to multiples of 8, 12 refinement steps, last prediction.
    Frames need both sides >= 128 px (RAFT's correlation pyramid).
    """
    import torch
    import torch.nn.functional as F
    from torchvision.models.optical_flow import raft_large

    if not os.path.isfile(checkpoint):
        raise TTMBenchError(f"RAFT checkpoint {checkpoint} not found; fetch {RAFT_WEIGHTS!r} "
                            "with `ttm-bench weights fetch` or pass its path")
    model = raft_large(weights=None, progress=False)
    model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    model = model.eval().to(device)

    def displacement(video: np.ndarray) -> float:
        frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
        height, width = frames.shape[-2:]
        frames = F.pad(frames / 127.5 - 1.0, (0, -width % 8, 0, -height % 8), mode="replicate")
        with torch.inference_mode():
            out = model(frames[:-1].to(device), frames[1:].to(device))[-1]
        return mean_flow_magnitude(out[:, :, :height, :width].permute(0, 2, 3, 1).cpu().numpy())

    return displacement
