"""CLIPFrame: pair averaging (closed forms), CLIP preprocessing, tiny open_clip models."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ttm_bench import weights
from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import EvalItem, MissingWeightsError
from ttm_bench.metrics.clipframe import clip_transform, mean_pairwise_cosine
from ttm_bench.metrics.feature_cache import FeatureCache
from ttm_bench.metrics.registry import create_metric

open_clip = pytest.importorskip("open_clip")

@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)


def brute_force(embeddings: np.ndarray, consecutive: bool) -> float:
    n = len(embeddings)
    pairs = [(i, i + 1) for i in range(n - 1)] if consecutive else \
        [(i, j) for i in range(n) for j in range(n) if i != j]
    return float(np.mean([embeddings[i] @ embeddings[j] for i, j in pairs]))


def test_mean_pairwise_cosine_closed_forms() -> None:
    assert mean_pairwise_cosine(np.eye(4), "all") == 0.0
    assert mean_pairwise_cosine(np.ones((5, 1)), "all") == 1.0
    angles = np.array([0.0, 0.5, 1.5])
    rows = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    expected_all = (np.cos(0.5) + np.cos(1.5) + np.cos(1.0)) / 3
    assert mean_pairwise_cosine(rows, "all") == pytest.approx(expected_all, abs=1e-12)
    assert mean_pairwise_cosine(rows, "consecutive") == pytest.approx(
        (np.cos(0.5) + np.cos(1.0)) / 2, abs=1e-12)
    rng = np.random.default_rng(0)
    random_rows = rng.normal(size=(7, 5))
    random_rows /= np.linalg.norm(random_rows, axis=1, keepdims=True)
    for consecutive in (False, True):
        assert mean_pairwise_cosine(random_rows, "consecutive" if consecutive else "all") == \
            pytest.approx(brute_force(random_rows, consecutive), abs=1e-12)


def test_transform_is_open_clips_own_preprocessing(tiny_clip: torch.nn.Module) -> None:
    _, _, reference = open_clip.create_model_and_transforms("ttm-tiny-clip", pretrained=None)
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 70, 3), np.uint8))
    assert torch.equal(clip_transform(32)(image), reference(image))


def make(name: str, model: torch.nn.Module, **kw: object):
    metric = create_metric(name, model=model, image_size=32, **kw)
    metric.setup("cpu")
    return metric


def test_clipframe_values(tiny_clip: torch.nn.Module) -> None:
    rng = np.random.default_rng(2)
    moving = rng.integers(0, 256, (5, 40, 48, 3), dtype=np.uint8)
    static = np.repeat(moving[:1], 5, axis=0)
    everything = make("clipframe", tiny_clip, batch_size=2)
    consecutive = make("clipframe_consecutive", tiny_clip)
    for metric in (everything, consecutive):
        metric.update(EvalItem("static", "single", static, 8.0))
        metric.update(EvalItem("moving", "single", moving, 8.0))
        assert metric.per_sample()["static"] == pytest.approx(1.0, abs=1e-9)
    transform = clip_transform(32)
    with torch.inference_mode():
        raw = tiny_clip.encode_image(torch.stack([transform(Image.fromarray(f)) for f in moving]))
    unit = torch.nn.functional.normalize(raw.double(), dim=-1).numpy()
    assert everything.per_sample()["moving"] == pytest.approx(brute_force(unit, False), abs=1e-6)
    assert consecutive.per_sample()["moving"] == pytest.approx(brute_force(unit, True), abs=1e-6)
    assert everything.preset.hash != consecutive.preset.hash


def test_openai_format_checkpoint_loads_through_the_registry_path(
        tiny_clip: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenAI checkpoints are float16: open_clip's loader rounds weights through float16
    rounded = copy.deepcopy(tiny_clip)
    for tensor in rounded.state_dict().values():
        tensor.copy_(tensor.half().float())
    path = tmp_path / "ViT-L-14.pt"
    torch.save(rounded.state_dict(), path)
    registered = weights.CHECKPOINTS["clip_vit_l14_openai"]
    monkeypatch.setitem(weights.CHECKPOINTS, registered.name,
                        replace(registered, sha256=weights.file_sha256(path)))
    metric = create_metric("clipframe", checkpoint=path, image_size=32)
    metric.setup("cpu")
    video = np.random.default_rng(3).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    metric.update(EvalItem("a", "single", video, 8.0))
    reference = make("clipframe", rounded)
    reference.update(EvalItem("a", "single", video, 8.0))
    assert metric.compute() == pytest.approx(reference.compute(), abs=1e-6)


def test_errors(tiny_clip: torch.nn.Module, tmp_path: Path) -> None:
    metric = make("clipframe", tiny_clip)
    with pytest.raises(TTMBenchError, match=r"video 'one' has 1 frame\(s\); .*at least 2"):
        metric.update(EvalItem("one", "single", np.zeros((1, 32, 32, 3), np.uint8), 8.0))
    with pytest.raises(TTMBenchError, match="pairs='diagonal'"):
        create_metric("clipframe", pairs="diagonal")
    with pytest.raises(TTMBenchError, match=r"takes .* px images, .*image_size=224"):
        create_metric("clipframe", model=tiny_clip).setup("cpu")
    with pytest.raises(MissingWeightsError, match=r"ViT-L-14\.pt"):
        create_metric("clipframe").setup("cpu")


def test_frames_of_several_videos_share_full_batches(tiny_clip: torch.nn.Module) -> None:
    rng = np.random.default_rng(5)
    clips = [rng.integers(0, 256, (5, 36, 36, 3), dtype=np.uint8) for _ in range(3)]
    batch_sizes: list[int] = []
    hook = tiny_clip.visual.register_forward_hook(
        lambda module, args, output: batch_sizes.append(len(args[0])))
    try:
        metric = make("clipframe", tiny_clip, batch_size=12)
        for i, clip in enumerate(clips):
            metric.update(EvalItem(f"v{i}", "single", clip, 8.0))
        assert batch_sizes == [12]  # 15 frames wait: one full batch; 3 frames of v2 still wait
        values = metric.per_sample()
        assert batch_sizes == [12, 12]  # the rest, padded to a full batch
        assert list(values) == ["v0", "v1", "v2"]
        alone = make("clipframe", tiny_clip, batch_size=12, feature_cache=FeatureCache(None))
        for i, clip in enumerate(clips):  # fixed batch shapes: the same bits as alone
            assert values[f"v{i}"] == alone.score(EvalItem(f"v{i}", "single", clip, 8.0))
    finally:
        hook.remove()


def test_a_cached_video_waits_for_the_videos_queued_before_it(tiny_clip: torch.nn.Module,
                                                              tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    clips = [rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8) for _ in range(3)]
    items = [EvalItem(f"v{i}", "single", c, 8.0, video_sha256=f"{i:064d}")
             for i, c in enumerate(clips)]
    cache = FeatureCache(tmp_path / "features")
    first = make("clipframe", tiny_clip, batch_size=64, feature_cache=cache)
    first.update(items[2])
    assert first.per_sample() and cache.misses == 1  # v2's embeddings are now cached
    again = make("clipframe", tiny_clip, batch_size=64, feature_cache=cache)
    for item in items:
        again.update(item)
    assert cache.hits == 1
    assert list(again.per_sample()) == ["v0", "v1", "v2"]  # v2 waited for the videos before it
    assert again.per_sample()["v2"] == first.per_sample()["v2"]
