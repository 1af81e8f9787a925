"""The procedural scene renderer: determinism, exact flow, occlusion, captions."""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np
import pytest

from ttm_bench.data import synthetic_scene
from ttm_bench.data.synthetic_scene import (
    COLOURS,
    SHAPES,
    ObjectMotion,
    SceneSpec,
    describe_scene,
    render_scene,
    sample_one_moves_spec,
    sample_scene_spec,
)
from ttm_bench.errors import TTMBenchError, UnknownNameError


def _object(**changes) -> ObjectMotion:
    base = ObjectMotion(shape="disc", label="disc", colour="red", radius=20.0, start=(64.0, 64.0),
                        velocity=(0.0, 0.0), angle=0.0, angular_velocity=0.0, scale_rate=0.0,
                        depth=0, texture_seed=1)
    return dataclasses.replace(base, **changes)


def _scene(*objects: ObjectMotion, frames: int = 4) -> SceneSpec:
    return SceneSpec(height=128, width=128, num_frames=frames, objects=objects, background_seed=5)


def _interior(mask: np.ndarray) -> np.ndarray:
    """Mask pixels whose 4-neighbours are in the mask too."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def test_shapes_dtypes_and_mean_flow_magnitude():
    spec = sample_scene_spec(np.random.default_rng(0), 3, height=96, width=128, num_frames=5)
    render = render_scene(spec)
    assert render.frames.shape == (5, 96, 128, 3) and render.frames.dtype == np.uint8
    assert render.masks.shape == (5, 3, 96, 128) and render.masks.dtype == bool
    assert render.flow.shape == (4, 96, 128, 2) and render.flow.dtype == np.float32
    assert render.object_displacement.shape == (3, 4)
    magnitude = np.hypot(render.flow[..., 0].astype(float), render.flow[..., 1])
    assert render.mean_flow_magnitude == pytest.approx(magnitude.mean(), rel=1e-9)
    assert render.mean_flow_magnitude > 0
    # Flow is zero exactly off the objects.
    assert not render.flow[~render.masks[:-1].any(axis=1)].any()
    speeds = [math.hypot(*o.velocity) for o in spec.objects]
    np.testing.assert_allclose(render.object_displacement, np.repeat([speeds], 4, 0).T)


def test_same_seed_same_scene_and_different_seeds_differ():
    def make(seed: int):
        spec = sample_scene_spec(np.random.default_rng(seed), 2, num_frames=3)
        return spec, render_scene(spec)

    (spec_a, a), (spec_b, b), (spec_c, c) = make(11), make(11), make(12)
    assert spec_a == spec_b
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.flow, b.flow)
    assert spec_a != spec_c
    assert not np.array_equal(a.frames, c.frames)


def test_pure_translation_flow_equals_velocity_on_object_pixels():
    spec = _scene(_object(shape="square", label="square", velocity=(2.5, -1.25)))
    render = render_scene(spec)
    for t in range(3):
        mask = render.masks[t, 0]
        assert mask.sum() == pytest.approx(2 * 20.0**2, rel=0.06)
        np.testing.assert_allclose(render.flow[t][mask], np.broadcast_to((2.5, -1.25),
                                                                          (mask.sum(), 2)))


def test_rotation_and_scale_flow_known_answer():
    omega, rate = 3.0, 0.02
    spec = _scene(_object(angular_velocity=omega, scale_rate=rate, start=(60.0, 70.0)))
    render = render_scene(spec)
    ys, xs = np.nonzero(render.masks[1, 0])
    rel = np.stack([xs - 60.0, ys - 70.0], axis=-1)
    c, s = math.cos(math.radians(omega)), math.sin(math.radians(omega))
    # Positive angle: clockwise on screen (y down) means x' = c x - s y, y' = s x + c y.
    expected = (1 + rate) * rel @ np.array([[c, -s], [s, c]]).T - rel
    np.testing.assert_allclose(render.flow[1][ys, xs], expected, atol=1e-4)
    assert render.masks[0, 0].sum() < render.masks[3, 0].sum()  # it grows


def test_shape_areas_match_the_area_radius_used_for_sampling():
    rng = np.random.default_rng(2)
    for shape in SHAPES:
        spec = sample_scene_spec(rng, 1, num_frames=2)
        obj = dataclasses.replace(spec.objects[0], shape=shape, label=shape, scale_rate=0.0)
        reference = _scene(dataclasses.replace(obj, shape="disc"), frames=2)
        mask = render_scene(dataclasses.replace(spec, objects=(obj,))).masks[0, 0]
        disc = render_scene(reference).masks[0, 0]
        assert mask.any()
        # Shapes are sized by the radius of the disc of equal area.
        equal_area_disc = math.pi * (obj.radius * math.sqrt(_unit_area(shape) / math.pi)) ** 2
        assert mask.sum() == pytest.approx(equal_area_disc, rel=0.04), shape
        assert disc.sum() >= mask.sum()


def _unit_area(shape: str) -> float:
    from ttm_bench.data import synthetic_scene

    return synthetic_scene._UNIT_AREAS[shape]


def test_occlusion_front_object_wins_and_masks_are_disjoint():
    front = _object(colour="blue", depth=0, start=(70.0, 64.0), texture_seed=2)
    back = _object(shape="square", label="square", colour="yellow", depth=1, start=(50.0, 64.0))
    render = render_scene(_scene(back, front))
    masks = render.masks
    assert (masks.sum(axis=1) <= 1).all()
    # (60, 64) is inside both shapes: it belongs to the nearer disc.
    assert masks[0, 1, 64, 60] and not masks[0, 0, 64, 60]
    disc_colour = render.frames[0, 64, 60].astype(int)
    assert disc_colour[2] > disc_colour[0]  # blue, not yellow
    assert masks[0, 0, 64, 40]  # the square's uncovered left side stays visible


@pytest.mark.parametrize("frames", [16, 64])
def test_sampled_objects_stay_inside_and_use_distinct_shapes_and_colours(frames: int):
    rng = np.random.default_rng(4)
    for n in (1, 2, 3) * 5:
        spec = sample_scene_spec(rng, n, num_frames=frames)
        assert len({o.shape for o in spec.objects}) == n
        assert len({o.colour for o in spec.objects}) == n
        assert sorted(o.depth for o in spec.objects) == list(range(n))
        for obj in spec.objects:
            assert obj.angular_velocity != 0 or obj.scale_rate != 0
            assert math.hypot(*obj.velocity) > 0
            for t in (0, frames - 1):
                x, y = obj.centre(t)
                assert 0 < x < spec.width and 0 < y < spec.height
                # not even a star outgrows the frame over a long clip
                assert obj.radius * obj.scale(t) < 0.5 * 1.2 * min(spec.width, spec.height)


def test_captions_mention_each_object_and_motion_prompt_omits_appearance():
    spec = sample_scene_spec(np.random.default_rng(9), 3)
    caption, motion, local, labels = describe_scene(spec)
    assert labels == [o.label for o in spec.objects]
    for obj, prompt in zip(spec.objects, local, strict=True):
        assert obj.colour in prompt and obj.label in prompt
        assert prompt in caption.lower()
        assert obj.label in motion
        assert obj.colour not in motion
    assert "background" in caption and "background" not in motion
    assert describe_scene(spec) == (caption, motion, local, labels)


def test_motion_phrases_name_direction_rotation_and_scale():
    obj = _object(velocity=(-2.0, 0.1), angular_velocity=-2.0, scale_rate=-0.01)
    _, motion, _, _ = describe_scene(_scene(obj))
    assert motion == "A disc moves left, rotating counterclockwise and shrinking."


def test_motion_phrases_of_objects_that_do_not_translate():
    assert describe_scene(_scene(_object()))[1] == "A disc stays still."
    assert describe_scene(_scene(_object(angular_velocity=1.5)))[1] == (
        "A disc stays in place, rotating clockwise.")
    moving = _object(velocity=(0.0, -1.0), depth=1)
    caption, motion, _, _ = describe_scene(_scene(moving, _object(shape="star", label="star")))
    assert motion == "A disc moves up, and a star stays still."
    assert "a red textured star stays still, over" in caption


@pytest.mark.parametrize(("seed", "height", "width", "frames"),
                         [(0, 128, 128, 16), (1, 64, 64, 8), (2, 32, 48, 4), (3, 96, 128, 24)])
def test_one_moves_scene_has_a_still_object_clear_of_the_moving_one(
        seed: int, height: int, width: int, frames: int) -> None:
    spec = sample_one_moves_spec(np.random.default_rng(seed), height, width, frames)
    moving, still = spec.objects
    assert math.hypot(*moving.velocity) > 0 and (moving.angular_velocity or moving.scale_rate)
    assert still == still.still() and still.start == tuple(map(round, still.start))
    render = render_scene(spec)
    # exact: the still object's displacement and flow are 0, the moving one's its speed
    np.testing.assert_array_equal(render.object_displacement[1], 0.0)
    np.testing.assert_allclose(render.object_displacement[0], math.hypot(*moving.velocity))
    assert np.abs(render.flow[render.masks[:-1, 1]]).max() < 1e-9  # A_{t+1} A_t⁻¹ = I
    # never hidden: the still object's visible mask is its whole shape in every frame, and
    # the moving object's pixels stay the margin away from it
    assert (render.masks[:, 1] == render.masks[0, 1]).all() and render.masks[0, 1].any()
    margin = max(1, round(synthetic_scene._STILL_MARGIN * min(height, width) / 128))
    swept = render.masks[:, 0].any(axis=0)
    distance = cv2.distanceTransform((~swept).astype(np.uint8), cv2.DIST_L2, 5)
    assert distance[render.masks[0, 1]].min() > margin
    assert spec == sample_one_moves_spec(np.random.default_rng(seed), height, width, frames)


def test_one_moves_scene_without_room_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic_scene, "_MAX_DRAWS", 0)
    with pytest.raises(TTMBenchError, match=r"no room for a still object.*wider frame"):
        sample_one_moves_spec(np.random.default_rng(0))


def test_invalid_scenes_raise_errors_that_name_the_problem():
    with pytest.raises(UnknownNameError, match="hexagon"):
        render_scene(_scene(_object(shape="hexagon")))
    with pytest.raises(UnknownNameError, match="teal"):
        render_scene(_scene(_object(colour="teal")))
    with pytest.raises(TTMBenchError, match="depth"):
        render_scene(_scene(_object(), _object(start=(20.0, 20.0))))
    with pytest.raises(TTMBenchError, match="num_objects"):
        sample_scene_spec(np.random.default_rng(0), len(SHAPES) + 1)
    assert len(COLOURS) >= len(SHAPES)
