"""ttm_bench.torchmetrics: the same number as `ttm-bench evaluate`, DDP sync over gloo, input
validation, weights resolution, and the "Use in training" example of docs/metrics.md."""

from __future__ import annotations

import doctest
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics.base import MissingWeightsError
from ttm_bench.metrics.registry import create_metric
from ttm_bench.torchmetrics import (
    AverageDisplacement,
    CLIPFrameConsistency,
    FrechetVideoDistance,
    ViCLIPScore,
)
from ttm_bench.video import read_video

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def i3d_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scripted_i3d) -> Path:
    """The stand-in I3D installed where the weights registry looks (no feature cache shared)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    scripted_i3d.save(str(folder / "i3d_torchscript.pt"))
    monkeypatch.setenv("TTM_BENCH_WEIGHTS_DIR", str(folder))
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    return folder


def batches(items: list, size: int) -> list:
    return [items[i:i + size] for i in range(0, len(items), size)]


def test_same_numbers_as_ttm_bench_evaluate(default_bench: Benchmark, tmp_path: Path,
                                            i3d_weights: Path, tiny_clip, tiny_viclip) -> None:
    generate_run(default_bench.root, "ken-burns", tmp_path / "run", progress=False)
    clip_options = {"model": tiny_clip, "image_size": 32}
    viclip_options = {"model": tiny_viclip, "num_frames": 4, "size": 28, "batch_videos": 3}
    options = {"clipframe": clip_options, "viclip_t": viclip_options,
               "viclip_v": viclip_options}
    results = evaluate(inputs_from_run(tmp_path / "run", default_bench.root), tmp_path / "out",
                       ["fvd16", "kvd16", "clipframe", "viclip_t", "viclip_v", "ad_dis"],
                       metric_options=options, n_boot=2, progress=False)
    expected = {r["metric"]: r["value"] for r in results["aggregate"] if r["split"] == "all"}

    def model_options(name: str) -> dict[str, Any]:
        opts = dict(options[name])
        return {"model": opts.pop("model"), "metric_options": opts}

    metrics = {
        "fvd16": FrechetVideoDistance("fvd16"),  # weights found by the registry, as the CLI
        "kvd16": FrechetVideoDistance("kvd16"),
        "clipframe": CLIPFrameConsistency("clipframe", **model_options("clipframe")),
        "viclip_t": ViCLIPScore("viclip_t", **model_options("viclip_t")),
        "viclip_v": ViCLIPScore("viclip_v", **model_options("viclip_v")),
        "ad_dis": AverageDisplacement("ad_dis"),
    }
    samples = default_bench.samples
    for k, batch in enumerate(batches(samples, 5)):
        videos = torch.from_numpy(np.stack([read_video(tmp_path / "run" / "videos" /
                                                       f"{s.id}.mp4") for s in batch]))
        references = torch.from_numpy(np.stack([default_bench.video(s) for s in batch]))
        if k % 2:  # the float layout gives the same number (quantised back to uint8)
            videos = videos.permute(0, 1, 4, 2, 3).double() / 255.0
        metrics["fvd16"].update(videos, references)
        metrics["kvd16"].update(videos, references)
        metrics["clipframe"].update(videos)
        metrics["viclip_t"].update(videos, texts=[s.caption for s in batch])
        metrics["viclip_v"].update(videos, reference_videos=references)
        metrics["ad_dis"].update(videos)
    for name, metric in metrics.items():
        assert float(metric.compute()) == pytest.approx(expected[name], rel=1e-6, abs=1e-9), name
        assert metric.preset["hash"] == results["presets"][name]["hash"]


def synthetic_videos(seed: int, count: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (count, 16, 32, 40, 3), dtype=np.uint8))


def _distributed_values(videos: torch.Tensor, references: torch.Tensor) -> dict[str, float]:
    """compute() of FVD, KVD, FVD∞ and AD after updating with these videos (in this process,
    synchronised with the others when a process group is initialised)."""
    values = {}
    for name in ("fvd16", "kvd16", "fvd16_inf"):
        metric = FrechetVideoDistance(name)
        metric.update(videos, references)
        values[name] = float(metric.compute())
    motion = AverageDisplacement()
    motion.update(videos)
    return {**values, "ad_dis": float(motion.compute())}


def _ddp_worker(rank: int, world: int, init_file: str, weights: str, out: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world)
    os.environ["TTM_BENCH_WEIGHTS_DIR"] = weights
    videos, references = synthetic_videos(0, 6), synthetic_videos(1, 6)
    mine = slice(rank * 3, rank * 3 + 3)
    values = _distributed_values(videos[mine], references[mine])
    Path(out, f"rank{rank}.json").write_text(json.dumps(values))
    torch.distributed.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_gloo_processes_equal_one(tmp_path: Path, i3d_weights: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(i3d_weights), str(tmp_path)),
             nprocs=2, join=True)
    single = _distributed_values(synthetic_videos(0, 6), synthetic_videos(1, 6))
    for rank in range(2):
        ranked = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert ranked == pytest.approx(single, rel=1e-9)


def test_inputs_are_validated_with_clear_errors(i3d_weights: Path) -> None:
    motion = AverageDisplacement()
    good = torch.zeros(1, 4, 16, 16, 3, dtype=torch.uint8)
    with pytest.raises(TTMBenchError, match="expected 5 dimensions"):
        motion.update(good[0])
    with pytest.raises(TTMBenchError, match=r"uint8 videos are \[B, T, H, W, 3\]"):
        motion.update(good.permute(0, 1, 4, 2, 3))
    with pytest.raises(TTMBenchError, match=r"float videos are \[B, T, 3, H, W\]"):
        motion.update(good.float())
    with pytest.raises(TTMBenchError, match=r"must lie in \[0, 1\].*\(x \+ 1\) / 2"):
        motion.update(torch.full((1, 4, 3, 16, 16), -0.5))
    with pytest.raises(TTMBenchError, match="NaN"):
        motion.update(torch.full((1, 4, 3, 16, 16), float("nan")))
    with pytest.raises(TTMBenchError, match=r"dtype torch\.int32"):
        motion.update(good.int())
    with pytest.raises(TTMBenchError, match=r"torch\.Tensor"):
        motion.update(good.numpy())
    with pytest.raises(TTMBenchError, match="compute"):
        motion.compute()
    fvd = FrechetVideoDistance("fvd16")
    with pytest.raises(TTMBenchError, match="reference_videos: 1 given for 2 videos"):
        fvd.update(synthetic_videos(0, 2), synthetic_videos(1, 1))
    with pytest.raises(TTMBenchError, match="pass sample_ids"):
        FrechetVideoDistance("fvd16_styleganv").update(synthetic_videos(0, 2),
                                                       synthetic_videos(1, 2))
    with pytest.raises(TTMBenchError, match="computes ad_dis"):
        AverageDisplacement("fvd16")


def test_missing_weights_raise_the_cli_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTM_BENCH_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("TTM_BENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(MissingWeightsError) as cli:
        create_metric("fvd16").setup("cpu")
    with pytest.raises(MissingWeightsError) as ours:
        FrechetVideoDistance("fvd16")
    assert str(ours.value) == str(cli.value) and "ttm-bench weights fetch" in str(ours.value)


def test_reset_and_no_feature_files_written(tmp_path: Path, i3d_weights: Path) -> None:
    fvd = FrechetVideoDistance("fvd16")
    fvd.update(synthetic_videos(0, 3), synthetic_videos(1, 3))
    first = float(fvd.compute())
    fvd.reset()
    fvd.update(synthetic_videos(0, 3), synthetic_videos(1, 3))
    assert float(fvd.compute()) == first
    copy = fvd.clone()  # a deep copy reloads the network the registry found
    copy.reset()
    copy.update(synthetic_videos(0, 3), synthetic_videos(1, 3))
    assert float(copy.compute()) == first
    assert not (tmp_path / "cache").exists()  # training loops write nothing to disk


def test_docstring_examples_run() -> None:
    from ttm_bench.torchmetrics import metrics

    assert doctest.testmod(metrics).failed == 0


def test_use_in_training_example_runs(i3d_weights: Path) -> None:
    """The validation_step example of docs/metrics.md, driven by a toy generator."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- example: use in training -->\s*```python\n(.*?)```", text,
                     re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/metrics.md", "exec"), namespace)

    def generator(images: torch.Tensor) -> torch.Tensor:  # float [B, T, 3, H, W] in [0, 1]
        return images[:, None].repeat(1, 16, 1, 1, 1)

    module = namespace["VideoValidation"](generator)
    rng = np.random.default_rng(0)
    for step in range(2):
        batch = {"image": torch.from_numpy(rng.random((3, 3, 32, 32))).float(),
                 "video": synthetic_videos(step, 3)}
        module.validation_step(batch, step)
    logged = module.on_validation_epoch_end()
    assert set(logged) == {"val/fvd16", "val/ad"}
    assert logged["val/fvd16"] > 0 and float(logged["val/ad"]) == pytest.approx(0.0, abs=1e-6)
