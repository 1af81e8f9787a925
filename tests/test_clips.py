"""Centre-crop geometry, video/mask fitting and clip writing."""

import numpy as np
import pytest
from PIL import Image

from ttm_bench.data.clips import (
    cover_crop_box,
    fit_mask,
    fit_video,
    frames_needed,
    indices_at_fps,
    write_clip,
)
from ttm_bench.video import read_video


@pytest.mark.parametrize("src, out, box", [
    ((480, 848), (512, 512), (0, 184, 480, 480)),
    ((848, 480), (512, 512), (184, 0, 480, 480)),
    ((100, 100), (50, 100), (25, 0, 50, 100)),
    ((64, 64), (64, 64), (0, 0, 64, 64)),
])
def test_cover_crop_box(src, out, box):
    assert cover_crop_box(*src, *out) == box


def test_fit_video_and_mask_share_geometry():
    video = np.zeros((2, 20, 40, 3), np.uint8)
    video[:, :, 10:30] = 255  # the centred 20x20 square
    mask = video[0, :, :, 0] > 0
    fitted = fit_video(video, (10, 10))
    assert fitted.shape == (2, 10, 10, 3) and fitted.min() == 255
    m = fit_mask(mask, (10, 10))
    assert m.dtype == bool and m.shape == (10, 10) and m.all()
    half = np.zeros((20, 20), bool)
    half[:, :10] = True
    assert fit_mask(half, (4, 4)).sum() == 8


def test_write_clip_round_trips(tmp_path):
    clip = np.full((3, 16, 16, 3), 128, np.uint8)
    video_rel, image_rel = write_clip(tmp_path, "s1", clip, 24.0)
    assert (video_rel, image_rel) == ("videos/s1.mp4", "images/s1.png")
    assert read_video(tmp_path / video_rel).shape == (3, 16, 16, 3)
    assert np.array_equal(np.asarray(Image.open(tmp_path / image_rel)), clip[0])


def test_indices_at_fps():
    assert indices_at_fps(4, 24.0, 24.0) == [0, 1, 2, 3]
    assert indices_at_fps(4, 24.0, 8.0) == [0, 3, 6, 9]
    assert indices_at_fps(3, 30000 / 1001, 10.0) == [0, 2, 5]
    assert frames_needed(4, 24.0, 8.0) == 10
