"""Aesthetic head collapse (closed form), flow helpers, and the real backends on random weights."""

import numpy as np
import pytest
import torch

from ttm_bench.data.sav.scoring import (
    AESTHETIC_LAYERS,
    LaionAestheticScorer,
    RaftMotionScorer,
    clip_image_embedder,
    collapse_aesthetic_head,
    eval_size,
    flow_pairs,
    mean_flow_magnitude,
)
from ttm_bench.errors import TTMBenchError


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


def test_clip_embedder_builds_offline_and_embeds():
    embed = clip_image_embedder(None, "cpu", architecture="ViT-B-32")
    out = embed(np.zeros((2, 40, 30, 3), np.uint8))
    assert out.shape == (2, 512) and np.isfinite(out).all()


def test_flow_pairs_and_magnitude():
    assert flow_pairs(9, 4) == [(0, 1), (4, 5)]
    assert flow_pairs(1, 1) == []
    flow = np.zeros((2, 2, 3, 3))
    flow[:, 0] = 3.0
    flow[:, 1] = 4.0
    assert mean_flow_magnitude(flow) == pytest.approx(5.0)


def test_eval_size_keeps_aspect_on_multiples_of_8():
    assert eval_size(480, 848, 256) == (256, 456)
    assert eval_size(848, 480, 256) == (456, 256)


def test_raft_scorer_runs_on_random_weights():
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    scorer = RaftMotionScorer(raft_small(weights=None), short_side=128, pair_stride=2)
    video = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    value = scorer.score(video)
    assert np.isfinite(value) and value >= 0


def test_raft_checkpoint_missing(tmp_path):
    with pytest.raises(TTMBenchError, match="raft_large"):
        RaftMotionScorer.from_checkpoint(tmp_path / "none.pth")
