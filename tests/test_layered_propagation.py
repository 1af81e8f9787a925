"""Occlusion-aware tracking (`layered_propagation`) and its robust motion fits, on exact flows
and on rendered scenes with known answers: an object passing behind another and coming back,
a hidden part coming into view, an object that vanishes; and what the objects' colour models
decide: a part seen through a gap, an untracked object, a mask drawn too large."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ttm_bench.data.synthetic_edits import amodal_masks, hidden_in_first_frame
from ttm_bench.data.synthetic_scene import ObjectMotion, SceneSpec, render_scene
from ttm_bench.metrics.objects import similarity_motion
from ttm_bench.metrics.objects.flow_tracker import FlowTracker, forward_backward_flow
from ttm_bench.metrics.objects.layered_propagation import fit_motion, track_layers
from ttm_bench.metrics.objects.propagation import consistent
from ttm_bench.metrics.objects.tracks import mean_iou, persistence, resize_masks
from ttm_bench.video import resize_short_side


def similarity(scale: float, degrees: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = scale * math.cos(math.radians(degrees)), scale * math.sin(math.radians(degrees))
    return np.array([[c, -s, shift[0]], [s, c, shift[1]]])


def test_similarity_fit_recovers_the_motion_despite_a_third_of_outliers() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (300, 2))
    truth = similarity(1.03, 4.0, (2.5, -1.5))
    targets = similarity_motion.apply(truth, points)
    targets[:100] += rng.uniform(-20, 20, (100, 2))  # another motion's flow
    fitted = similarity_motion.fit(points, targets)
    np.testing.assert_allclose(fitted, truth, atol=1e-9)
    assert similarity_motion.scale_and_angle(fitted) == pytest.approx((1.03, 4.0))
    inverse = similarity_motion.invert(fitted)
    np.testing.assert_allclose(similarity_motion.compose(inverse, fitted),
                               similarity_motion.IDENTITY, atol=1e-12)


def test_similarity_fit_refuses_what_determines_no_motion() -> None:
    points = np.zeros((50, 2))
    assert similarity_motion.fit(points, points) is None  # every point the same
    few = np.arange(2 * (similarity_motion.MIN_POINTS - 1), dtype=float).reshape(-1, 2)
    assert similarity_motion.fit(few, few) is None
    # two halves meeting head-on fit a map that shrinks the region to a third in one frame:
    # no object does that; two motions mixed (an occlusion boundary) do
    region = np.zeros((64, 64), bool)
    region[8:56, 8:56] = True
    clash = np.zeros((64, 64, 2), np.float32)
    clash[:, :32, 0], clash[:, 32:, 0] = 16.0, -16.0
    assert fit_motion(region, region, clash) is None
    still = np.zeros((64, 64, 2), np.float32)
    np.testing.assert_allclose(fit_motion(region, region, still), similarity_motion.IDENTITY,
                               atol=1e-12)
    assert fit_motion(region, np.zeros_like(region), still) is None  # no consistent pixel


def translating_square(steps: int, size: int = 48, speed: float = 2.0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first [1, H, W], forward, backward [steps, H, W, 2]): exact flows of a 20-px square
    moving `speed` px right per frame over a still background."""
    first = np.zeros((1, size, size), np.float32)
    first[0, 10:30, 8:28] = 1.0
    forward = np.zeros((steps, size, size, 2), np.float32)
    backward = np.zeros_like(forward)
    for t in range(steps):
        shift = round(speed * t)
        forward[t, 10:30, 8 + shift:28 + shift, 0] = speed
        backward[t, 10:30, 8 + shift + round(speed):28 + shift + round(speed), 0] = -speed
    return first, forward, backward


def test_exact_flows_carry_a_square_and_its_displacement() -> None:
    first, forward, backward = translating_square(steps=4)
    layers = track_layers(first, forward, backward)
    expected = np.zeros((48, 48), bool)
    expected[10:30, 16:36] = True
    for masks in (layers.visible, layers.amodal, layers.carried):
        np.testing.assert_array_equal(masks[4, 0] >= 0.5, expected)
    square = layers.visible[3, 0] >= 0.5
    np.testing.assert_allclose(layers.displacement[3][square], 2.0, atol=1e-5)
    assert layers.displacement[3][~square].max() == 0.0
    # the consistency test: a pixel whose backward flow points into the square but whose
    # forward flow does not come back is inconsistent
    backward[0, 40, 40] = (-20.0, -15.0)
    assert not consistent(forward[0], backward[0])[40, 40]
    assert consistent(forward[0], backward[0])[15, 15]


def disc_and_square(disc: tuple[float, float, float], square: tuple[float, float],
                    turn: float = 0.0) -> SceneSpec:
    """A red disc (behind) moving right and a still blue square (in front), 128 px.
    disc: (radius, start x, speed px/frame); square: (radius, x); both centred at y = 64."""
    radius, start, speed = disc
    disc = ObjectMotion("disc", "disc", "red", radius, (start, 64.0), (speed, 0.0),
                        0.0, turn, 0.0, 1, 1)
    square = ObjectMotion("square", "square", "blue", square[0], (square[1], 64.0),
                          (0.0, 0.0), 0.0, 0.0, 0.0, 0, 2)
    return SceneSpec(128, 128, 16, (disc, square), 5)


def track_scene(spec: SceneSpec, frames: np.ndarray | None = None):
    render = render_scene(spec)
    video = resize_short_side(render.frames if frames is None else frames, 256,
                              method="bilinear")
    tracks = FlowTracker().track(video, resize_masks(render.masks[0], video.shape[1:3]))
    return render, tracks, resize_masks(render.masks, video.shape[1:3]) >= 0.5


def test_an_object_passing_behind_another_comes_back() -> None:
    spec = disc_and_square(disc=(16.0, 22.0, 6.0), square=(34.0, 64.0))
    render, tracks, targets = track_scene(spec)
    assert render.masks[6:9, 0].sum() == 0  # fully hidden for three frames
    assert persistence(tracks.presence, (0.5, 2.0)) == 1.0  # hidden is not gone
    assert mean_iou(tracks.masks, targets) >= 0.9
    seen_again = tracks.masks[11:, 0] >= 0.5
    overlap = (seen_again & targets[11:, 0]).sum() / (seen_again | targets[11:, 0]).sum()
    assert overlap >= 0.85


def test_a_hidden_part_coming_into_view_joins_its_object() -> None:
    spec = disc_and_square(disc=(18.0, 40.0, 4.0), square=(30.0, 30.0), turn=2.0)
    render, tracks, targets = track_scene(spec)
    shown = render.masks[:, 0].sum(axis=(1, 2))
    assert shown[-1] > 7 * shown[0]  # frame 0 shows an eighth of the disc
    last = tracks.masks[-1, 0] >= 0.5
    assert (last & targets[-1, 0]).sum() / (last | targets[-1, 0]).sum() >= 0.8
    void = resize_masks(hidden_in_first_frame(spec, render), targets.shape[2:]) >= 0.5
    assert void[-1, 0].sum() > 0.7 * targets[-1, 0].sum()


def test_a_vanished_object_is_cut_whole_and_a_hidden_one_is_not() -> None:
    spec = disc_and_square(disc=(16.0, 22.0, 6.0), square=(34.0, 64.0))
    alone = render_scene(SceneSpec(128, 128, 16, spec.objects[1:], 5))
    frames = render_scene(spec).frames.copy()
    frames[3:] = alone.frames[3:]  # the disc vanishes in the open at frame 3
    _, tracks, _ = track_scene(spec, frames)
    carried = (tracks.presence >= 0.5).sum(axis=(2, 3))
    assert carried[3:, 0].max() < 0.05 * carried[0, 0]
    assert persistence(tracks.presence[:, 1:], (0.5, 2.0)) == 1.0
    whole = amodal_masks(spec)
    assert whole[7, 0].sum() > 0 and render_scene(spec).masks[7, 0].sum() == 0


# --- colour models (steps 7 and 8) ---------------------------------------------------------

def flows(spec: SceneSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(video uint8 [T, 256, 256, 3], forward, backward, visible targets bool [T, L, H, W])."""
    render = render_scene(spec)
    video = resize_short_side(render.frames, 256, method="bilinear")
    forward, backward = forward_backward_flow(video, "medium")
    return video, forward, backward, resize_masks(render.masks, video.shape[1:3]) >= 0.5


def still_square(depth: int = 0) -> ObjectMotion:
    return ObjectMotion("square", "square", "blue", 34.0, (64.0, 64.0), (0.0, 0.0), 0.0, 0.0,
                        0.0, depth, 2)


def test_the_far_side_of_an_object_seen_through_a_gap_is_claimed_by_its_colour() -> None:
    # a red bar behind a still square shows a sliver on the left; moving right, its far end
    # comes out on the right, touching nothing the tracker holds, and the sliver goes in
    bar = ObjectMotion("rectangle", "rectangle", "red", 30.0, (60.0, 64.0), (2.0, 0.0), 0.0,
                       0.0, 0.0, 1, 1)
    spec = SceneSpec(128, 128, 16, (bar, still_square()), 5)
    video, forward, backward, targets = flows(spec)
    first = targets[0].astype(np.float32)
    by_motion = track_layers(first, forward, backward)
    by_colour = track_layers(first, forward, backward, frames=video)
    last = targets[-1, 0]
    assert not (by_motion.visible[-1, 0] >= 0.5).any()  # motion alone cannot tell
    assert iou(by_colour.visible[-1, 0] >= 0.5, last) >= 0.9
    assert mean_iou(by_colour.visible, targets) >= 0.9


def test_an_untracked_object_is_not_taken_for_a_tracked_one() -> None:
    # a green bar, not tracked, comes out from behind the square as the tracked red disc goes
    # in, at the disc's speed; and a red disc, not tracked, enters the frame in the open
    disc = ObjectMotion("disc", "disc", "red", 14.0, (24.0, 64.0), (2.5, 0.0), 0.0, 0.0, 0.0,
                        1, 1)
    bar = ObjectMotion("rectangle", "rectangle", "green", 26.0, (66.0, 64.0), (2.5, 0.0),
                       0.0, 0.0, 0.0, 2, 3)
    video, forward, backward, targets = flows(SceneSpec(128, 128, 16, (disc, still_square(),
                                                                        bar), 5))
    layers = track_layers(targets[0, :2].astype(np.float32), forward, backward, frames=video)
    assert targets[-1, 2].sum() > 4000
    assert not ((layers.amodal[:, 0] >= 0.5) & targets[:, 2]).any()
    red_bar = ObjectMotion("rectangle", "rectangle", "red", 24.0, (30.0, 90.0), (1.0, 0.0),
                           0.0, 0.0, 0.0, 0, 1)
    intruder = ObjectMotion("disc", "disc", "red", 14.0, (96.0, -14.0), (0.0, 3.0), 0.0, 0.0,
                            0.0, 1, 2)
    video, forward, backward, targets = flows(SceneSpec(128, 128, 16, (red_bar, intruder), 5))
    layers = track_layers(targets[0, :1].astype(np.float32), forward, backward, frames=video)
    assert targets[-1, 1].sum() > 2000
    assert not ((layers.amodal[:, 0] >= 0.5) & targets[:, 1]).any()
    assert mean_iou(layers.visible, targets[:, :1]) >= 0.95


def test_a_mask_drawn_too_large_is_seen_without_its_background_ring() -> None:
    disc = ObjectMotion("disc", "disc", "red", 20.0, (40.0, 64.0), (2.0, 0.5), 0.0, 0.0, 0.0,
                        0, 1)
    video, forward, backward, targets = flows(SceneSpec(128, 128, 16, (disc,), 5))
    first = cv2.dilate(targets[0, 0].astype(np.uint8), np.ones((9, 9), np.uint8))
    first = first.astype(np.float32)[None]  # a 4-px ring of background around the disc
    assert first.sum() > 1.2 * targets[0, 0].sum()
    by_motion = track_layers(first, forward, backward)
    by_colour = track_layers(first, forward, backward, frames=video)
    assert mean_iou(by_motion.visible, targets) < 0.85  # the ring travels with the disc
    assert mean_iou(by_colour.visible, targets) >= 0.9
    # what is carried (persistence's input) loses the ring, the flow and the colour both
    # showing background there, and keeps the disc
    carried = (by_colour.carried[:, 0] >= 0.5).sum(axis=(1, 2))
    disc_area = targets[:, 0].sum(axis=(1, 2))
    assert (carried <= first.sum()).all() and (carried >= 0.95 * disc_area).all()


def test_frames_that_are_not_the_flows_video_are_refused() -> None:
    first, forward, backward = translating_square(steps=2)
    for frames in (np.zeros((2, 48, 48, 3), np.uint8), np.zeros((3, 48, 48), np.uint8),
                   np.full((3, 48, 48, 3), np.nan, np.float32)):
        with pytest.raises(ValueError, match=r"uint8 \(3, 48, 48, 3\)"):
            track_layers(first, forward, backward, frames=frames)


def test_grey_frames_give_the_same_tracks_as_none() -> None:
    spec = disc_and_square(disc=(18.0, 40.0, 4.0), square=(30.0, 30.0), turn=2.0)
    video, forward, backward, targets = flows(spec)
    grey = np.repeat(video.mean(axis=-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    first = targets[0].astype(np.float32)
    with_grey = track_layers(first, forward, backward, frames=grey)
    without = track_layers(first, forward, backward)
    for name in ("visible", "amodal", "carried", "displacement"):
        np.testing.assert_array_equal(getattr(with_grey, name), getattr(without, name))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())
