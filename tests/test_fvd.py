"""FVD: the I3D calling contract (with a scripted stand-in detector), statistics and errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, MissingWeightsError
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.frechet import frechet_distance_from_features
from ttm_bench.metrics.fvd import frechet_distance_of_samples, i3d_input
from ttm_bench.metrics.registry import create_metric

# The released I3D is TorchScript; torch deprecates scripting, but the format is what it is.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")


class StandInI3D(nn.Module):
    """Same call signature as the StyleGAN-V I3D TorchScript; refuses inputs off the contract."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.proj = nn.Linear(3 * 2 * 4 * 4, 400)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        if rescale or resize or not return_features:
            raise RuntimeError("expected rescale=False, resize=False, return_features=True")
        if x.dtype != torch.float32 or x.shape[1] != 3 or x.shape[3] != 224 or x.shape[4] != 224:
            raise RuntimeError("expected float32 [B, 3, T, 224, 224]")
        if bool(x.min() < -1.0) or bool(x.max() > 1.0):
            raise RuntimeError("expected values in [-1, 1]")
        return self.logits(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool3d(x, [2, 4, 4]).flatten(1)
        return torch.tanh(self.proj(pooled * 3.0))


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i3d") / "i3d_torchscript.pt"
    torch.jit.script(StandInI3D()).save(str(path))
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)


def fvd(detector_file: Path, frames: int = 16, **kw: object):
    metric = create_metric(f"fvd{frames}", checkpoint=detector_file, **kw)
    metric.setup("cpu")
    return metric


def videos(seed: int, n: int, frames: int = 16, size: tuple[int, int] = (36, 48)) -> list:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, *size, 3), dtype=np.uint8) for _ in range(n)]


def test_i3d_input_contract() -> None:
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (20, 30, 50, 3), dtype=np.uint8)
    clip = i3d_input(video, 16, 224)
    assert clip.shape == (3, 16, 224, 224) and clip.dtype == torch.float32
    # bilinear stretch, half-pixel centres, no antialiasing: OpenCV INTER_LINEAR on floats
    expected = cv2.resize(video[5].astype(np.float32) / 255.0, (224, 224),
                          interpolation=cv2.INTER_LINEAR) * 2 - 1
    np.testing.assert_allclose(clip[:, 5].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    black, white = np.zeros_like(video), np.full_like(video, 255)
    assert torch.all(i3d_input(black, 16, 224) == -1) and torch.all(i3d_input(white, 16, 224) == 1)
    changed_tail = video.copy()
    changed_tail[16:] = 0  # only the first 16 frames count
    assert torch.equal(i3d_input(changed_tail, 16, 224), clip)


@pytest.mark.parametrize("n1, n2, dim", [(10, 13, 50), (2, 3, 400), (40, 45, 6)])
def test_sample_space_frechet_equals_the_eigendecomposition_form(n1: int, n2: int,
                                                                 dim: int) -> None:
    rng = np.random.default_rng(n1)
    x = rng.normal(size=(n1, dim)) @ rng.normal(size=(dim, dim)) * 0.3 + 1.0
    y = rng.normal(size=(n2, dim)) * 2.0 - 0.5
    expected = frechet_distance_from_features(x, y)
    # the eigendecomposition form loses ~sqrt(eps) per zero eigenvalue of a rank-deficient Σ
    assert frechet_distance_of_samples(x, y) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance_of_samples(x, x) == pytest.approx(0.0, abs=1e-9 * expected)
    # closed form: y = c·x + s gives Σy = c²Σx, so d² = |s + (c-1)μx|² + (1-c)² tr Σx
    scale, shift = 1.7, rng.normal(size=dim)
    scaled = x * scale + shift
    trace = float(np.trace(np.cov(x, rowvar=False)))
    mean_shift = shift + (scale - 1) * x.mean(axis=0)
    closed = float(mean_shift @ mean_shift) + (1 - scale) ** 2 * trace
    assert frechet_distance_of_samples(x, scaled) == pytest.approx(closed, rel=1e-9)


def test_fvd_matches_frechet_of_detector_features(detector_file: Path) -> None:
    metric = fvd(detector_file)
    generated, reference = videos(1, 6), videos(2, 6)
    for i, (g, r) in enumerate(zip(generated, reference, strict=True)):
        metric.update(EvalItem(f"s{i}", "single", g, 8.0, reference=r))
    detector = torch.jit.load(str(detector_file))

    def feats(clips: list) -> np.ndarray:
        batch = torch.stack([i3d_input(c, 16, 224) for c in clips])
        logits = detector(batch, rescale=False, resize=False, return_features=True)
        return logits.detach().double().numpy()

    expected = frechet_distance_from_features(feats(generated), feats(reference))
    assert metric.compute() == pytest.approx(expected, rel=1e-6)
    assert metric.compute() > 0
    assert any("fewer videos than the 400" in w for w in metric.warnings)
    assert metric.per_sample() == {}


def test_fvd_of_identical_sets_is_zero_and_resamples_are_paired(detector_file: Path) -> None:
    metric = fvd(detector_file)
    clips = videos(3, 5)
    for i, clip in enumerate(clips):
        metric.update(EvalItem(f"s{i}", "single", clip, 8.0, reference=clip.copy()))
    assert metric.compute() == pytest.approx(0.0, abs=1e-6)
    assert metric.compute_on(["s0", "s0", "s3", "s4"]) == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(metric.compute_on(["s1"]))


def test_fvd128_needs_128_frames_and_names_the_video(detector_file: Path) -> None:
    metric = fvd(detector_file, frames=128)
    clip = videos(4, 1, frames=16)[0]
    with pytest.raises(TTMBenchError, match=r"video 'a' has 16 frame\(s\); .*at least 128"):
        metric.update(EvalItem("a", "single", clip, 8.0, reference=clip))
    with pytest.raises(TTMBenchError, match="ground-truth clip of sample 'b'"):
        fvd(detector_file).update(EvalItem("b", "single", clip, 8.0))


def test_fvd_presets_differ_and_pin_the_frame_count(detector_file: Path) -> None:
    a, b = fvd(detector_file), fvd(detector_file, frames=128)
    assert a.preset.params["num_frames"] == 16 and b.preset.params["num_frames"] == 128
    assert a.preset.hash != b.preset.hash
    assert "checkpoint" not in a.preset.params


def test_missing_or_broken_detector(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"i3d_torchscript\.pt"):
        create_metric("fvd16").setup("cpu")
    broken = tmp_path / "i3d_torchscript.pt"
    broken.write_bytes(b"garbage")
    with pytest.raises(TTMBenchError, match="not a TorchScript I3D file"):
        create_metric("fvd16", checkpoint=broken).setup("cpu")


def test_reference_features_come_from_the_cache_on_rerun(detector_file: Path,
                                                          tmp_path: Path) -> None:
    clips = videos(5, 3)
    values = []
    for _ in range(2):
        metric = fvd(detector_file, feature_cache=FeatureCache(tmp_path / "features"))
        for i, clip in enumerate(clips):
            metric.update(EvalItem(f"s{i}", "single", clip, 8.0, reference=clips[-1 - i],
                                   video_sha256=f"{i:064d}"))
        values.append(metric.compute())
    assert metric.feature_cache.hits == 6 and metric.feature_cache.misses == 0
    assert values[0] == values[1]
