import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from reference_impl.ttm.checkpoint import load_checkpoint
from reference_impl.ttm.clips import (
    ClipDataset,
    TrainingClip,
    clip_from_sav,
    clips_from_benchmark,
    write_clip,
)
from reference_impl.ttm.components import TTMComponents
from reference_impl.ttm.config import load_architecture, variant
from reference_impl.ttm.train import Dropout, TrainConfig, stage_batch, stage_loss, train
from tests.ttm_fixtures import moving_square_clip
from ttm_bench.data.masks import encode_rle
from ttm_bench.errors import TTMBenchError
from ttm_bench.video import read_video, write_video


@pytest.fixture
def clip_set(tmp_path: Path) -> Path:
    root = tmp_path / "clips"
    root.mkdir()
    for i, dx in enumerate((2, 3)):
        write_clip(root, moving_square_clip(f"c{i}", dx))
    return root


def test_clip_set_round_trip_and_fitting(clip_set):
    data = ClipDataset(clip_set, frames=4, height=32, width=32)
    assert len(data) == 2
    clip = data[1]
    assert clip.video.shape == (4, 32, 32, 3) and clip.masks.shape == (4, 1, 32, 32)
    assert clip.local_prompts == ("a white square",)
    with pytest.raises(TTMBenchError, match="has 6 frames, the model needs 9"):
        ClipDataset(clip_set, frames=9, height=32, width=32)[0]


def test_dropout_draws_exclusive_events_with_the_given_rates():
    rng = random.Random(0)
    draws = [Dropout(0.1, 0.2, 0.3).draw(rng) for _ in range(20000)]
    rate = {d: draws.count(d) / len(draws) for d in set(draws)}
    assert rate[(True, False)] == pytest.approx(0.1, abs=0.01)
    assert rate[(False, True)] == pytest.approx(0.2, abs=0.01)
    assert rate[(True, True)] == pytest.approx(0.3, abs=0.01)


def _fixed_loss(checkpoint: Path, stage: str, data: ClipDataset) -> float:
    components = load_checkpoint(checkpoint)
    denoiser = components.motion if stage == "motion" else components.video
    with torch.no_grad():
        losses = [float(stage_loss(components, denoiser,
                                   stage_batch(components, stage, [data[i]], [(False, False)]),
                                   torch.Generator().manual_seed(seed)))
                  for i in range(len(data)) for seed in range(4)]
    return float(np.mean(losses))


def test_training_runs_end_to_end_saves_and_resumes(clip_set, tmp_path):
    out = tmp_path / "ckpt"
    config = TrainConfig("dit-tiny", "ttm", "video", clip_set, out, steps=2, batch_size=1,
                         save_every=1)
    assert len(train(config, progress=False)) == 2
    assert json.loads((out / f"state-{config.stage}" / "step.json").read_text()) == {"step": 2}
    trained = load_checkpoint(out, "ttm")
    assert len(train(TrainConfig(**{**config.__dict__, "steps": 3}), progress=False)) == 1
    resumed = load_checkpoint(out, "ttm")
    changed = [k for k, v in resumed.state_dict().items()
               if not torch.equal(v, trained.state_dict()[k])]
    assert changed and all(k.startswith("video.") for k in changed)  # only stage 2 trains
    with pytest.raises(TTMBenchError, match="no stage 1"):
        train(TrainConfig("dit-tiny", "ti2v", "motion", clip_set, out), progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["video", "motion"])
def test_training_a_tiny_stage_lowers_its_loss_and_resumes(clip_set, tmp_path, stage):
    out = tmp_path / "ckpt"
    config = TrainConfig("unet-tiny", "ttm", stage, clip_set, out, steps=1, batch_size=2,
                         save_every=1)
    assert len(train(config, progress=False)) == 1
    data = ClipDataset(clip_set, 4, 32, 32)
    before = _fixed_loss(out, stage, data)
    losses = train(TrainConfig(**{**config.__dict__, "steps": 25}), progress=False)
    assert len(losses) == 24  # resumed at step 1
    after = _fixed_loss(out, stage, data)
    assert after < 0.7 * before
    assert json.loads((out / f"state-{config.stage}" / "step.json").read_text()) == {"step": 25}


def test_benchmark_clips_carry_the_masklets_and_prompts(small_bench, tmp_path):
    assert clips_from_benchmark(small_bench.root, tmp_path / "clips", progress=False) == 4
    data = ClipDataset(tmp_path / "clips", 8, 64, 64)
    for i, sample in enumerate(small_bench.samples):
        clip = data[i]
        assert clip.local_prompts == tuple(o.local_prompt for o in sample.objects)
        assert np.array_equal(clip.masks[0], small_bench.masks(sample))
        assert np.array_equal(clip.video, small_bench.video(sample))


def test_sav_clips_take_the_annotated_frames(tmp_path):
    source = moving_square_clip("sav", 2, frames=9)
    write_video(tmp_path / "sav.mp4", source.video, fps=24.0, lossless=True)
    annotated = source.masks[::4]
    (tmp_path / "sav_manual.json").write_text(json.dumps({"masklet": [
        [encode_rle(m).to_dict() for m in frame] for frame in annotated]}))
    clip = clip_from_sav("sav", tmp_path / "sav.mp4", tmp_path / "sav_manual.json",
                         "a square slides", "an object slides", ["a white square"])
    assert np.array_equal(clip.masks, annotated)
    assert np.array_equal(clip.video, read_video(tmp_path / "sav.mp4", [0, 4, 8]))
    with pytest.raises(TTMBenchError, match="1 masklets but 2 local prompts"):
        clip_from_sav("sav", tmp_path / "sav.mp4", tmp_path / "sav_manual.json", "c", "m",
                      ["a", "b"])


def test_clips_with_different_object_counts_share_a_batch():
    one = moving_square_clip("one", 2, frames=4, size=32)
    two_masks = np.concatenate([one.masks, np.roll(one.masks, 8, axis=2)], axis=1)
    two = TrainingClip("two", one.video, two_masks, "two squares", "two objects slide",
                       ("a square", "another square"))
    torch.manual_seed(0)
    components = TTMComponents(load_architecture("unet-tiny"), variant("ttm")).eval()
    batch = stage_batch(components, "video", [one, two], [(False, False)] * 2)
    layout = batch.layout
    assert layout.boxes.shape == (2, 4, 2, 4)
    assert layout.present[0, :, 0].all() and not layout.present[0, :, 1].any()
    assert layout.present[1].all()
    assert set(layout.local_token_object[0].tolist()) == {0, -1}  # no prompt for the pad
    assert set(layout.local_token_object[1].tolist()) == {0, 1}


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(directory).state_dict()


@pytest.mark.parametrize("steps", [4, pytest.param(16, marks=pytest.mark.slow)])
def test_a_resumed_run_reproduces_the_uninterrupted_run(clip_set, tmp_path, steps):
    # 3 clips, batch 2: one batch per epoch, so every step crosses an epoch boundary
    write_clip(clip_set, moving_square_clip("c2", 1))
    base = dict(architecture="dit-tiny", variant="ttm", stage="video", data=clip_set,
                batch_size=2, learning_rate=1e-2, save_every=1000)
    straight = TrainConfig(**base, output=tmp_path / "straight", steps=steps)
    split = TrainConfig(**base, output=tmp_path / "split", steps=steps // 2)
    full = train(straight, progress=False)
    first = train(split, progress=False)
    second = train(TrainConfig(**{**split.__dict__, "steps": steps}), progress=False)
    assert first + second == full
    a, b = _weights(straight.output), _weights(split.output)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_fresh_run_refuses_to_overwrite_a_trained_stage(clip_set, tmp_path):
    out = tmp_path / "ckpt"
    motion = TrainConfig("dit-tiny", "ttm", "motion", clip_set, out, steps=1, batch_size=1)
    train(motion, progress=False)
    stage_one = _weights(out)
    video = TrainConfig("dit-tiny", "ttm", "video", clip_set, out, steps=1, batch_size=1)
    with pytest.raises(TTMBenchError, match=f"trained stage\\(s\\): motion.*--init {out}"):
        train(video, progress=False)
    assert all(torch.equal(v, stage_one[k]) for k, v in _weights(out).items())
    train(TrainConfig(**{**video.__dict__, "init": out}), progress=False)
    after = _weights(out)
    assert all(torch.equal(after[k], v) for k, v in stage_one.items() if k.startswith("motion."))


def test_activation_checkpointing_trains_the_same_weights(clip_set, tmp_path):
    base = dict(architecture="dit-tiny", variant="ttm", stage="video", data=clip_set, steps=2,
                batch_size=1)
    plain = TrainConfig(**base, output=tmp_path / "plain")
    saved = TrainConfig(**base, output=tmp_path / "saved", checkpoint_object_layers=True,
                        checkpoint_backbone=True)
    assert train(plain, progress=False) == pytest.approx(train(saved, progress=False), abs=1e-6)
    a, b = _weights(plain.output), _weights(saved.output)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
