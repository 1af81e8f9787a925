import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from reference_impl.ttm.adapter import TI2VModel, TTMModel
from reference_impl.ttm.checkpoint import MANIFEST, WEIGHTS, load_checkpoint
from reference_impl.ttm.conditioning import (
    absent_placement,
    encode_still,
    object_layout,
    to_pixels,
)
from reference_impl.ttm.config import VARIANTS, load_architecture
from reference_impl.ttm.pipeline import TTMPipeline
from tests.ttm_fixtures import write_tiny_checkpoint
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.model import GenerationRequest
from ttm_bench.generation.registry import create_model, resolve_model


def _request(seed: int = 7) -> GenerationRequest:
    rng = np.random.default_rng(0)
    masks = np.zeros((2, 40, 40), bool)
    masks[0, 5:20, 5:20] = True
    masks[1, 22:38, 20:36] = True
    return GenerationRequest(
        sample_id="s1", image=rng.integers(0, 256, (40, 40, 3), dtype=np.uint8),
        caption="a red ball rolls towards a dog", num_frames=6, fps=8.0, height=24, width=30,
        seed=seed, motion_prompt="a ball rolls", local_prompts=("a red ball", "a dog"),
        object_labels=("ball", "dog"), masks=masks,
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    return {(a, v): write_tiny_checkpoint(root, a, v)
            for a, v in [("unet-tiny", "ttm"), ("unet-tiny", "ti2v"), ("dit-tiny", "ttm")]}


@pytest.mark.parametrize("key", [("unet-tiny", "ttm"), ("dit-tiny", "ttm")])
def test_ttm_adapter_returns_its_native_clip_with_its_stage_one_trajectory(checkpoints, key):
    model = create_model("reference_impl.ttm.adapter:TTMModel",
                         {"checkpoint": str(checkpoints[key]), "steps": 2})
    generated = model.generate(_request())
    arch = load_architecture(key[0])
    native = (arch.frames, arch.height, arch.width)
    assert generated.frames.shape == (*native, 3) and generated.frames.dtype == np.uint8
    assert generated.fps == pytest.approx(8.0 * arch.frames / 6)  # spans the requested clip
    out = model.last_output
    assert out.trajectory.shape == (*native, 3)
    assert out.labels.shape == native and out.labels.max() <= 2
    # the trajectory returned is the label maps stage 2 conditioned on, one mask per object
    assert generated.trajectory.shape == (arch.frames, 2, arch.height, arch.width)
    for k in range(2):
        np.testing.assert_array_equal(generated.trajectory[:, k], out.labels == k + 1)
    if key[0] == "unet-tiny":  # seeds decide everything
        assert np.array_equal(model.generate(_request()).frames, generated.frames)
        assert not np.array_equal(model.generate(_request(seed=8)).frames, generated.frames)


def test_ti2v_has_no_stage_one(checkpoints):
    model = create_model("reference_impl.ttm.adapter:TI2VModel",
                         {"checkpoint": str(checkpoints[("unet-tiny", "ti2v")]), "steps": 2})
    assert model.pipeline.components.motion is None
    generated = model.generate(_request())
    assert generated.frames.shape == (4, 32, 32, 3) and generated.trajectory is None
    assert model.last_output.trajectory is None


def test_unit_guidance_equals_the_conditional_prediction_alone(checkpoints):
    components = load_checkpoint(checkpoints[("unet-tiny", "ti2v")])
    pipeline = TTMPipeline(components)
    request = _request()
    guided = pipeline(request.image, request.masks, request.caption, request.local_prompts,
                      seed=3, steps=2, visual_guidance=1.0, text_guidance=1.0).video
    # the same sampling written out with only the fully conditioned prediction
    with torch.no_grad():
        image = cv2.resize(request.image, (32, 32), interpolation=cv2.INTER_AREA)
        x0 = encode_still(components.vae, image, 4, "cpu")
        layout = object_layout(components.text, [list(request.local_prompts)],
                               absent_placement(4, 2, "cpu"))
        text = components.text([request.caption])
        noise = torch.randn((1, 4, 4, 8, 8), generator=torch.Generator().manual_seed(3))
        latents = components.diffusion.sample(
            lambda x, t: components.video(x, t, x0, text, layout), noise, 2)
        expected = to_pixels(components.vae.decode(latents))
    assert np.abs(guided.astype(int) - expected.astype(int)).max() <= 1


def test_checkpoint_errors_name_the_fix(checkpoints, tmp_path):
    with pytest.raises(TTMBenchError, match="no Through-The-Mask weights have been released"):
        TTMModel().load({**TTMModel.default_config}, "cpu")
    with pytest.raises(TTMBenchError, match="not a TTM checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(TTMBenchError, match="holds a 'ti2v' checkpoint, not 'ttm'"):
        load_checkpoint(checkpoints[("unet-tiny", "ti2v")], "ttm")
    broken = tmp_path / "broken"
    broken.mkdir()
    source = checkpoints[("unet-tiny", "ttm")]
    (broken / MANIFEST).write_text((source / MANIFEST).read_text())
    (broken / WEIGHTS).write_bytes((checkpoints[("unet-tiny", "ti2v")] / WEIGHTS).read_bytes())
    with pytest.raises(TTMBenchError, match="does not match the architecture"):
        load_checkpoint(broken)
    with pytest.raises(TTMBenchError, match="2 masks but 1 local prompts"):
        model = TI2VModel()
        model.load({**TI2VModel.default_config, "checkpoint": str(checkpoints[("unet-tiny",
                                                                                 "ti2v")])}, "cpu")
        request = _request()
        model.generate(GenerationRequest(**{**request.__dict__, "local_prompts": ("x",),
                                            "object_labels": ()}))


def test_every_variant_is_declared_as_an_entry_point_with_its_own_name():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    entry_points = pyproject["project"]["entry-points"]["ttm_bench.models"]
    for name in VARIANTS:
        assert resolve_model(entry_points[name]).name == name


def test_samples_without_objects_run_with_an_all_background_trajectory(checkpoints):
    model = create_model("reference_impl.ttm.adapter:TTMModel",
                         {"checkpoint": str(checkpoints[("unet-tiny", "ttm")]), "steps": 1})
    request = _request()
    empty = GenerationRequest(**{**request.__dict__, "masks": np.zeros((0, 40, 40), bool),
                                 "local_prompts": (), "object_labels": ()})
    generated = model.generate(empty)
    assert generated.frames.shape == (4, 32, 32, 3)
    assert generated.trajectory is None  # no objects of the benchmark's to follow
    assert not model.last_output.labels.any()
