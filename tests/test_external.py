"""The external-process adapter against stand-in upstream checkouts (tests/external_standins.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from baselines.external import (
    LAYOUTS,
    ExternalModel,
    load_preset,
    parse_preset,
    preset_model,
    preset_names,
    run_command,
)
from tests.external_standins import install_standin
from ttm_bench.errors import TTMBenchError, UnknownNameError, ValidationError
from ttm_bench.generation.model import GeneratedVideo, GenerationFailure, GenerationRequest
from ttm_bench.generation.normalize import prepare_image

PAPER_BASELINES = ["consisti2v", "dynamicrafter-1024", "dynamicrafter-256", "dynamicrafter-512",
                   "motion-i2v", "videocrafter1-i2v"]


def make_request(index: int, caption: str | None = None) -> GenerationRequest:
    """A 24×40 image whose colour encodes `index`, with a caption naming it."""
    image = np.zeros((24, 40, 3), np.uint8)
    image[..., 0] = 40 * index + 10
    image[:, :20, 1] = 200
    return GenerationRequest(sample_id=f"s{index}", image=image,
                             caption=caption or f"clip number {index}", num_frames=16, fps=8.0,
                             height=24, width=40, seed=1000 + index)


def load_model(preset: str, tmp_path: Path, **overrides) -> ExternalModel:
    repo = install_standin(preset, tmp_path)
    cls = preset_model(preset, "Model")
    model = cls()
    config = {**cls.default_config, "repo": str(repo), "python": sys.executable,
              "work_dir": str(tmp_path / "work"), **overrides}
    model.load(config, "cpu")
    return model


def expected_clip(request: GenerationRequest, preset: str) -> np.ndarray:
    native = load_preset(preset).native
    image = prepare_image(request.image, native.height, native.width).astype(int)
    return np.stack([np.clip(image + 4 * t, 0, 255) for t in range(native.frames)]).astype(
        np.uint8)


def test_every_paper_baseline_has_a_valid_preset():
    assert preset_names() == PAPER_BASELINES
    defaults = {name: load_preset(name) for name in PAPER_BASELINES}
    vc = defaults["videocrafter1-i2v"]
    assert (vc.native.height, vc.native.width, vc.native.frames, vc.native.fps) == (320, 512, 16, 8)
    assert vc.config["cfg_scale"] == 12.0 and vc.config["ddim_steps"] == 50
    for size, (h, w, stride) in {"256": (256, 256, 3), "512": (320, 512, 24),
                                 "1024": (576, 1024, 10)}.items():
        dc = defaults[f"dynamicrafter-{size}"]
        assert (dc.native.height, dc.native.width, dc.native.frames) == (h, w, 16)
        assert dc.config["frame_stride"] == stride and dc.config["cfg_scale"] == 7.5
    ci = defaults["consisti2v"]
    assert (ci.native.height, ci.native.width, ci.config["frame_stride"], ci.config["steps"],
            ci.config["cfg_scale"]) == (256, 256, 3, 50, 7.5)
    assert (defaults["motion-i2v"].native.height, defaults["motion-i2v"].native.width) == (320, 512)


@pytest.mark.parametrize("preset", ["videocrafter1-i2v", "dynamicrafter-256", "consisti2v",
                                    "motion-i2v"])
def test_batch_of_two_runs_once_and_pairs_outputs_with_inputs(preset, tmp_path):
    model = load_model(preset, tmp_path)
    requests = [make_request(1), make_request(2)]
    outcomes = model.generate_batch(requests)
    for request, outcome in zip(requests, outcomes, strict=True):
        assert isinstance(outcome, GeneratedVideo), outcome
        np.testing.assert_array_equal(outcome.frames, expected_clip(request, preset))
        assert outcome.fps == load_preset(preset).native.fps
        record = outcome.record["external"]
        assert record["exit_code"] == 0 and not record["timed_out"]
        assert record["batch"] == ["s1", "s2"]  # one invocation served both
        assert record["command"].startswith(sys.executable)
    assert not any((tmp_path / "work").iterdir())  # invocation directories cleaned up


@pytest.mark.parametrize("preset", ["dynamicrafter-512", "dynamicrafter-1024"])
def test_large_dynamicrafter_presets(preset, tmp_path):
    model = load_model(preset, tmp_path)
    (outcome,) = model.generate_batch([make_request(3)])
    np.testing.assert_array_equal(outcome.frames, expected_clip(make_request(3), preset))


def test_invocation_seed_is_the_first_requests_and_recorded(tmp_path):
    model = load_model("videocrafter1-i2v", tmp_path)
    outcomes = model.generate_batch([make_request(1), make_request(2)])
    assert {o.record["external"]["seed"] for o in outcomes} == {1001}
    assert "--seed 1001" in outcomes[0].record["external"]["command"]


def test_wrong_frame_count_fails_each_sample_with_record(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "wrong_frames")
    model = load_model("videocrafter1-i2v", tmp_path)
    outcomes = model.generate_batch([make_request(1), make_request(2)])
    for outcome in outcomes:
        assert isinstance(outcome, GenerationFailure)
        assert "[15, 320, 512, 3]" in str(outcome) and "[16, 320, 512, 3]" in str(outcome)
        assert outcome.record["external"]["exit_code"] == 0


def test_crash_records_exit_code_and_stderr_tail(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "crash")
    model = load_model("dynamicrafter-256", tmp_path)
    with pytest.raises(GenerationFailure) as info:
        model.generate(make_request(1))
    record = info.value.record["external"]
    assert record["exit_code"] == 3
    assert "CUDA out of memory (stand-in)" in record["stderr_tail"]
    assert "code 3" in str(info.value)


def test_crash_on_one_sample_of_a_batch_fails_only_that_sample(tmp_path, monkeypatch):
    monkeypatch.setenv("STANDIN_MODE", "crash_on=poison")
    model = load_model("consisti2v", tmp_path)
    requests = [make_request(1), make_request(2, "a poison clip"), make_request(3)]
    outcomes = model.generate_batch(requests)
    assert [type(o).__name__ for o in outcomes] == [
        "GeneratedVideo", "GenerationFailure", "GeneratedVideo"]
    assert outcomes[1].record["external"]["exit_code"] == 4
    assert outcomes[0].record["external"]["batch"] == ["s1"]  # retried alone
    np.testing.assert_array_equal(outcomes[2].frames, expected_clip(requests[2], "consisti2v"))


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a killed, unreaped zombie is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\tZ" in status.read_text())


def test_hang_is_killed_with_its_children_at_the_timeout(tmp_path, monkeypatch):
    pidfile = tmp_path / "child.pid"
    monkeypatch.setenv("STANDIN_MODE", "hang")
    monkeypatch.setenv("STANDIN_PIDFILE", str(pidfile))
    model = load_model("videocrafter1-i2v", tmp_path, timeout_startup_s=2.0,
                       timeout_per_sample_s=0.0)
    start = time.monotonic()
    with pytest.raises(GenerationFailure, match="timed out") as info:
        model.generate(make_request(1))
    assert time.monotonic() - start < 20
    assert info.value.record["external"]["timed_out"] is True
    assert info.value.record["external"]["exit_code"] is None
    time.sleep(0.2)
    assert not running(int(pidfile.read_text()))  # the tool's child was killed with it


def test_missing_output_is_a_failure_naming_the_pattern(tmp_path):
    model = load_model("videocrafter1-i2v", tmp_path)
    script = Path(model.repo) / "scripts/evaluation/inference.py"
    script.write_text("import sys; sys.exit(0)\n")  # exits cleanly, writes nothing
    with pytest.raises(GenerationFailure, match=r"expected one output at .*0000\.mp4"):
        model.generate(make_request(1))


def test_load_errors_name_the_fix(tmp_path):
    cls = preset_model("videocrafter1-i2v", "Model")
    with pytest.raises(TTMBenchError, match="--set repo=PATH"):
        cls().load({**cls.default_config, "repo": str(tmp_path / "nowhere")}, "cpu")
    repo = install_standin("videocrafter1-i2v", tmp_path)
    (repo / "checkpoints/i2v_512_v1/model.ckpt").unlink()
    with pytest.raises(TTMBenchError, match="--set checkpoint=PATH"):
        cls().load({**cls.default_config, "repo": str(repo)}, "cpu")
    with pytest.raises(TTMBenchError, match="--set python=PATH"):
        cls().load({**cls.default_config, "repo": str(repo), "python": "no-such-python",
                    "checkpoint": str(tmp_path)}, "cpu")


def test_dynamicrafter_refuses_a_work_dir_it_would_mangle(tmp_path):
    model = load_model("dynamicrafter-256", tmp_path, work_dir=str(tmp_path / "my_samples"))
    with pytest.raises(TTMBenchError, match="'samples'"):
        model.generate(make_request(1))


def test_an_empty_caption_fails_only_its_sample(tmp_path):
    model = load_model("videocrafter1-i2v", tmp_path)
    outcomes = model.generate_batch([make_request(1), make_request(2, " ")])
    assert isinstance(outcomes[0], GeneratedVideo)
    assert isinstance(outcomes[1], GenerationFailure) and "empty caption" in str(outcomes[1])


def test_empty_caption_is_refused_before_running(tmp_path):
    with pytest.raises(TTMBenchError, match="empty caption"):
        LAYOUTS["image-dir+prompt-file"]([make_request(1, " \n ")], ["0000"], tmp_path,
                                         load_preset("videocrafter1-i2v").native)


def test_prompt_config_layout_carries_per_sample_seeds(tmp_path):
    LAYOUTS["prompt-config-yaml"]([make_request(1), make_request(2, "two\nlines")],
                                  ["0000", "0001"], tmp_path, load_preset("consisti2v").native)
    config = yaml.safe_load((tmp_path / "prompts.yaml").read_text())
    assert config["seeds"] == [1001, 1002]
    assert config["prompts"] == ["clip number 1", "two lines"]
    assert config["path_to_first_frames"] == [str(tmp_path / "0000.png"),
                                              str(tmp_path / "0001.png")]


def test_preset_validation_lists_every_problem():
    with pytest.raises(ValidationError) as info:
        parse_preset({"name": "x", "layout": "nope", "seed_scope": "sometimes",
                      "native": {"frames": 16}, "command": ["run"], "output": "out.mp4",
                      "config": {"batch_size": 2}}, "x.yaml")
    fields = {p.field for p in info.value.problems}
    assert fields == {"layout", "seed_scope", "native", "config", "output"}
    with pytest.raises(UnknownNameError, match="videocrafter1-i2v"):
        load_preset("videocrafter-i2v")


def test_run_command_missing_executable(tmp_path):
    with pytest.raises(TTMBenchError, match="cannot run"):
        run_command(["/no/such/tool"], tmp_path, 5.0, tmp_path)
