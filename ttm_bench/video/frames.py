"""The in-memory video format of the suite and deliberate conversions into it.

Every function in `ttm_bench.video` takes and returns `uint8 [T, H, W, 3]` RGB arrays.
`check_video` rejects anything else with a message that says what to do; `as_rgb_uint8` is the
one place that converts other layouts (grey, RGBA, 16-bit) on purpose.
"""

from __future__ import annotations

import numpy as np

from ttm_bench.errors import TTMBenchError

UINT16_TO_UINT8 = 257  # 65535 / 255: uint16 value v maps to round(v / 257)


def check_video(video: object, name: str = "video") -> np.ndarray:
    """Return `video` if it is a non-empty `uint8 [T, H, W, 3]` array, else raise TTMBenchError."""
    if not isinstance(video, np.ndarray):
        raise TTMBenchError(
            f"{name} must be a numpy array uint8 [T, H, W, 3], got {type(video).__name__}; "
            "convert it with np.asarray (a torch tensor: .cpu().numpy())"
        )
    if video.dtype != np.uint8:
        raise TTMBenchError(
            f"{name} has dtype {video.dtype}, expected uint8; convert it deliberately "
            "(ttm_bench.video.as_rgb_uint8 handles uint16; scale floats yourself)"
        )
    if video.ndim != 4 or video.shape[-1] != 3:
        raise TTMBenchError(
            f"{name} has shape {video.shape}, expected [T, H, W, 3] RGB; "
            "ttm_bench.video.as_rgb_uint8 converts grey [T, H, W(, 1)] and RGBA [T, H, W, 4]"
        )
    if min(video.shape[:3]) < 1:
        raise TTMBenchError(
            f"{name} has shape {video.shape}: it needs at least one frame and one pixel"
        )
    return video


def as_rgb_uint8(video: np.ndarray) -> np.ndarray:
    """Convert a video to `uint8 [T, H, W, 3]` RGB, on purpose and only where it is unambiguous.

    - grey `[T, H, W]` or `[T, H, W, 1]`: the grey value is repeated into R, G and B;
    - RGBA `[T, H, W, 4]`: alpha is dropped (not composited);
    - `uint16`: each value v becomes round(v / 257), so 0 -> 0 and 65535 -> 255 exactly;
    - `uint8 [T, H, W, 3]`: returned unchanged.

    Anything else raises TTMBenchError: floats (their range, [0, 1] or [0, 255], is ambiguous:
    scale and round them yourself), bool, signed integers, or other shapes.
    """
    if not isinstance(video, np.ndarray):
        raise TTMBenchError(f"expected a numpy array, got {type(video).__name__}")
    if video.dtype == np.uint16:
        video = ((video.astype(np.uint32) + UINT16_TO_UINT8 // 2) // UINT16_TO_UINT8).astype(
            np.uint8
        )
    elif video.dtype != np.uint8:
        raise TTMBenchError(
            f"cannot convert a {video.dtype} video to uint8: only uint8 and uint16 convert "
            "unambiguously; for floats in [0, 1] use (np.clip(v, 0, 1) * 255).round()"
            ".astype(np.uint8)"
        )
    if video.ndim == 3:
        video = video[..., None]
    if video.ndim != 4 or video.shape[-1] not in (1, 3, 4):
        raise TTMBenchError(
            f"cannot convert a video of shape {video.shape}: expected grey [T, H, W] or "
            "[T, H, W, 1], RGB [T, H, W, 3] or RGBA [T, H, W, 4]"
        )
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    elif video.shape[-1] == 4:
        video = video[..., :3]
    return check_video(np.ascontiguousarray(video))
