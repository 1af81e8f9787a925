"""The input check every model-based metric applies: RGB uint8 and enough frames.

Metrics take uint8 RGB [T, H, W, 3] (what the evaluation decodes). Grey, RGBA or 16-bit
arrays are refused by `ttm_bench.video.check_video` (convert them with `as_rgb_uint8`), and a
video shorter than a preset needs is refused with the sample and the number of frames required.
"""

from __future__ import annotations

import numpy as np

from ttm_bench.errors import TTMBenchError
from ttm_bench.video.frames import check_video


def check_clip(video: np.ndarray, what: str, min_frames: int = 1) -> None:
    """Raise `TTMBenchError` unless `video` is uint8 [T >= min_frames, H, W, 3]."""
    check_video(video, what)
    if len(video) < min_frames:
        raise TTMBenchError(f"{what} has {len(video)} frame(s); this metric needs at least "
                            f"{min_frames}. Generate longer videos or choose a preset that "
                            "needs fewer frames")
