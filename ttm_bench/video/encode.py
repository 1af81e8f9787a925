"""Encode `uint8 [T, H, W, 3]` RGB arrays as H.264 MP4 files, atomically and reproducibly.

Two modes, both pinned so that the same frames give the same bytes with the same PyAV/FFmpeg
build (x264's output depends on its thread count, so that is pinned too):

- lossy (default): libx264, yuv420p (4:2:0 chroma, plays in every browser), constant quality
  `crf` (default 18, visually near-transparent), preset "medium". RGB is converted to YUV with
  FFmpeg's default BT.601 limited-range matrix; the decoders in `decode.py` invert the same one.
  Height and width must be even (4:2:0 halves the chroma planes).
- lossless: libx264rgb at qp 0, which codes the RGB planes directly: decoding returns the exact
  input pixels (tested with both decoders). Any size is allowed. These files are for data
  (e.g. mask videos, round-trip fixtures), not for viewing: browsers do not play High 4:4:4.

The file is written to a temporary name and renamed into place when complete, with the index
(`moov` atom) at the start so that browsers can stream it.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction

import av
import numpy as np

from ttm_bench.atomic import atomic_path
from ttm_bench.errors import TTMBenchError
from ttm_bench.video.frames import check_video

DEFAULT_CRF = 18
X264_PRESET = "medium"
X264_THREADS = 4
FPS_MAX_DENOMINATOR = 1001  # recovers NTSC rates: 30000 / 1001 (29.97002997...) exactly
MAX_CRF = 51


def write_video(
    path: str | os.PathLike[str],
    video: np.ndarray,
    fps: float,
    *,
    lossless: bool = False,
    crf: int = DEFAULT_CRF,
) -> None:
    """Write `video` (uint8 [T, H, W, 3] RGB) to `path` as an H.264 MP4 at `fps` frames/s.

    `crf` (0-51, lower is better) sets the lossy quality; it is ignored when `lossless`.
    """
    frames = check_video(video)
    _, height, width, _ = frames.shape
    if not lossless and (height % 2 or width % 2):
        raise TTMBenchError(
            f"cannot write {path}: lossy H.264 (yuv420p) needs an even height and width, got "
            f"{height}x{width}; crop or resize to an even size, or pass lossless=True"
        )
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (
        math.isfinite(fps) and fps > 0
    ):
        raise TTMBenchError(f"cannot write {path}: fps must be a positive number, got {fps!r}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= MAX_CRF:
        raise TTMBenchError(
            f"cannot write {path}: crf must be an integer from 0 to {MAX_CRF}, got {crf!r}"
        )
    if lossless:
        codec, pix_fmt, quality = "libx264rgb", "rgb24", {"qp": "0"}
    else:
        codec, pix_fmt, quality = "libx264", "yuv420p", {"crf": str(crf)}
    rate = Fraction(fps).limit_denominator(FPS_MAX_DENOMINATOR)
    with (
        atomic_path(path) as tmp,
        av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container,
    ):
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = {**quality, "preset": X264_PRESET, "threads": str(X264_THREADS)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
