"""Optical-flow trajectories, for the paper's ablation that replaces mask trajectories by flow.

The paper does not say how it renders flow as a video; our choice: frame t shows the flow from
frame t − 1 to frame t (frame 0: no motion), computed with OpenCV's Farnebäck method, colour-coded
on the HSV wheel: hue = direction, full saturation, value = magnitude / `max_magnitude`
(clipped). Still pixels are black, like the background of a mask video. Flow carries no object
identity, so the flow variant's extra layers are unmasked.
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_MAX_MAGNITUDE = 8.0  # pixels per frame rendered at full brightness


def optical_flow_video(video: np.ndarray) -> np.ndarray:
    """Backward flow per frame: uint8 [T, H, W, 3] → float32 [T, H, W, 2] (dx, dy) in pixels;
    frame t holds the motion from t − 1 to t, frame 0 is zero."""
    gray = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in video]
    flow = np.zeros((*video.shape[:3], 2), np.float32)
    for t in range(1, len(gray)):
        flow[t] = cv2.calcOpticalFlowFarneback(gray[t - 1], gray[t], None, pyr_scale=0.5,
                                               levels=3, winsize=9, iterations=3, poly_n=5,
                                               poly_sigma=1.1, flags=0)
    return flow


def flow_to_rgb(flow: np.ndarray, max_magnitude: float = DEFAULT_MAX_MAGNITUDE) -> np.ndarray:
    """Colour-code flow float [..., H, W, 2] as uint8 [..., H, W, 3] (hue = direction)."""
    dx, dy = flow[..., 0], flow[..., 1]
    angle = (np.degrees(np.arctan2(dy, dx)) % 360) / 2  # OpenCV hue is 0..180
    value = np.clip(np.hypot(dx, dy) / max_magnitude, 0, 1) * 255
    hsv = np.stack([angle, np.full_like(angle, 255), value], -1).astype(np.uint8)
    flat = hsv.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_HSV2RGB).reshape(hsv.shape)


def flow_trajectory(video: np.ndarray, max_magnitude: float = DEFAULT_MAX_MAGNITUDE,
                    ) -> np.ndarray:
    """The flow trajectory video of a clip: uint8 [T, H, W, 3]."""
    return flow_to_rgb(optical_flow_video(video), max_magnitude)
