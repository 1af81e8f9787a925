"""Temporal sampling (which frames) and spatial resizing (what size) of videos.

`sample_frame_indices` picks frame indices without touching pixels, so a decoder can read
only those frames. Resizing uses OpenCV on `uint8 [T, H, W, 3]` and returns uint8: OpenCV
interpolates uint8 images in fixed point and rounds to the nearest value, saturating to
[0, 255], so a constant image stays exactly constant.
"""

from __future__ import annotations

import cv2
import numpy as np

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.video.frames import check_video

SAMPLING_MODES = ("uniform", "start")
RESIZE_METHODS = {
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "bicubic": cv2.INTER_CUBIC,
}


def sample_frame_indices(num_frames: int, count: int, mode: str = "uniform") -> list[int]:
    """Choose `count` of a clip's `num_frames` frame indices, in increasing order.

    - "uniform": split the clip into `count` equal segments and take the first frame of each,
      index i -> floor(i * num_frames / count). Starts at frame 0; when `num_frames` is a
      multiple of `count` the stride is exactly num_frames / count (16 of 128 -> 0, 8, ..., 120).
    - "start": the first `count` frames, 0 .. count - 1.

    Raises TTMBenchError when the clip has fewer than `count` frames.
    """
    if mode not in SAMPLING_MODES:
        raise UnknownNameError("frame sampling mode", mode, list(SAMPLING_MODES))
    if count < 1:
        raise TTMBenchError(f"cannot sample {count} frames: ask for at least one")
    if num_frames < count:
        raise TTMBenchError(
            f"cannot sample {count} frames from a clip of {num_frames} frames; use a longer clip "
            f"or sample at most {num_frames}"
        )
    if mode == "start":
        return list(range(count))
    return [i * num_frames // count for i in range(count)]


def resize_video(
    video: np.ndarray, size: tuple[int, int], method: str = "bilinear"
) -> np.ndarray:
    """Resize every frame of `video` (uint8 [T, H, W, 3]) to `size` = (height, width), stretching
    if the aspect ratio changes. `method`: "bilinear", "area" (best for shrinking) or "bicubic".

    Returns uint8 [T, height, width, 3] (a new array, also when the size is unchanged).
    """
    check_video(video)
    if method not in RESIZE_METHODS:
        raise UnknownNameError("resize method", method, list(RESIZE_METHODS))
    height, width = size
    if height < 1 or width < 1:
        raise TTMBenchError(f"cannot resize to {height}x{width}: both sides must be >= 1")
    interpolation = RESIZE_METHODS[method]
    out = np.empty((video.shape[0], height, width, 3), np.uint8)
    for t, frame in enumerate(video):
        out[t] = cv2.resize(frame, (width, height), interpolation=interpolation)
    return out


def resize_short_side(video: np.ndarray, short_side: int, method: str = "bilinear") -> np.ndarray:
    """Resize `video` (uint8 [T, H, W, 3]) so that its shorter side is `short_side` pixels.

    The longer side becomes floor(long * short_side / short) (at least 1), the convention of
    torchvision's `Resize(int)`, so results match pipelines built on it.
    """
    _, height, width, _ = check_video(video).shape
    short, long = min(height, width), max(height, width)
    new_long = max(1, long * short_side // short)
    size = (short_side, new_long) if height <= width else (new_long, short_side)
    return resize_video(video, size, method)
