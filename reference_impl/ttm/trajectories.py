"""Mask trajectories: colour-coded mask videos, their decoding, and object boxes per latent frame.

A trajectory is an RGB video in which object k (1-based) has the constant colour
`ttm_bench.data.masks.PALETTE[k - 1]` and the background is black (`render_mask_video`). A
generated trajectory comes back through the VAE (and possibly a codec) with blurred edges and
noise, so decoding assigns every pixel the nearest colour among the background and the first L
palette entries, then removes specks narrower than `3 × 3` pixels by a binary opening of each
object's mask (choice: thin artefacts at object borders otherwise inflate the boxes; objects
thinner than 3 pixels are lost, which at latent resolution changes nothing).

Boxes are normalised (x0, y0, x1, y1) in [0, 1] with exclusive x1, y1. A video VAE with temporal
compression r maps video frames to latent frames in groups: causal VAEs (Wan, CogVideoX,
Movie Gen's TAE) encode frame 0 alone and then groups of r frames (T = 1 + r·k), others encode
groups of r frames (T = r·k). The box of an object on a latent frame is the union of its boxes
on the frames of the group (choice: a token is attributed to an object if the object touches
it at any time the latent frame covers); an object absent from all of them is absent there.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ttm_bench.data.masks import BACKGROUND, PALETTE, labels_from_masks, render_mask_video
from ttm_bench.errors import TTMBenchError

__all__ = ["PALETTE", "boxes_from_labels", "decode_mask_video", "labels_from_masks",
           "latent_boxes", "latent_frame_groups", "render_mask_video"]


def decode_mask_video(video: np.ndarray, num_objects: int, *, open_size: int = 3) -> np.ndarray:
    """Label maps from a (possibly degraded) colour-coded mask video.

    video: uint8 [T, H, W, 3]. Returns uint8 [T, H, W]: 0 background, k for object k.
    `open_size` is the side of the square used to remove specks (1 disables it).
    """
    if video.ndim != 4 or video.shape[-1] != 3:
        raise TTMBenchError(f"mask video must be uint8 [T, H, W, 3], got shape {video.shape}")
    if not 0 <= num_objects <= len(PALETTE):
        raise TTMBenchError(f"{num_objects} objects: the palette holds at most {len(PALETTE)}")
    colours = np.array((BACKGROUND, *PALETTE[:num_objects]), np.float32)  # [L + 1, 3]
    pixels = video.astype(np.float32)
    distance = ((pixels[..., None, :] - colours) ** 2).sum(-1)  # [T, H, W, L + 1]
    labels = distance.argmin(-1).astype(np.uint8)
    if open_size > 1:
        structure = np.ones((1, open_size, open_size), bool)  # per frame, never across time
        for k in range(1, num_objects + 1):
            mask = labels == k
            labels[mask & ~ndimage.binary_opening(mask, structure)] = 0
    return labels


def boxes_from_labels(labels: np.ndarray, num_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight normalised box of every object on every frame.

    labels: integer [T, H, W]. Returns (boxes float32 [T, L, 4] as normalised xyxy with
    exclusive x1, y1, zero where absent; present bool [T, L]).
    """
    frames, height, width = labels.shape
    boxes = np.zeros((frames, num_objects, 4), np.float32)
    present = np.zeros((frames, num_objects), bool)
    scale = np.array([width, height, width, height], np.float32)
    for t in range(frames):
        for k in range(num_objects):
            rows, cols = np.nonzero(labels[t] == k + 1)
            if rows.size:
                present[t, k] = True
                box = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
                boxes[t, k] = np.array(box, np.float32) / scale
    return boxes, present


def latent_frame_groups(num_frames: int, temporal_ratio: int, causal: bool,
                        ) -> list[tuple[int, int]]:
    """The [start, stop) video-frame range each latent frame encodes."""
    if temporal_ratio < 1:
        raise TTMBenchError(f"temporal_ratio must be >= 1, got {temporal_ratio}")
    if causal:
        if (num_frames - 1) % temporal_ratio:
            raise TTMBenchError(f"a causal VAE with temporal ratio {temporal_ratio} needs "
                                f"1 + {temporal_ratio}·k frames, got {num_frames}")
        starts = [0, *range(1, num_frames, temporal_ratio)]
        stops = [1, *range(1 + temporal_ratio, num_frames + 1, temporal_ratio)]
        return list(zip(starts, stops, strict=True))
    if num_frames % temporal_ratio:
        raise TTMBenchError(f"a VAE with temporal ratio {temporal_ratio} needs a multiple of "
                            f"{temporal_ratio} frames, got {num_frames}")
    return [(s, s + temporal_ratio) for s in range(0, num_frames, temporal_ratio)]


def latent_boxes(boxes: np.ndarray, present: np.ndarray, temporal_ratio: int, causal: bool,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes per latent frame: the union of each object's boxes over the frames of its group.

    boxes: float [T, L, 4]; present: bool [T, L]. Returns ([F, L, 4], [F, L]).
    """
    groups = latent_frame_groups(boxes.shape[0], temporal_ratio, causal)
    out_boxes = np.zeros((len(groups), boxes.shape[1], 4), np.float32)
    out_present = np.zeros((len(groups), boxes.shape[1]), bool)
    for f, (start, stop) in enumerate(groups):
        seen = present[start:stop]  # [r, L]
        out_present[f] = seen.any(0)
        lows = np.where(seen[..., None], boxes[start:stop, :, :2], np.inf).min(0)
        highs = np.where(seen[..., None], boxes[start:stop, :, 2:], -np.inf).max(0)
        union = np.concatenate([lows, highs], -1)
        out_boxes[f] = np.where(out_present[f, :, None], union, 0.0)
    return out_boxes, out_present
