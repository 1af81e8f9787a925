"""FVD: Fréchet distance between I3D features of generated videos and ground-truth clips.

Preset (`fvd16`, `fvd128`): the first `num_frames` frames of each video (uint8 RGB), resized
to 224×224 with bilinear interpolation (stretch, no crop, `align_corners=False`, no
antialiasing), scaled to [-1, 1], fed as float32 [B, 3, T, 224, 224] to the I3D TorchScript
port of StyleGAN-V as `detector(x, rescale=False, resize=False, return_features=True)`, which
returns the 400 Kinetics logits before the softmax. The reference set is the benchmark's
ground-truth clips processed identically. Gaussian statistics are float64 with N-1
covariances; the distance is `frechet.frechet_distance_of_samples` (exact in sample space when
there are fewer videos than feature dimensions).

Sets and resamples: `compute_on(ids)` uses the generated and the ground-truth features of the
same ids (repeats allowed), so a bootstrap resamples (generated, reference) pairs of samples.
Distributed evaluation ships these per-sample features (`state`), not Gaussian statistics, so
the driver computes the same values and resamples as a local evaluation.
When a set has fewer videos than the 400 feature dimensions, its covariance is rank-deficient
and the value is biased upwards; the metric then records a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.frechet import frechet_distance_of_samples
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.video_input import check_clip

FEATURE_DIM = 400


def i3d_input(video: np.ndarray, num_frames: int, size: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float32 [3, num_frames, size, size] in [-1, 1] (first frames)."""
    frames = torch.from_numpy(np.ascontiguousarray(video[:num_frames])).permute(0, 3, 1, 2)
    resized = F.interpolate(frames.float() / 255.0, size=(size, size), mode="bilinear",
                            align_corners=False, antialias=False)
    return (resized * 2.0 - 1.0).clamp(-1.0, 1.0).transpose(0, 1).contiguous()


def i3d_features(detector: Any, clips: torch.Tensor) -> torch.Tensor:
    """clips: float32 [B, 3, T, 224, 224] in [-1, 1] → logits [B, 400], as the preset calls I3D."""
    return detector(clips, rescale=False, resize=False, return_features=True)


class FrechetVideoDistance(ModelMetric):
    """Set-level FVD of the generated videos against their ground-truth clips."""

    name = "fvd"
    higher_is_better = False
    set_statistic = "frechet_distance"
    requires = frozenset({"reference"})
    checkpoint_name = "i3d_kinetics400"
    default_params: ClassVar[dict[str, Any]] = {"num_frames": 16, "size": 224,
                                                "detector": "i3d_kinetics400"}
    feature_params = ("num_frames", "size", "detector")

    def reset(self) -> None:
        self._generated: dict[str, np.ndarray] = {}
        self._reference: dict[str, np.ndarray] = {}
        self._rank_warning: str | None = None
        self._smallest_set = 0

    def load_model(self, path: Path, device: str) -> Any:
        try:
            with warnings.catch_warnings():  # torch deprecates TorchScript; the file is one
                warnings.simplefilter("ignore", FutureWarning)
                return torch.jit.load(str(path), map_location=device).eval()
        except RuntimeError as exc:
            raise TTMBenchError(f"{path} is not a TorchScript I3D file ({exc}); delete it and "
                                f"run `ttm-bench weights fetch {self.checkpoint_name}`") from exc

    def clip_features(self, video: np.ndarray, content_sha256: str | None,
                      what: str) -> np.ndarray:
        """float64 [400] I3D logits of one clip (cached per content and feature preset)."""
        num_frames = self.params["num_frames"]
        check_clip(video, what, num_frames)

        def compute() -> np.ndarray:
            clip = i3d_input(video, num_frames, self.params["size"])[None].to(self.device)
            with torch.inference_mode():
                logits = i3d_features(self.model, clip)
            return logits[0].double().cpu().numpy()

        features = self.features(content_sha256 or array_sha256(video), compute)
        if features.shape != (FEATURE_DIM,) or not np.all(np.isfinite(features)):
            raise TTMBenchError(f"{what}: the detector gave features of shape "
                                f"{list(features.shape)} with non-finite values or not "
                                f"{FEATURE_DIM}-d; check the I3D checkpoint")
        return features

    def update(self, item: EvalItem) -> None:
        if item.reference is None:
            raise TTMBenchError(f"FVD needs the ground-truth clip of sample {item.sample_id!r}; "
                                "evaluate against a benchmark with videos")
        self._generated[item.sample_id] = self.clip_features(
            item.video, item.video_sha256, f"video {item.sample_id!r}")
        self._reference[item.sample_id] = self.clip_features(
            item.reference, None, f"ground-truth clip of {item.sample_id!r}")

    @property
    def sample_ids(self) -> list[str]:
        return list(self._generated)

    def state(self) -> dict[str, dict[str, np.ndarray]]:
        """The float64 [400] features per sample id, of the videos ("generated") and of their
        ground-truth clips ("reference"): what `compute_on` pairs and resamples."""
        return {"generated": dict(self._generated), "reference": dict(self._reference)}

    def merge_state(self, state: dict[str, dict[str, np.ndarray]]) -> None:
        self._generated.update(state["generated"])
        self._reference.update(state["reference"])

    def compute_on(self, sample_ids: Sequence[str]) -> float:
        if len(sample_ids) < 2:
            return float("nan")
        if len(sample_ids) < FEATURE_DIM:
            self._warn_rank_deficient(len(sample_ids))
        return frechet_distance_of_samples(np.stack([self._generated[s] for s in sample_ids]),
                                           np.stack([self._reference[s] for s in sample_ids]))

    def _warn_rank_deficient(self, n: int) -> None:
        """Keep one warning naming the smallest set size seen (bootstrap resamples included)."""
        if self._rank_warning is not None:
            if n >= self._smallest_set:
                return
            self.warnings.remove(self._rank_warning)
        self._smallest_set = n
        self._rank_warning = (
            f"FVD over fewer videos than the {FEATURE_DIM} feature dimensions (as few as {n}): "
            "covariances are rank-deficient and the value is biased upwards; compare only "
            "numbers computed on the same number of videos")
        self.warnings.append(self._rank_warning)
