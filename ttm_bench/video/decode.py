"""Decode video files to `uint8 [T, H, W, 3]` RGB arrays.

Two backends give the same pixels for the files `write_video` produces (both convert with
FFmpeg's default BT.601 matrix; tests check equality): decord (fast random access, optional
extra) and PyAV (always installed). `backend="auto"` picks decord when it imports.

Every failure to read a file (missing, empty, not a video, truncated) raises
`VideoDecodeError`, naming the path; asking for frames the file does not have raises
`FrameIndexError`, naming the frame count.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from ttm_bench.errors import TTMBenchError, UnknownNameError

BACKENDS = ("decord", "pyav")


class VideoDecodeError(TTMBenchError):
    """A video file that cannot be read: missing, empty, not a video, or cut short."""

    FIX = ("check the path; a file that is empty, truncated or damaged must be written again, "
           "e.g. by rerunning the step that produced it")

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path, self.reason = Path(path), reason
        #: What is wrong, without the fix (for reports that give their own fix).
        self.description = f"cannot read video {self.path}: {reason}"
        super().__init__(f"{self.description} (fix: {self.FIX})")


class FrameIndexError(TTMBenchError):
    """Frame indices outside the clip."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream. `fps` in frames per second."""

    num_frames: int
    fps: float
    height: int
    width: int


@functools.cache
def decoder_backend() -> str:
    """The backend `backend="auto"` uses: "decord" when it imports, else "pyav"."""
    try:
        import decord  # noqa: F401
    except ImportError:
        return "pyav"
    return "decord"


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read frame count, frame rate and size from the container (no frames are decoded).

    When the container does not store a frame count, packets are counted instead.
    """
    path = _existing_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            num_frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            rate = stream.average_rate or stream.base_rate
            height, width = stream.codec_context.height, stream.codec_context.width
    except av.FFmpegError as e:
        raise VideoDecodeError(path, _ffmpeg_reason(e)) from e
    if num_frames == 0:
        raise VideoDecodeError(path, "it contains no frames")
    if not rate:
        raise VideoDecodeError(path, "its frame rate is not stored")
    return VideoInfo(num_frames=num_frames, fps=float(rate), height=height, width=width)


def read_video(
    path: str | os.PathLike[str],
    indices: Sequence[int] | None = None,
    backend: str = "auto",
) -> np.ndarray:
    """Decode frames `indices` (default: all, in order) of `path`.

    Returns `uint8 [len(indices), H, W, 3]` RGB, frames in the order of `indices` (repeats
    allowed). `backend` is "auto", "decord" or "pyav". A file with fewer decodable frames than
    its header declares raises VideoDecodeError (PyAV stops after the last requested frame, so
    damage after it goes unnoticed there).
    """
    path = _existing_file(path)
    if backend == "auto":
        backend = decoder_backend()
    if backend not in BACKENDS:
        raise UnknownNameError("video backend", backend, ["auto", *BACKENDS])
    if indices is not None and len(indices) == 0:
        info = probe_video(path)
        return np.zeros((0, info.height, info.width, 3), np.uint8)
    if backend == "decord":
        return _read_decord(path, indices)
    return _read_pyav(path, indices)


def _existing_file(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        reason = "it is a directory" if path.is_dir() else "the file does not exist"
        raise VideoDecodeError(path, reason)
    return path


def _check_indices(indices: Sequence[int], num_frames: int, path: Path) -> list[int]:
    wanted = [operator.index(i) for i in indices]
    outside = [i for i in wanted if not 0 <= i < num_frames]
    if outside:
        raise FrameIndexError(
            f"frame indices {outside[:5]} are out of range for {path}, which has {num_frames} "
            f"frames (valid indices: 0 to {num_frames - 1}); sample fewer frames or use a "
            "longer clip"
        )
    return wanted


def _read_decord(path: Path, indices: Sequence[int] | None) -> np.ndarray:
    try:
        import decord
    except ImportError as e:
        raise TTMBenchError(
            "the decord backend is not installed: `pip install decord`, or use backend='pyav'"
        ) from e
    decord.logging.set_level(decord.logging.QUIET)  # failures are raised, not logged
    declared = probe_video(path).num_frames  # decord silently drops frames cut off the end
    try:
        reader = decord.VideoReader(str(path))
        if len(reader) < declared:
            raise VideoDecodeError(
                path, f"only {len(reader)} of the {declared} frames its header declares are present"
            )
        wanted = range(declared)
        if indices is not None:
            wanted = _check_indices(indices, declared, path)
        return np.stack([_strip_row_padding(reader[i].asnumpy()) for i in wanted])
    except (decord.DECORDError, RuntimeError) as e:
        raise VideoDecodeError(path, f"decord failed: {_last_line(e)}") from e


def _strip_row_padding(frame: np.ndarray) -> np.ndarray:
    """Undo a decord 0.6.0 bug: for some widths (e.g. 16, 24, 48, 72) it returns each row with
    FFmpeg's alignment padding, shaped [H, W, row_bytes // W] instead of [H, W, 3]."""
    height, width, channels = frame.shape
    if channels == 3:
        return frame
    return frame.reshape(height, width * channels)[:, : width * 3].reshape(height, width, 3)


def _read_pyav(path: Path, indices: Sequence[int] | None) -> np.ndarray:
    keep = None if indices is None else {operator.index(i) for i in indices}
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            declared = stream.frames  # 0 when the container does not store it
            stop = None
            if keep is not None and declared:
                _check_indices(indices, declared, path)
                stop = max(keep) + 1
            kept: dict[int, np.ndarray] = {}
            decoded = 0
            for frame in itertools.islice(container.decode(stream), stop):
                if keep is None or decoded in keep:
                    kept[decoded] = frame.to_ndarray(format="rgb24")
                decoded += 1
    except av.FFmpegError as e:
        raise VideoDecodeError(path, _ffmpeg_reason(e)) from e
    _check_decoded(path, decoded, stop or declared, declared)
    order = range(decoded) if indices is None else _check_indices(indices, decoded, path)
    return np.stack([kept[i] for i in order])


def count_decodable_frames(path: str | os.PathLike[str]) -> int:
    """Decode every frame of `path` (keeping none, so memory stays one frame) and count them.

    Raises `VideoDecodeError` when the stream is damaged or yields fewer frames than its header
    declares (a truncated file); the full check behind `bench validate`.
    """
    path = _existing_file(path)
    try:
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            declared = stream.frames
            decoded = sum(1 for _ in container.decode(stream))
    except av.FFmpegError as e:
        raise VideoDecodeError(path, _ffmpeg_reason(e)) from e
    _check_decoded(path, decoded, declared, declared)
    return decoded


def _check_decoded(path: Path, decoded: int, needed: int, declared: int) -> None:
    if decoded == 0:
        raise VideoDecodeError(path, "it contains no frames")
    if decoded < needed:
        raise VideoDecodeError(
            path, f"only {decoded} of the {declared} frames its header declares could be decoded"
        )


def _video_stream(container: av.container.InputContainer, path: Path) -> av.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(path, "it has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise VideoDecodeError(path, "its video stream cannot be decoded (damaged header or "
                               "a codec this FFmpeg build lacks)")
    return stream


def _ffmpeg_reason(error: av.FFmpegError) -> str:
    return f"FFmpeg: {error.strerror or error}"


def _last_line(error: Exception) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__
