"""The output-normalisation policy on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest
from ttm_bench.generation.normalize import (
    POLICY,
    normalize_video,
    prepare_image,
    span_indices,
    time_indices,
)


def request(frames: int = 16, fps: float = 8.0, height: int = 32, width: int = 48):
    return GenerationRequest(sample_id="a", image=np.zeros((height, width, 3), np.uint8),
                             caption="c", num_frames=frames, fps=fps, height=height,
                             width=width, seed=0)


def numbered_clip(frames: int, height: int, width: int) -> np.ndarray:
    """Frame t is the constant value 10·t, so a frame's value names its source index."""
    return np.broadcast_to((np.arange(frames) * 10).astype(np.uint8)[:, None, None, None],
                           (frames, height, width, 3)).copy()


def test_span_indices_known_answers():
    assert span_indices(16, 16) == list(range(16))
    assert span_indices(16, 4) == [0, 5, 10, 15]
    assert span_indices(25, 16)[-1] == 24 and span_indices(25, 16)[:3] == [0, 2, 3]  # 1.6 step
    assert span_indices(4, 7) == [0, 1, 1, 2, 2, 3, 3]  # 0.5 step, halves round up
    assert span_indices(9, 1) == [0]
    with pytest.raises(TTMBenchError):
        span_indices(0, 4)


def test_time_indices_known_answers_and_short_clip():
    assert time_indices(48, 24.0, 16, 8.0) == list(range(0, 48, 3))
    assert time_indices(16, 8.0, 16, 8.0) == list(range(16))
    with pytest.raises(TTMBenchError, match="frame mode 'span'"):
        time_indices(16, 24.0, 16, 8.0)  # 0.67 s cannot cover 2 s


def test_identity_when_model_matches_the_benchmark():
    clip = numbered_clip(16, 32, 48)
    video, record = normalize_video(GeneratedVideo(clip, 8.0), request())
    np.testing.assert_array_equal(video, clip)
    assert record.policy == POLICY and record.resize is None
    assert record.time_scale == 1.0 and record.aspect_change == 1.0
    assert record.frame_indices == tuple(range(16))


def test_320x512_at_8fps_and_256_square_at_24fps_map_onto_the_same_grid():
    target = request(frames=16, fps=8.0, height=32, width=48)
    wide, wide_record = normalize_video(GeneratedVideo(numbered_clip(16, 320, 512), 8.0), target)
    square, square_record = normalize_video(
        GeneratedVideo(numbered_clip(16, 256, 256), 24.0), target)
    assert wide.shape == square.shape == (16, 32, 48, 3)
    np.testing.assert_array_equal(wide, square)  # same source frames, same pixels
    assert wide_record.resize == square_record.resize == "area"
    assert wide_record.time_scale == 1.0
    assert square_record.time_scale == pytest.approx(1 / 3)  # 0.67 s clip shown over 2 s
    assert wide_record.aspect_change == pytest.approx((48 / 32) / (512 / 320))
    assert square_record.aspect_change == pytest.approx(1.5)


def test_span_mode_selects_frames_by_index_value():
    video, record = normalize_video(GeneratedVideo(numbered_clip(25, 32, 48), 25.0),
                                    request(frames=4))
    assert [int(v) for v in video[:, 0, 0, 0]] == [0, 80, 160, 240]
    assert record.frame_indices == (0, 8, 16, 24)
    assert record.to_dict()["frame_indices"] == [0, 8, 16, 24]


def test_time_mode_and_unknown_mode():
    video, record = normalize_video(GeneratedVideo(numbered_clip(24, 32, 48), 24.0),
                                    request(frames=8), frame_mode="time")
    assert [int(v) for v in video[:, 0, 0, 0]] == [0, 30, 60, 90, 120, 150, 180, 210]
    assert record.frame_mode == "time"
    with pytest.raises(UnknownNameError):
        normalize_video(GeneratedVideo(numbered_clip(4, 32, 48), 8.0), request(), "nearest")


def test_upscaling_uses_bilinear_and_keeps_constant_frames_constant():
    video, record = normalize_video(GeneratedVideo(numbered_clip(16, 16, 16), 8.0), request())
    assert record.resize == "bilinear"
    assert (video[5] == 50).all()


def test_bad_generated_video_is_refused():
    with pytest.raises(TTMBenchError, match="uint8"):
        normalize_video(GeneratedVideo(np.zeros((16, 32, 48, 3), np.float32), 8.0), request())
    with pytest.raises(TTMBenchError, match="fps"):
        normalize_video(GeneratedVideo(numbered_clip(16, 32, 48), 0.0), request())


def test_prepare_image_stretch_round_trip_is_aligned():
    image = np.zeros((32, 48, 3), np.uint8)
    image[:, 24:] = 255  # right half white
    native = prepare_image(image, 64, 64)
    assert native.shape == (64, 64, 3)
    assert (native[:, :30] == 0).all() and (native[:, 34:] == 255).all()  # edge stays centred
    assert prepare_image(image, 32, 48) is image
