"""The forward–backward flow consistency test (pure maths; Sundaram et al., ECCV 2010).

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


def sample_bilinear(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` [H, W, C] or [H, W] (float32) sampled at p + flow(p) for every pixel p.

    flow: float32 [H, W, 2] (dx, dy) px. Points outside the frame read 0.
    """
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(np.ascontiguousarray(image, np.float32), xs + flow[..., 0],
                     ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=0)


def consistent(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Forward–backward test for each pixel of frame t+1 (see the module doc).

    forward: float32 [H, W, 2], t → t+1 at pixels of t; backward: float32 [H, W, 2],
    t+1 → t at pixels of t+1. Returns bool [H, W] over the pixels of t+1.
    """
    forward_there = sample_bilinear(forward, backward)
    error = np.sum((backward + forward_there) ** 2, axis=-1)
    scale = np.sum(backward**2, axis=-1) + np.sum(forward_there**2, axis=-1)
    return error <= FB_RELATIVE * scale + FB_ABSOLUTE
