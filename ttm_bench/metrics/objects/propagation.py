"""Sampling images at flow-moved points, and the forward–backward consistency test (pure
maths; Sundaram et al., ECCV 2010).

A pixel p of frame t+1 with backward flow B(p) (t+1 → t) is consistent when the forward flow F
(t → t+1) at the point it came from brings it back near p:

    |B(p) + F(p + B(p))|² ≤ `FB_RELATIVE` (|B(p)|² + |F(p + B(p))|²) + `FB_ABSOLUTE` px²;

otherwise p was hidden in frame t (disoccluded), or the flow failed there. Swapping the two
flows tests the pixels of frame t. `layered_propagation` uses it to decide which flow to trust.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Forward–backward tolerance: relative term and absolute term (px²), Sundaram et al.'s values.
FB_RELATIVE = 0.01
FB_ABSOLUTE = 0.5


def pixel_grid(height: int, width: int) -> np.ndarray:
    """Pixel centres (x, y): float32 [H, W, 2] (pixel (i, j) at x = j, y = i)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def sample_at(image: np.ndarray, points: np.ndarray, outside: float = 0.0) -> np.ndarray:
    """`image` [H, W] or [H, W, C] sampled bilinearly (as float32) at absolute points `points`
    float [H, W, 2] (x, y); points outside the frame read `outside`."""
    return cv2.remap(np.ascontiguousarray(image, np.float32),
                     np.ascontiguousarray(points[..., 0], np.float32),
                     np.ascontiguousarray(points[..., 1], np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=(outside,) * 4)


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward–backward test for each pixel of frame t+1 (see the module doc).

    forward: float32 [H, W, 2], t → t+1 at pixels of t; backward: float32 [H, W, 2],
    t+1 → t at pixels of t+1. Returns bool [H, W] over the pixels of t+1.
    """
    forward_there = sample_at(forward, pixel_grid(*backward.shape[:2]) + backward)
    error = np.sum((backward + forward_there) ** 2, axis=-1)
    scale = np.sum(backward**2, axis=-1) + np.sum(forward_there**2, axis=-1)
    return error <= FB_RELATIVE * scale + FB_ABSOLUTE
