"""`ttm-bench generate --model ttm|ti2v|<ablation> --set checkpoint=...` through the real runner."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

from reference_impl.ttm.config import VARIANTS
from tests.ttm_fixtures import write_tiny_checkpoint
from ttm_bench.cli import main
from ttm_bench.data.masklets import parse_masklets
from ttm_bench.evaluation import evaluate, inputs_from_run
from ttm_bench.generation.normalize import NormalizationRecord, normalize_trajectory
from ttm_bench.generation.registry import register_model, resolve_model
from ttm_bench.generation.runner import GenerationJob
from ttm_bench.hashing import file_sha256
from ttm_bench.video import read_video


@pytest.fixture(scope="module", autouse=True)
def installed_entry_points():
    """Register the names as an install of this tree's pyproject.toml would."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    for name, target in pyproject["project"]["entry-points"]["ttm_bench.models"].items():
        if name in VARIANTS:
            register_model(name)(resolve_model(target))


def _generate(bench: Path, model: str, out: Path, *settings: str) -> int:
    args = ["generate", "--bench", str(bench), "--model", model, "--out", str(out),
            "--shard", "0/4", "--quiet"]
    for setting in settings:
        args += ["--set", setting]
    return main(args)


def _check_run(out: Path, bench) -> None:
    sample = bench.samples[0]
    sidecar = json.loads((out / "videos" / f"{sample.id}.json").read_text())
    assert sidecar["status"] == "ok", sidecar
    video = read_video(out / "videos" / f"{sample.id}.mp4")
    assert video.shape == (bench.info.num_frames, bench.info.height, bench.info.width, 3)


@pytest.mark.parametrize("name", ["ttm", "ti2v"])
def test_generate_runs_the_full_pipeline_from_a_tiny_checkpoint(small_bench, tmp_path, name):
    checkpoint = write_tiny_checkpoint(tmp_path, "unet-tiny", name)
    out, trajectories = tmp_path / "run", tmp_path / "trajectories"
    assert _generate(small_bench.root, name, out, f"checkpoint={checkpoint}", "steps=1",
                     f"trajectory_dir={trajectories}") == 0
    _check_run(out, small_bench)
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["checkpoint"] == str(checkpoint)
    saved = sorted(p.name for p in trajectories.glob("*.mp4")) if name == "ttm" else []
    assert saved == ([f"{small_bench.samples[0].id}.mp4"] if name == "ttm" else [])
    if saved:
        assert read_video(trajectories / saved[0]).shape == (4, 32, 32, 3)
    sample = small_bench.samples[0]
    sidecar = json.loads((out / "videos" / f"{sample.id}.json").read_text())
    if name == "ti2v":  # no stage 1, no trajectory
        assert sidecar["trajectory_sha256"] is None and not (out / "trajectories").exists()
        return
    # the run keeps the stage-1 label maps stage 2 conditioned on, mapped like the video
    path = out / "trajectories" / f"{sample.id}.json"
    assert sidecar["trajectory_sha256"] == file_sha256(path)
    job = GenerationJob(small_bench.root, out, name, run["config"])
    generated = job.load_model().generate(job.request(sample.id))  # seeded: the same output
    record = NormalizationRecord(**{**sidecar["extra"]["normalization"],
                                    "frame_indices": tuple(sidecar["extra"]["normalization"]
                                                           ["frame_indices"])})
    expected = normalize_trajectory(generated.trajectory, record, len(sample.objects))
    info = small_bench.info
    np.testing.assert_array_equal(
        parse_masklets(json.loads(path.read_text()), str(path), [o.id for o in sample.objects],
                       (info.height, info.width), "-", info.num_frames), expected)
    results = evaluate(inputs_from_run(out, small_bench.root), tmp_path / "eval",
                       ["trajectory_miou"], n_boot=10, progress=False,
                       metric_options={"trajectory_miou": {"target": "trajectory"}})
    assert results["presets"]["trajectory_miou"]["params"]["target"] == "trajectory"
    assert results["invalid_samples"] == {}
    row = next(r for r in results["aggregate"] if r["split"] == "all")
    assert 0.0 <= row["value"] <= 1.0 and row["n"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(VARIANTS) - {"ttm", "ti2v"}))
def test_generate_runs_every_ablation(small_bench, tmp_path, name):
    checkpoint = write_tiny_checkpoint(tmp_path, "dit-tiny", name)
    out = tmp_path / "run"
    assert _generate(small_bench.root, name, out, f"checkpoint={checkpoint}", "steps=1") == 0
    _check_run(out, small_bench)


def test_generate_without_a_checkpoint_says_none_were_released(small_bench, tmp_path, capsys):
    assert _generate(small_bench.root, "ttm", tmp_path / "run") == 2
    assert "no Through-The-Mask weights have been released" in capsys.readouterr().err


def test_generate_with_a_checkpoint_of_another_variant_is_refused(small_bench, tmp_path, capsys):
    checkpoint = write_tiny_checkpoint(tmp_path, "unet-tiny", "ti2v")
    assert _generate(small_bench.root, "ttm", tmp_path / "run", f"checkpoint={checkpoint}") == 2
    assert "holds a 'ti2v' checkpoint, not 'ttm'" in capsys.readouterr().err
