"""Video I/O: encode/decode round trips, backend agreement, errors, sampling and resizing."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.video import (
    FrameIndexError,
    VideoDecodeError,
    VideoInfo,
    as_rgb_uint8,
    decoder_backend,
    probe_video,
    read_video,
    resize_short_side,
    resize_video,
    sample_frame_indices,
    write_video,
)
from ttm_bench.video import encode as encode_module

HAS_DECORD = importlib.util.find_spec("decord") is not None
BACKENDS = [
    "pyav",
    pytest.param("decord", marks=pytest.mark.skipif(not HAS_DECORD, reason="decord missing")),
]
# Width 48 hits decord 0.6.0's row-padding bug (see decode._strip_row_padding); 40 does not.
SIZES = [(16, 48), (30, 40)]


def noise_video(frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), np.uint8)


def smooth_video(frames: int, height: int, width: int) -> np.ndarray:
    """A grey wave drifting a little each frame over gentle colour ramps: H.264 content.

    Colour changes slowly (4:2:0 chroma subsampling would blur fast colour changes whatever the
    crf); brightness may change fast (luma keeps full resolution)."""
    t, y, x = np.mgrid[0:frames, 0:height, 0:width].astype(np.float64)
    wave = 90 * np.sin(2 * np.pi * (x / width + y / (2 * height)) + t / 4)
    ramps = np.stack([30 * (x / width - 0.5), 30 * (y / height - 0.5), 0 * x], axis=-1)
    return np.round(127.5 + wave[..., None] + ramps).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("height", "width"), [*SIZES, (15, 17)])
def test_lossless_round_trip_is_exact(tmp_path: Path, backend: str, height: int, width: int):
    video = noise_video(4, height, width)
    path = tmp_path / "clip.mp4"
    write_video(path, video, fps=8, lossless=True)
    decoded = read_video(path, backend=backend)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, video)


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_lossy_round_trip_is_close_and_backends_agree(tmp_path: Path, height: int, width: int):
    video = smooth_video(6, height, width)
    path = tmp_path / "clip.mp4"
    write_video(path, video, fps=24)
    by_pyav = read_video(path, backend="pyav")
    assert by_pyav.shape == video.shape
    assert psnr(by_pyav, video) > 35.0
    if HAS_DECORD:
        np.testing.assert_array_equal(read_video(path, backend="decord"), by_pyav)


def test_lower_crf_is_closer(tmp_path: Path):
    video = smooth_video(4, 32, 32)
    errors = []
    for crf in (10, 40):
        write_video(tmp_path / f"{crf}.mp4", video, fps=8, crf=crf)
        errors.append(psnr(read_video(tmp_path / f"{crf}.mp4", backend="pyav"), video))
    assert errors[0] > errors[1]


@pytest.mark.parametrize("lossless", [False, True])
def test_same_input_gives_same_bytes(tmp_path: Path, lossless: bool):
    video = noise_video(3, 16, 16)
    write_video(tmp_path / "a.mp4", video, fps=8, lossless=lossless)
    write_video(tmp_path / "b.mp4", video, fps=8, lossless=lossless)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_probe_reports_what_was_written(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    write_video(path, noise_video(5, 16, 24), fps=30000 / 1001)
    info = probe_video(path)
    assert info == VideoInfo(num_frames=5, fps=pytest.approx(30000 / 1001, rel=1e-12),
                             height=16, width=24)


def test_writer_accepts_strided_views(tmp_path: Path):
    video = noise_video(4, 32, 32)
    view = video[::2, ::2, ::2]
    write_video(tmp_path / "clip.mp4", view, fps=8, lossless=True)
    np.testing.assert_array_equal(read_video(tmp_path / "clip.mp4", backend="pyav"), view)


@pytest.mark.parametrize("backend", BACKENDS)
def test_read_selected_frames_in_requested_order(tmp_path: Path, backend: str):
    video = noise_video(6, 16, 16)
    path = tmp_path / "clip.mp4"
    write_video(path, video, fps=8, lossless=True)
    np.testing.assert_array_equal(read_video(path, [4, 0, 4, 2], backend), video[[4, 0, 4, 2]])
    assert read_video(path, [], backend).shape == (0, 16, 16, 3)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [6, -1])
def test_out_of_range_index_names_frame_count(tmp_path: Path, backend: str, bad: int):
    path = tmp_path / "clip.mp4"
    write_video(path, noise_video(6, 16, 16), fps=8)
    with pytest.raises(FrameIndexError, match=r"has 6 frames"):
        read_video(path, [0, bad], backend)


def _broken_files(directory: Path) -> dict[str, Path]:
    good = directory / "good.mp4"
    write_video(good, smooth_video(8, 32, 32), fps=8)
    data = good.read_bytes()
    files = {
        "missing": directory / "missing.mp4",
        "empty": directory / "empty.mp4",
        "junk": directory / "junk.mp4",
        "truncated": directory / "truncated.mp4",
        "directory": directory / "folder.mp4",
    }
    files["empty"].write_bytes(b"")
    files["junk"].write_bytes(b"not a video " * 50)
    files["truncated"].write_bytes(data[: len(data) * 2 // 3])
    files["directory"].mkdir()
    return files


@pytest.mark.parametrize("backend", BACKENDS)
def test_unreadable_files_raise_one_error_naming_the_path(tmp_path: Path, backend: str):
    for kind, path in _broken_files(tmp_path).items():
        with pytest.raises(VideoDecodeError) as caught:
            read_video(path, backend=backend)
        assert str(path) in str(caught.value), kind
        assert isinstance(caught.value, TTMBenchError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_cut_anywhere_raises_decode_error(tmp_path: Path, backend: str):
    good = tmp_path / "good.mp4"
    write_video(good, smooth_video(6, 16, 16), fps=8)
    data = good.read_bytes()
    with av.open(str(good)) as container:
        starts = [p.pos for p in container.demux(video=0) if p.size]
    # inside the header, at every frame boundary (decord alone would return fewer frames
    # there), inside a frame, and one byte short
    cuts = {starts[0] // 2, *starts[1:], starts[1] + 3, len(data) - 1}
    cut_file = tmp_path / "cut.mp4"
    for cut in sorted(cuts):
        cut_file.write_bytes(data[:cut])
        with pytest.raises(VideoDecodeError, match=re.escape(str(cut_file))):
            read_video(cut_file, backend=backend)


def test_probe_of_unreadable_file_raises_decode_error(tmp_path: Path):
    files = _broken_files(tmp_path)
    for kind in ("missing", "empty", "junk", "directory"):
        with pytest.raises(VideoDecodeError, match=re.escape(str(files[kind]))):
            probe_video(files[kind])


def test_unknown_backend_is_named(tmp_path: Path):
    path = tmp_path / "clip.mp4"
    write_video(path, noise_video(1, 16, 16), fps=8)
    with pytest.raises(UnknownNameError, match="pyav"):
        read_video(path, backend="ffmpeg")


def test_auto_backend_prefers_decord():
    assert decoder_backend() == ("decord" if HAS_DECORD else "pyav")


@pytest.mark.parametrize(
    ("video", "message"),
    [
        (np.zeros((2, 16, 16, 3), np.float32), "dtype float32"),
        (np.zeros((2, 16, 16), np.uint8), r"shape \(2, 16, 16\)"),
        (np.zeros((2, 16, 16, 4), np.uint8), r"\[T, H, W, 3\]"),
        (np.zeros((0, 16, 16, 3), np.uint8), "at least one frame"),
        ([[[[0, 0, 0]]]], "numpy array"),
        (np.zeros((2, 15, 16, 3), np.uint8), "even height and width"),
    ],
)
def test_write_rejects_bad_video(tmp_path: Path, video: object, message: str):
    with pytest.raises(TTMBenchError, match=message):
        write_video(tmp_path / "clip.mp4", video, fps=8)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(("fps", "crf"), [(0, 18), (float("nan"), 18), (8, 52), (8, 1.5)])
def test_write_rejects_bad_settings(tmp_path: Path, fps: float, crf: int):
    with pytest.raises(TTMBenchError, match="fps" if crf == 18 else "crf"):
        write_video(tmp_path / "clip.mp4", noise_video(1, 16, 16), fps=fps, crf=crf)


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path: Path, monkeypatch):
    path = tmp_path / "clip.mp4"
    write_video(path, noise_video(2, 16, 16), fps=8)
    before = path.read_bytes()
    calls = []

    def fail_on_second_frame(array: np.ndarray, format: str) -> av.VideoFrame:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return av.VideoFrame.from_ndarray(array, format=format)

    monkeypatch.setattr(encode_module.av.VideoFrame, "from_ndarray", fail_on_second_frame)
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_video(path, noise_video(3, 16, 16, seed=1), fps=8)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_as_rgb_uint8_converts_grey_rgba_and_uint16():
    grey = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    expected = np.repeat(grey[..., None], 3, axis=-1)
    np.testing.assert_array_equal(as_rgb_uint8(grey), expected)
    np.testing.assert_array_equal(as_rgb_uint8(grey[..., None]), expected)
    rgba = np.concatenate([expected, np.full((1, 3, 4, 1), 7, np.uint8)], axis=-1)
    np.testing.assert_array_equal(as_rgb_uint8(rgba), expected)
    # round(v / 257): 128/257 = 0.498, 129/257 = 0.502, 385/257 = 1.498, 386/257 = 1.502
    deep = np.array([0, 128, 129, 385, 386, 65535], np.uint16).reshape(1, 1, 6)
    np.testing.assert_array_equal(as_rgb_uint8(deep)[0, 0, :, 0], [0, 0, 1, 1, 2, 255])
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    assert as_rgb_uint8(rgb) is rgb


@pytest.mark.parametrize(
    ("video", "message"),
    [
        (np.zeros((1, 2, 2, 3), np.float32), "floats"),
        (np.zeros((1, 2, 2, 3), np.int32), "int32"),
        (np.zeros((1, 2, 2, 3), bool), "bool"),
        (np.zeros((1, 2, 2, 5), np.uint8), "shape"),
        (np.zeros((2, 2), np.uint8), "shape"),
    ],
)
def test_as_rgb_uint8_refuses_ambiguous_input(video: np.ndarray, message: str):
    with pytest.raises(TTMBenchError, match=message):
        as_rgb_uint8(video)


@pytest.mark.parametrize(
    ("num_frames", "count", "mode", "expected"),
    [
        (128, 16, "uniform", list(range(0, 128, 8))),
        (10, 4, "uniform", [0, 2, 5, 7]),
        (5, 5, "uniform", [0, 1, 2, 3, 4]),
        (7, 1, "uniform", [0]),
        (10, 3, "start", [0, 1, 2]),
    ],
)
def test_sample_frame_indices_known_answers(num_frames, count, mode, expected):
    assert sample_frame_indices(num_frames, count, mode) == expected


@given(st.integers(1, 500), st.integers(1, 500))
def test_uniform_sampling_is_evenly_spaced(num_frames: int, count: int):
    if count > num_frames:
        num_frames, count = count, num_frames
    indices = sample_frame_indices(num_frames, count, "uniform")
    assert len(indices) == count and indices[0] == 0 and indices[-1] < num_frames
    gaps = set(np.diff(indices).tolist())
    assert gaps <= {num_frames // count, -(-num_frames // count)}


def test_sampling_errors_name_the_numbers():
    with pytest.raises(TTMBenchError, match=r"16 frames from a clip of 9 frames"):
        sample_frame_indices(9, 16, "start")
    with pytest.raises(TTMBenchError, match="at least one"):
        sample_frame_indices(9, 0)
    with pytest.raises(UnknownNameError, match="uniform"):
        sample_frame_indices(9, 2, "random")


@pytest.mark.parametrize("method", ["bilinear", "area", "bicubic"])
@pytest.mark.parametrize("size", [(7, 5), (40, 64)])
def test_resize_keeps_constant_video_constant(method: str, size: tuple[int, int]):
    video = np.empty((2, 20, 30, 3), np.uint8)
    video[:] = (12, 200, 77)
    out = resize_video(video, size, method)
    assert out.shape == (2, *size, 3) and out.dtype == np.uint8
    assert (out == np.array([12, 200, 77], np.uint8)).all()


def test_resize_known_values():
    # 2x2 -> 1x1 block means, rounded to nearest: 0.25 -> 0, 1.25 -> 1, 25, 253.75 -> 254
    grey = np.array(
        [[0, 0, 1, 1], [0, 1, 1, 2], [10, 20, 250, 255], [30, 40, 255, 255]], np.uint8
    )
    video = np.repeat(grey[None, :, :, None], 3, axis=-1)
    np.testing.assert_array_equal(resize_video(video, (2, 2), "area")[0, ..., 0],
                                  [[0, 1], [25, 254]])
    # bilinear with half-pixel centres: 1x2 -> 1x4 samples x = -0.25, 0.25, 0.75, 1.25
    edge = np.repeat(np.array([[[0, 255]]], np.uint8)[..., None], 3, axis=-1)
    np.testing.assert_array_equal(resize_video(edge, (1, 4), "bilinear")[0, 0, :, 0],
                                  [0, 64, 191, 255])


@pytest.mark.parametrize(
    ("shape", "short_side", "expected"),
    [((30, 50), 16, (16, 26)), ((50, 30), 16, (26, 16)), ((720, 1280), 256, (256, 455)),
     ((20, 20), 8, (8, 8))],
)
def test_resize_short_side_floors_the_long_side(shape, short_side, expected):
    video = np.zeros((1, *shape, 3), np.uint8)
    assert resize_short_side(video, short_side).shape == (1, *expected, 3)


def test_resize_errors():
    video = np.zeros((1, 4, 4, 3), np.uint8)
    with pytest.raises(UnknownNameError, match="bilinear"):
        resize_video(video, (2, 2), "nearest-ish")
    with pytest.raises(TTMBenchError, match=">= 1"):
        resize_video(video, (0, 2))
    with pytest.raises(TTMBenchError, match="dtype"):
        resize_video(video.astype(np.float32), (2, 2))
