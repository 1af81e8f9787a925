"""FVD, KVD and FVD∞: distances between I3D features of generated videos and ground truth.

Our preset (`fvd16`, `fvd128`): the first `num_frames` frames of each video (uint8 RGB), resized
to 224×224 with bilinear interpolation (stretch, no crop, `align_corners=False`, no
antialiasing), scaled to [-1, 1], fed as float32 [B, 3, T, 224, 224] to the I3D TorchScript
port of StyleGAN-V as `detector(x, rescale=False, resize=False, return_features=True)`, which
returns the 400 Kinetics logits before the softmax. The reference set is the benchmark's
ground-truth clips processed identically. Gaussian statistics are float64 with N-1
covariances; the distance is `frechet.frechet_distance`, or its exact sample-space form
`frechet_distance_of_samples` when there are fewer videos than feature dimensions.

Compatibility presets change exactly the conventions named by their parameters (see
docs/metrics.md for the table):
- `frames`: "first" (the first `num_frames`), "all" (every frame passed, common_metrics);
- `reference_offset_seed`: None, or the seed of a per-sample random start of the ground-truth
  clip (StyleGAN-V draws it unseeded; `reference_offset` makes it reproducible);
- `resize`: "stretch" (ours), "short_side_crop" (common_metrics: shorter side to 224, longer
  side rounded up, centre crop), "in_module" (StyleGAN-V: uint8 clip to the detector with
  `rescale=True, resize=True`);
- `covariance_ddof`: 1 (N-1, ours and numpy's `np.cov`) or 0 (N, StyleGAN-V).

Sets and resamples: `compute_on(ids)` uses the generated and the ground-truth features of the
same ids (repeats allowed), so a bootstrap resamples (generated, reference) pairs of samples.
Distributed evaluation ships these per-sample features (`state`), not Gaussian statistics, so
the driver computes the same values and resamples as a local evaluation.
When a set has fewer videos than the 400 feature dimensions, its covariance is rank-deficient
and the value is biased upwards; the metric then records a warning. `kvd16` (unbiased MMD,
`kernel_distance`) and `fvd16_inf` (extrapolation to 1/n → 0, `bias_extrapolation`) use the
same features (same feature-cache entries) and differ only in the distance.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, Preset
from ttm_bench.metrics.bias_extrapolation import extrapolate_to_infinity
from ttm_bench.metrics.feature_cache import array_sha256
from ttm_bench.metrics.frechet import GaussianStats, frechet_distance
from ttm_bench.metrics.kernel_distance import kernel_distance
from ttm_bench.metrics.model_metric import ModelMetric
from ttm_bench.metrics.video_input import check_clip

FEATURE_DIM = 400


def i3d_input(video: np.ndarray, num_frames: int, size: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float32 [3, num_frames, size, size] in [-1, 1] (first frames)."""
    frames = torch.from_numpy(np.ascontiguousarray(video[:num_frames])).permute(0, 3, 1, 2)
    resized = F.interpolate(frames.float() / 255.0, size=(size, size), mode="bilinear",
                            align_corners=False, antialias=False)
    return (resized * 2.0 - 1.0).clamp(-1.0, 1.0).transpose(0, 1).contiguous()


def short_side_crop_input(video: np.ndarray, size: int) -> torch.Tensor:
    """uint8 [T, H, W, 3] → float32 [3, T, size, size], common_metrics_on_video_quality's way.

    Frames in [0, 1]; the shorter side resized to `size` and the longer to ceil(side·size/short)
    (bilinear, `align_corners=False`, no antialiasing); a centre crop of size×size with the
    start at (extent - size) // 2; then (x - 0.5)·2, not clamped.
    """
    frames = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float() / 255.0
    height, width = frames.shape[-2:]
    scale = size / min(height, width)
    target = ((size, math.ceil(width * scale)) if height < width
              else (math.ceil(height * scale), size))
    resized = F.interpolate(frames, size=target, mode="bilinear", align_corners=False,
                            antialias=False)
    top, left = (resized.shape[-2] - size) // 2, (resized.shape[-1] - size) // 2
    cropped = resized[..., top:top + size, left:left + size]
    return ((cropped - 0.5) * 2.0).transpose(0, 1).contiguous()


def reference_offset(sample_id: str, seed: int, length: int, num_frames: int) -> int:
    """The start frame of a ground-truth clip under a seeded random offset, uniform in
    [0, length - num_frames]; a function of (seed, sample id) only, so it does not depend on the
    order or the process in which samples are evaluated."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (length - num_frames + 1)


def i3d_features(detector: Any, clips: torch.Tensor) -> torch.Tensor:
    """clips: float32 [B, 3, T, 224, 224] in [-1, 1] → logits [B, 400], as the preset calls I3D."""
    return detector(clips, rescale=False, resize=False, return_features=True)


def frechet_distance_of_samples(x: np.ndarray, y: np.ndarray, ddof: int = 1) -> float:
    """Fréchet distance between Gaussians fitted to float [n1, D] and [n2, D] features.

    Means and covariances divided by N - ddof (ddof=1: unbiased, as `frechet.GaussianStats`;
    ddof=0: StyleGAN-V's N). When n1·n2 < D², the trace term is computed in sample space
    instead of from D×D eigendecompositions: with centred features Xc, Yc, the nonzero
    eigenvalues of Σx·Σy are the squared singular values of Xc·Ycᵀ / √((n1-ddof)(n2-ddof)), so
    tr((√Σx Σy √Σx)^½) is the sum of those singular values. Exact, and fast enough to bootstrap
    FVD over 400-d features of a few hundred videos.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    (n1, dim), n2 = x.shape, len(y)
    if ddof not in (0, 1):
        raise TTMBenchError(f"covariance ddof must be 0 (divide by N) or 1 (N-1), got {ddof}")
    if min(n1, n2) < 2:
        raise TTMBenchError(f"a covariance needs at least 2 feature vectors, got {n1} and {n2}")
    if n1 * n2 >= dim * dim:
        gx, gy = GaussianStats.from_features(x), GaussianStats.from_features(y)
        return frechet_distance(gx.mean, gx.covariance * ((n1 - 1) / (n1 - ddof)),
                                gy.mean, gy.covariance * ((n2 - 1) / (n2 - ddof)))
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    trace_x = float(np.sum(xc * xc)) / (n1 - ddof)
    trace_y = float(np.sum(yc * yc)) / (n2 - ddof)
    singular = np.linalg.svd(xc @ yc.T, compute_uv=False)
    trace_sqrt = float(singular.sum()) / np.sqrt((n1 - ddof) * (n2 - ddof))
    diff = mean_x - mean_y
    return max(float(diff @ diff) + trace_x + trace_y - 2.0 * trace_sqrt, 0.0)


#: The values each convention parameter takes (see the module docstring).
FRAME_RULES = ("first", "all")
RESIZE_RULES = ("stretch", "short_side_crop", "in_module")


class FrechetVideoDistance(ModelMetric):
    """Set-level FVD of the generated videos against their ground-truth clips."""

    name = "fvd"
    higher_is_better = False
    requires = frozenset({"reference"})
    checkpoint_name = "i3d_kinetics400"
    default_params: ClassVar[dict[str, Any]] = {
        "num_frames": 16, "size": 224, "detector": "i3d_kinetics400", "frames": "first",
        "resize": "stretch", "reference_offset_seed": None, "covariance_ddof": 1}
    feature_params = ("num_frames", "size", "detector", "frames", "resize")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.params["frames"] not in FRAME_RULES:
            raise TTMBenchError(f"FVD frames={self.params['frames']!r}; use one of {FRAME_RULES}")
        if self.params["resize"] not in RESIZE_RULES:
            raise TTMBenchError(f"FVD resize={self.params['resize']!r}; use one of "
                                f"{RESIZE_RULES}")
        if self.params["frames"] == "all":  # no frame count: leave it out of the preset
            params = {k: v for k, v in self.params.items() if k != "num_frames"}
            self.preset = Preset(self.name, params, self.preset_version)
            self.feature_params = tuple(p for p in self.feature_params if p != "num_frames")

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

    def _logits(self, clip: np.ndarray) -> torch.Tensor:
        """I3D logits [1, 400] of uint8 [T, H, W, 3] frames under the preset's resize rule."""
        size, rule = self.params["size"], self.params["resize"]
        if rule == "in_module":  # uint8 [1, 3, T, H, W]; the TorchScript scales and resizes
            frames = torch.from_numpy(np.ascontiguousarray(clip)).permute(3, 0, 1, 2)[None]
            return self.model(frames.to(self.device), rescale=True, resize=True,
                              return_features=True)
        prepared = (i3d_input(clip, len(clip), size) if rule == "stretch"
                    else short_side_crop_input(clip, size))
        return i3d_features(self.model, prepared[None].to(self.device))

    def clip_features(self, video: np.ndarray, content_sha256: str | None,
                      what: str, start: int = 0) -> np.ndarray:
        """float64 [400] I3D logits of one clip from frame `start` (cached per content and
        feature preset; `content_sha256` names the whole video, used only when start is 0)."""
        if self.params["frames"] == "all":
            check_clip(video, what)
            clip = video
        else:
            num_frames = self.params["num_frames"]
            check_clip(video, what, start + num_frames)
            clip = video[start:start + num_frames]
        if start:
            content_sha256 = None

        def compute() -> np.ndarray:
            with torch.inference_mode():
                logits = self._logits(clip)
            return logits[0].double().cpu().numpy()

        features = self.features(content_sha256 or array_sha256(clip), compute)
        if features.shape != (FEATURE_DIM,) or not np.all(np.isfinite(features)):
            raise TTMBenchError(f"{what}: the detector gave features of shape "
                                f"{list(features.shape)} with non-finite values or not "
                                f"{FEATURE_DIM}-d; check the I3D checkpoint")
        return features

    def update(self, item: EvalItem) -> None:
        if item.reference is None:
            raise TTMBenchError(f"FVD needs the ground-truth clip of sample {item.sample_id!r}; "
                                "evaluate against a benchmark with videos")
        what = f"ground-truth clip of {item.sample_id!r}"
        seed, num_frames = self.params["reference_offset_seed"], self.params.get("num_frames")
        start = 0
        if seed is not None and num_frames is not None:
            check_clip(item.reference, what, num_frames)
            start = reference_offset(item.sample_id, seed, len(item.reference), num_frames)
        self._generated[item.sample_id] = self.clip_features(
            item.video, item.video_sha256, f"video {item.sample_id!r}")
        self._reference[item.sample_id] = self.clip_features(item.reference, None, what, start)

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
        return self.distance(np.stack([self._generated[s] for s in sample_ids]),
                             np.stack([self._reference[s] for s in sample_ids]))

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float:
        """The preset's distance between float64 [n, 400] feature sets (rows paired)."""
        return frechet_distance_of_samples(generated, reference, self.params["covariance_ddof"])

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


class KernelVideoDistance(FrechetVideoDistance):
    """KVD: unbiased polynomial-kernel MMD² on the same I3D features as FVD (see
    `kernel_distance`); its expectation does not depend on the number of videos."""

    name = "kvd"
    default_params: ClassVar[dict[str, Any]] = {
        k: v for k, v in FrechetVideoDistance.default_params.items() if k != "covariance_ddof"}

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float:
        return kernel_distance(generated, reference)

    def _warn_rank_deficient(self, n: int) -> None:
        """KVD has no covariance: fewer videos than dimensions add variance, not bias."""


class FrechetVideoDistanceInf(FrechetVideoDistance):
    """FVD∞: FVD extrapolated to 1/n → 0 over subsets (see `bias_extrapolation`)."""

    name = "fvd_inf"
    default_params: ClassVar[dict[str, Any]] = {
        **FrechetVideoDistance.default_params, "subset_sizes": 8, "min_fraction": 0.5,
        "draws": 4, "subset_seed": 0}

    def distance(self, generated: np.ndarray, reference: np.ndarray) -> float:
        if len(generated) < 3:  # no two subset sizes to fit a line through
            return float("nan")
        return extrapolate_to_infinity(
            super().distance, generated, reference, sizes=self.params["subset_sizes"],
            min_fraction=self.params["min_fraction"], draws=self.params["draws"],
            seed=self.params["subset_seed"])
