import cv2
import numpy as np
import pytest

from reference_impl.ttm.trajectories import (
    PALETTE,
    boxes_from_labels,
    decode_mask_video,
    labels_from_masks,
    latent_boxes,
    latent_frame_groups,
    render_mask_video,
)
from ttm_bench.errors import TTMBenchError

T, H, W = 4, 32, 48


def _moving_squares() -> np.ndarray:
    """Labels [T, H, W]: object 1 moves right 4 px per frame, object 2 stays; 3 is absent."""
    labels = np.zeros((T, H, W), np.uint8)
    for t in range(T):
        labels[t, 4:14, 2 + 4 * t:12 + 4 * t] = 1
        labels[t, 18:30, 30:44] = 2
    return labels


def test_render_then_decode_is_the_identity_on_clean_videos():
    labels = _moving_squares()
    video = render_mask_video(labels)
    assert tuple(video[0, 5, 3]) == PALETTE[0] and tuple(video[0, 0, 0]) == (0, 0, 0)
    assert np.array_equal(decode_mask_video(video, 3), labels)


def test_decoding_survives_noise_blur_and_jpeg():
    labels = _moving_squares()
    rng = np.random.default_rng(0)
    degraded = []
    for frame in render_mask_video(labels):
        blurred = cv2.GaussianBlur(frame, (5, 5), 1.0)
        noisy = np.clip(blurred + rng.normal(0, 25, frame.shape), 0, 255).astype(np.uint8)
        _, jpeg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 40])
        degraded.append(cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED))
    decoded = decode_mask_video(np.stack(degraded), 3)
    assert (decoded != labels).mean() < 0.02
    boxes, _ = boxes_from_labels(decoded, 3)
    true_boxes, _ = boxes_from_labels(labels, 3)
    assert np.abs(boxes[:, :2] - true_boxes[:, :2]).max() <= 1.5 / H


def test_boxes_are_tight_normalised_and_absent_objects_flagged():
    boxes, present = boxes_from_labels(_moving_squares(), 3)
    assert np.allclose(boxes[1, 0], [6 / W, 4 / H, 16 / W, 14 / H])
    assert np.allclose(boxes[:, 1], [30 / W, 18 / H, 44 / W, 30 / H])
    assert present[:, :2].all() and not present[:, 2].any() and not boxes[:, 2].any()


def test_labels_from_masks_lets_later_objects_win():
    masks = np.zeros((2, 4, 4), bool)
    masks[0, :2] = True
    masks[1, 1:3] = True
    assert labels_from_masks(masks)[:, 0].tolist() == [1, 2, 2, 0]


def test_latent_frame_groups_for_causal_and_plain_vaes():
    assert latent_frame_groups(9, 4, causal=True) == [(0, 1), (1, 5), (5, 9)]
    assert latent_frame_groups(8, 4, causal=False) == [(0, 4), (4, 8)]
    assert latent_frame_groups(3, 1, causal=False) == [(0, 1), (1, 2), (2, 3)]
    with pytest.raises(TTMBenchError, match="1 \\+ 4·k"):
        latent_frame_groups(8, 4, causal=True)
    with pytest.raises(TTMBenchError, match="multiple of 4"):
        latent_frame_groups(9, 4, causal=False)


def test_latent_boxes_take_the_union_over_each_group():
    labels = np.zeros((5, H, W), np.uint8)
    for t in range(5):
        labels[t, 0:4, 8 * t:8 * t + 4] = 1
    labels[3:, :, :] = np.where(labels[3:] == 1, 0, labels[3:])  # object leaves after frame 2
    boxes, present = boxes_from_labels(labels, 1)
    lat, lat_present = latent_boxes(boxes, present, 2, causal=True)
    assert lat_present[:, 0].tolist() == [True, True, False]
    assert np.allclose(lat[1, 0], [8 / W, 0, 20 / W, 4 / H])
    assert not lat[2].any()
