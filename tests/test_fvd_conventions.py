"""FVD compatibility presets: each equals an independent re-implementation of the original's
documented steps on the same stand-in detector (features to 1e-5, FVD to 1e-6 relative).

StyleGAN-V: src/metrics/frechet_video_distance.py + metric_utils.FeatureStats (uint8 clips with
rescale=True, resize=True; raw sums, covariance Σxxᵀ/N - μμᵀ; scipy sqrtm). common_metrics:
fvd/styleganv/fvd.py preprocess_single + frechet_distance (np.cov, sqrtm), every frame passed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from tests.test_fvd import StandInI3D, isolated_cache, videos  # noqa: F401 - fixture
from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem
from ttm_bench.metrics.fvd import reference_offset
from ttm_bench.metrics.registry import create_metric, list_metrics

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


class InModuleI3D(StandInI3D):
    """The TorchScript I3D's full signature: with rescale, uint8 → 2x/255 - 1; with resize,
    trilinear to (T, 224, 224), `align_corners=False`; then the stand-in's logits."""

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if not return_features:
            raise RuntimeError("expected return_features=True")
        if rescale:
            x = x.float() * (2.0 / 255.0) - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear",
                              align_corners=False)
        if x.dtype != torch.float32 or x.shape[3:] != (224, 224):
            raise RuntimeError("expected float32 [B, 3, T, 224, 224]")
        return self.logits(x)


@pytest.fixture(scope="module")
def detector() -> torch.jit.ScriptModule:
    return torch.jit.script(InModuleI3D())


def feed(name: str, detector: torch.jit.ScriptModule, generated: list, reference: list):
    metric = create_metric(name, model=detector)
    metric.setup("cpu")
    for i, (g, r) in enumerate(zip(generated, reference, strict=True)):
        metric.update(EvalItem(f"s{i}", "single", g, 8.0, reference=r))
    return metric


def sqrtm_frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                  sigma2: np.ndarray) -> float:
    """The originals' distance: scipy's sqrtm of the product, real part."""
    s = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(sigma1 + sigma2 - 2 * s)))


def styleganv_fvd(detector, generated: list, reference: list, offsets: list[int]):
    """StyleGAN-V: generated clips from frame 0, real clips from `offsets`, uint8 BCTHW into
    the detector with rescale and resize, FeatureStats' float32 features and N covariance."""
    def stats(clips: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)
        feats = detector(batch, rescale=True, resize=True, return_features=True)
        x64 = np.asarray(feats.detach().numpy(), dtype=np.float32).astype(np.float64)
        mean = x64.sum(axis=0) / len(x64)
        return x64, mean, x64.T @ x64 / len(x64) - np.outer(mean, mean)
    gen_feats, mu_gen, sigma_gen = stats([v[:16] for v in generated])
    real_feats, mu_real, sigma_real = stats(
        [v[o:o + 16] for v, o in zip(reference, offsets, strict=True)])
    return gen_feats, real_feats, sqrtm_frechet(mu_gen, sigma_gen, mu_real, sigma_real)


def common_metrics_fvd(detector, generated: list, reference: list):
    """common_metrics_on_video_quality: float [0, 1] videos, preprocess_single per video
    (shorter side to 224 with ceil, bilinear, centre crop, (x-0.5)·2), np.cov, sqrtm."""
    def preprocess(video: np.ndarray) -> torch.Tensor:
        v = torch.from_numpy(video).permute(3, 0, 1, 2).float() / 255.0  # CTHW
        _, _, h, w = v.shape
        scale = 224 / min(h, w)
        size = (224, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), 224)
        v = F.interpolate(v, size=size, mode="bilinear", align_corners=False)
        _, _, h, w = v.shape
        top, left = (h - 224) // 2, (w - 224) // 2
        return (v[:, :, top:top + 224, left:left + 224] - 0.5) * 2

    def feats(clips: list) -> np.ndarray:
        batch = torch.stack([preprocess(c) for c in clips])
        return detector(batch, rescale=False, resize=False,
                        return_features=True).detach().numpy().astype(np.float64)
    f1, f2 = feats(generated), feats(reference)
    distance = sqrtm_frechet(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0),
                             np.cov(f2, rowvar=False))
    return f1, f2, distance


def test_styleganv_preset_equals_the_original_steps(detector) -> None:
    generated = videos(1, 10, frames=20, size=(40, 40))
    reference = videos(2, 10, frames=24, size=(40, 40))
    metric = feed("fvd16_styleganv", detector, generated, reference)
    seed = metric.params["reference_offset_seed"]
    offsets = [reference_offset(f"s{i}", seed, 24, 16) for i in range(10)]
    assert len(set(offsets)) > 1 and all(0 <= o <= 8 for o in offsets)
    gen_feats, real_feats, expected = styleganv_fvd(detector, generated, reference, offsets)
    state = metric.state()
    np.testing.assert_allclose(np.stack(list(state["generated"].values())), gen_feats, atol=1e-5)
    np.testing.assert_allclose(np.stack(list(state["reference"].values())), real_feats,
                               atol=1e-5)
    assert metric.compute() == pytest.approx(expected, rel=1e-6)


def test_common_metrics_preset_equals_the_original_steps(detector) -> None:
    generated = videos(3, 9, frames=24, size=(36, 60))  # landscape: crop the width
    reference = videos(4, 9, frames=24, size=(36, 60))
    metric = feed("fvd_cm", detector, generated, reference)
    f1, f2, expected = common_metrics_fvd(detector, generated, reference)
    state = metric.state()
    np.testing.assert_allclose(np.stack(list(state["generated"].values())), f1, atol=1e-5)
    np.testing.assert_allclose(np.stack(list(state["reference"].values())), f2, atol=1e-5)
    assert metric.compute() == pytest.approx(expected, rel=1e-6)
    portrait = videos(5, 4, frames=12, size=(61, 35))  # odd sizes: crop the height
    f1, f2, expected = common_metrics_fvd(detector, portrait[:2] * 2, portrait[2:] * 2)
    metric = feed("fvd_cm", detector, portrait[:2] * 2, portrait[2:] * 2)
    assert metric.compute() == pytest.approx(expected, rel=1e-6)


def test_conventions_change_the_number_and_the_preset(detector) -> None:
    generated = videos(6, 8, frames=24, size=(36, 60))
    reference = videos(7, 8, frames=24, size=(36, 60))
    values = {name: feed(name, detector, generated, reference) for name in
              ("fvd16", "fvd16_styleganv", "fvd_cm")}
    hashes = {m.preset.hash for m in values.values()}
    assert len(hashes) == 3
    numbers = [m.compute() for m in values.values()]
    assert len({round(v, 9) for v in numbers}) == 3
    # the seeded offset is part of the preset: another seed, another preset and other clips
    other = create_metric("fvd16_styleganv", model=detector, reference_offset_seed=1)
    assert other.preset.hash != values["fvd16_styleganv"].preset.hash


def test_compatibility_presets_are_opt_in() -> None:
    default = list_metrics(default_set_only=True)
    assert "fvd16" in default and "kvd16" in default
    assert not {"fvd16_styleganv", "fvd_cm", "fvd16_inf"} & set(default)
    assert {"fvd16_styleganv", "fvd_cm", "fvd16_inf"} <= set(list_metrics())


def test_bad_convention_values_are_refused() -> None:
    with pytest.raises(TTMBenchError, match="resize='crop'"):
        create_metric("fvd16", resize="crop")
    with pytest.raises(TTMBenchError, match="frames='middle'"):
        create_metric("fvd16", frames="middle")


def test_seeded_offset_needs_enough_ground_truth_frames(detector) -> None:
    metric = create_metric("fvd16_styleganv", model=detector)
    metric.setup("cpu")
    clip = videos(8, 1, frames=12, size=(32, 32))[0]
    with pytest.raises(TTMBenchError, match=r"ground-truth clip of 'a' has 12 frame"):
        metric.update(EvalItem("a", "single", videos(9, 1)[0], 8.0, reference=clip))


def test_reference_offset_is_uniform_and_order_free() -> None:
    starts = [reference_offset(f"id{i}", 0, 24, 16) for i in range(9000)]
    counts = np.bincount(starts, minlength=9)
    assert counts.min() > 850 and counts.max() < 1150  # 9 values, 1000 expected each
    assert reference_offset("x", 3, 24, 16) == reference_offset("x", 3, 24, 16)
    assert reference_offset("x", 0, 16, 16) == 0
