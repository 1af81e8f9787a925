"""Checks every model-based metric applies to the arrays it is given.

Metrics take uint8 RGB [T, H, W, 3] (what the evaluation decodes). Grey, RGBA or 16-bit
arrays, and videos shorter than a preset needs, are refused with a message naming the sample
and the number of frames required, never converted silently.
"""

from __future__ import annotations

import numpy as np

from ttm_bench.errors import TTMBenchError


def check_video(video: np.ndarray, what: str, min_frames: int = 1) -> None:
    """Raise `TTMBenchError` unless `video` is uint8 [T >= min_frames, H, W, 3]."""
    if video.dtype != np.uint8:
        raise TTMBenchError(f"{what}: expected uint8 RGB frames, got dtype {video.dtype}; "
                            "convert to 8-bit RGB (e.g. decode with ttm_bench.video.read_video)")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise TTMBenchError(f"{what}: expected an RGB video [T, H, W, 3], got shape "
                            f"{list(video.shape)}; grey and RGBA videos must be converted to RGB")
    if len(video) < min_frames:
        raise TTMBenchError(f"{what} has {len(video)} frame(s); this metric needs at least "
                            f"{min_frames}. Generate longer videos or choose a preset that "
                            "needs fewer frames")


def check_image(image: np.ndarray, what: str) -> None:
    """Raise `TTMBenchError` unless `image` is uint8 [H, W, 3]."""
    check_video(image[None], what)
