"""Aesthetic head collapse (closed form), flow helpers, and the real backends on random weights."""

import numpy as np
import pytest
import torch

from ttm_bench.data.sav.scoring import (
    AESTHETIC_LAYERS,
    LaionAestheticScorer,
    PairwiseMotionScorer,
    clip_image_embedder,
    collapse_aesthetic_head,
    flow_pairs,
)
from ttm_bench.errors import TTMBenchError
from ttm_bench.metrics.base import MissingWeightsError


def _mlp(dim):
    """The predictor's architecture: 5 linear layers with dropout between (no activations)."""
    return torch.nn.Sequential(
        torch.nn.Linear(dim, 32), torch.nn.Dropout(0.2), torch.nn.Linear(32, 16),
        torch.nn.Dropout(0.2), torch.nn.Linear(16, 8), torch.nn.Dropout(0.1),
        torch.nn.Linear(8, 4), torch.nn.Linear(4, 1)).eval()


def test_collapsed_head_equals_the_mlp():
    torch.manual_seed(0)
    mlp = _mlp(12)
    state = {f"layers.{k}": v.numpy() for k, v in mlp.state_dict().items()}
    head = collapse_aesthetic_head(state)
    x = torch.randn(5, 12)
    np.testing.assert_allclose(head(x.numpy()), mlp(x)[:, 0].detach().numpy(), rtol=1e-5)


def test_collapse_reports_missing_layers():
    with pytest.raises(TTMBenchError, match=r"layers\.7\.bias"):
        collapse_aesthetic_head({f"{n}.weight": np.ones((1, 1)) for n in AESTHETIC_LAYERS})


def test_aesthetic_scorer_normalises_embeddings():
    torch.manual_seed(0)
    head = collapse_aesthetic_head(
        {f"layers.{k}": v.numpy() for k, v in _mlp(3).state_dict().items()})
    scorer = LaionAestheticScorer(lambda f: f.reshape(len(f), -1)[:, :3].astype(float) + 1.0,
                                  head, {})
    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (0, 9)])
    # each embedding is a constant vector, so after L2 normalisation both equal 1/sqrt(3)
    expected = head(np.full((1, 3), 1 / np.sqrt(3)))[0]
    assert scorer.score(frames) == pytest.approx(expected)


def test_clip_embedder_builds_offline_and_embeds(tmp_path):
    import json

    import open_clip

    tiny = {"embed_dim": 16,
            "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                           "patch_size": 16},
            "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2,
                         "layers": 1}}
    (tmp_path / "tiny-vit.json").write_text(json.dumps(tiny))
    open_clip.add_model_config(tmp_path)
    embed = clip_image_embedder(None, "cpu", architecture="tiny-vit")
    out = embed(np.zeros((2, 40, 30, 3), np.uint8))
    assert out.shape == (2, 16) and np.isfinite(out).all()


def test_flow_pairs():
    assert flow_pairs(9, 4) == [(0, 1), (4, 5)]
    assert flow_pairs(1, 1) == []


def test_pairwise_motion_scorer_resizes_and_uses_the_strided_pairs():
    seen = []

    def displacement(video):  # the first frame's brightness
        seen.append(video.shape)
        return float(video[0, 0, 0, 0])

    video = np.stack([np.full((20, 40, 3), t, np.uint8) for t in range(9)])
    scorer = PairwiseMotionScorer(displacement, {"flow": "test"}, short_side=10, pair_stride=4)
    assert scorer.score(video) == pytest.approx((0 + 4) / 2)
    assert seen == [(2, 10, 20, 3)] * 2
    assert scorer.identity == {"flow": "test", "short_side": 10, "pair_stride": 4}
    with pytest.raises(TTMBenchError, match="at least 2 frames"):
        scorer.score(video[:1])


def test_aesthetic_scorer_names_missing_registry_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("TTM_BENCH_WEIGHTS_DIR", raising=False)
    with pytest.raises(MissingWeightsError, match="clip_vit_l14_openai"):
        LaionAestheticScorer.load()
