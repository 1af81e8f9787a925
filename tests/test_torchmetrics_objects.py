"""ttm_bench.torchmetrics.ObjectMotion: the numbers of `ttm-bench evaluate` per video and on
average (undefined values included), DDP sync over gloo, mask inputs checked at the edge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.synthetic import SyntheticConfig, sample_plan
from ttm_bench.data.synthetic_scene import render_scene
from ttm_bench.errors import TTMBenchError
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics.objects.flow_tracker import FlowTracker
from ttm_bench.metrics.objects.track_cache import MemoryTrackCache
from ttm_bench.metrics.objects.tracks import ObjectTracks
from ttm_bench.metrics.registry import GROUPS
from ttm_bench.torchmetrics import ObjectMotion
from ttm_bench.torchmetrics import base as suite_base
from ttm_bench.video import read_video


def padded(arrays: list[np.ndarray], axis: int) -> tuple[torch.Tensor, torch.Tensor]:
    """bool arrays with different object counts on `axis`, zero-padded to the largest, and the
    counts."""
    counts = [a.shape[axis] for a in arrays]
    out = []
    for a in arrays:
        pad = [(0, 0)] * a.ndim
        pad[axis] = (0, max(counts) - a.shape[axis])
        out.append(np.pad(a, pad))
    return torch.from_numpy(np.stack(out)), torch.tensor(counts)


@pytest.mark.parametrize("model", ["ground-truth", "static"])
def test_same_values_as_ttm_bench_evaluate(small_bench: Benchmark, tmp_path: Path,
                                           model: str) -> None:
    generate_run(small_bench.root, model, tmp_path / "run", progress=False)
    results = evaluate(inputs_from_run(tmp_path / "run", small_bench.root), tmp_path / "out",
                       ["objects"], n_boot=2, progress=False)
    expected = {r["metric"]: r["value"] for r in results["aggregate"] if r["split"] == "all"}
    per_sample = pd.read_parquet(tmp_path / "out" / "per_sample.parquet")
    samples = small_bench.samples
    videos = [read_video(tmp_path / "run" / "videos" / f"{s.id}.mp4") for s in samples]
    masks = [small_bench.masks(s) for s in samples]
    masklets = [small_bench.masklets(s) for s in samples]
    for name in GROUPS["objects"]:
        metric = ObjectMotion(name)
        # first batch: padded tensors with object counts; second: one tensor per video
        first_masks, counts = padded(masks[:3], axis=0)
        first_masklets, _ = padded(masklets[:3], axis=1)
        metric.update(torch.from_numpy(np.stack(videos[:3])), first_masks, num_objects=counts,
                      masklets=first_masklets)
        metric.update(torch.from_numpy(np.stack(videos[3:])),
                      [torch.from_numpy(m) for m in masks[3:]],
                      masklets=[torch.from_numpy(m) for m in masklets[3:]])
        assert metric.preset["hash"] == results["presets"][name]["hash"]
        rows = per_sample[per_sample.metric == name].set_index("sample_id")
        want = rows.loc[[s.id for s in samples], "value"].to_numpy()
        np.testing.assert_allclose(metric.per_video().numpy(), want, rtol=1e-6, atol=1e-9)
        value = float(metric.compute())
        if np.isnan(expected[name]):
            assert np.isnan(value) and name == "motion_locality"
        else:
            assert value == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name


def scene_videos(indices: range) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Synthetic scenes (64 px, 6 frames): the videos and their first-frame masks; the odd
    ones frozen on their first frame (motion locality undefined)."""
    plan = sample_plan(SyntheticConfig(frames=6, height=64, width=64))
    videos, masks = [], []
    for i in indices:
        render = render_scene(plan[i][2])
        frames = render.frames if i % 2 == 0 else np.repeat(render.frames[:1], 6, axis=0)
        videos.append(frames)
        masks.append(torch.from_numpy(render.masks[0]))
    return torch.from_numpy(np.stack(videos)), masks


def _values(indices: range) -> dict[str, list[float]]:
    videos, masks = scene_videos(indices)
    values = {}
    for name in ("ad_object", "motion_locality"):
        metric = ObjectMotion(name)
        metric.update(videos, masks)
        values[name] = [float(metric.compute()), *metric.per_video().tolist()]
    return values


def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world)
    values = _values(range(6 + 2 * rank, 8 + 2 * rank))
    Path(out, f"rank{rank}.json").write_text(json.dumps(values))
    torch.distributed.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_gloo_processes_equal_one(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = _values(range(6, 10))
    assert np.isnan(single["motion_locality"][2])  # a frozen video is in the gathered set
    for rank in range(2):
        ranked = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for name, values in single.items():
            np.testing.assert_allclose(ranked[name], values, rtol=1e-9)


def test_mask_inputs_are_checked_with_clear_errors(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path))
    metric = ObjectMotion("ad_object")
    videos = torch.zeros(2, 4, 32, 32, 3, dtype=torch.uint8)
    masks = torch.zeros(2, 2, 32, 32, dtype=torch.bool)
    masks[:, 0, 4:12, 4:12] = True  # two objects, apart (first-frame masks are disjoint)
    masks[:, 1, 18:26, 18:26] = True
    cases = [
        ((videos, masks.float()), {}, r"masks\[0\]: expected a bool tensor"),
        ((videos, masks[0]), {}, r"masks: expected bool \[B, L, H, W\]"),
        ((videos, masks), {"num_objects": torch.tensor([1, 3])}, "between 1 and the 2"),
        ((videos, masks), {"num_objects": torch.tensor([1])}, "num_objects: 1 given for 2"),
        ((videos, list(masks[:1])), {}, "masks: 1 given for 2 videos"),
        ((videos, list(masks)), {"num_objects": torch.tensor([1, 1])}, "only for a padded"),
        ((videos, masks[:, :, :16]), {}, r"does not fit video 0 of \[32, 32\] px"),
        ((videos, list(masks[:, :0])), {}, r"with L ≥ 1 objects"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(TTMBenchError, match=message):
            metric.update(*args, **kwargs)
    with pytest.raises(TTMBenchError, match="pass masklets="):
        ObjectMotion("trajectory_miou").update(videos, masks)
    masklets = masks[:, None].repeat(1, 3, 1, 1, 1)  # 3 frames for 4-frame videos
    with pytest.raises(TTMBenchError, match=r"masklets\[0\]: expected \[4, L, H, W\]"):
        ObjectMotion("trajectory_miou").update(videos, masks, masklets=masklets)
    with pytest.raises(TTMBenchError, match="computes ad_object"):
        ObjectMotion("ad_dis")
    own = ObjectMotion("trajectory_miou", metric_options={"target": "trajectory"})
    own.update(videos, masks, masklets=masks[:, None].repeat(1, 4, 1, 1, 1))  # a still target
    assert float(own.compute()) == 1.0 and own.preset["params"]["target"] == "trajectory"
    metric.update(videos, masks)
    assert float(metric.compute()) == 0.0
    assert not any(Path(tmp_path).rglob("*.npz"))  # no disk writes in training loops
    assert os.environ["TTM_BENCH_CACHE"] == str(tmp_path)


def test_presets_updated_on_one_batch_share_each_tracking(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    calls: list[int] = []
    track = FlowTracker.track

    def counting(self: FlowTracker, video: np.ndarray, first_masks: np.ndarray) -> ObjectTracks:
        calls.append(1)
        return track(self, video, first_masks)

    monkeypatch.setattr(FlowTracker, "track", counting)
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(suite_base, "SHARED_TRACKS", MemoryTrackCache())  # other tests' videos
    videos, masks = scene_videos(range(8, 11))
    metrics = [ObjectMotion(name) for name in ("ad_object", "ad_background", "motion_locality")]
    for metric in metrics:
        metric.update(videos, masks)
    assert len(calls) == 3  # one tracking per video, not per preset
    assert not any(tmp_path.rglob("*.npz"))
    clone = metrics[0].clone()
    assert float(clone.compute()) == float(metrics[0].compute())
