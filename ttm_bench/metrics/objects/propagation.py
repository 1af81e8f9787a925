"""Mask propagation by optical flow: backward warping with a forward–backward occlusion test.

Pure array maths (no I/O, no flow estimation): the `flow` tracker feeds it DIS flow.

Convention (Sundaram et al., ECCV 2010): a pixel p of frame t+1 takes the mask value of the
point p + B(p) of frame t, where B is the backward flow t+1 → t (bilinear sampling, so masks
stay soft in [0, 1]). It is trusted only when the forward flow F (t → t+1) at that point brings
it back near p:

    |B(p) + F(p + B(p))|² ≤ `FB_RELATIVE` (|B(p)|² + |F(p + B(p))|²) + `FB_ABSOLUTE` px²,

otherwise p was hidden in frame t (disoccluded, or the flow failed there) and its mask value is
0: backward warping never drags an object's mask across the background it uncovers.
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


def propagate(first: np.ndarray, forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Carry first-frame masks through a video.

    first: bool or float [L, H, W] masks of frame 0. forward, backward: float32 [T-1, H, W, 2]
    flows between consecutive frames (t → t+1 and t+1 → t). Returns float32 [T, L, H, W]
    soft masks in [0, 1], frame 0 being `first`.
    """
    steps, height, width = forward.shape[:3]
    masks = np.empty((steps + 1, len(first), height, width), np.float32)
    masks[0] = first
    for t in range(steps):
        valid = consistent(forward[t], backward[t])
        for k in range(len(first)):
            masks[t + 1, k] = sample_bilinear(masks[t, k], backward[t]) * valid
    return masks
