"""What an object tracker returns, and the pure reductions the object metrics take from it.

All quantities are at the evaluation size (shorter side 256, like AD), in pixels per frame.
T is the number of frames, L the number of objects (the benchmark's first-frame masks s(0)).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: A tracked mask pixel counts as the object's when its soft value is at least this.
MASK_THRESHOLD = 0.5


@dataclass(frozen=True)
class ObjectTracks:
    """One video's tracked objects.

    masks: float32 [T, L, H, W] soft visible membership in [0, 1], or None for a point tracker.
    object_displacement: float64 [L, T-1], mean displacement of the object's tracked pixels
        (or points) from frame t to t+1; NaN where the object has none at frame t.
    background_displacement: float64 [T-1], the same over pixels (points) outside every object.
    frame_displacement: float64 [T-1], mean displacement over all pixels (points) of frame t.
    object_motion: float64 [T-1], the objects' part of `frame_displacement`: the sum of
        displacements inside the objects divided by the number of pixels (points) of the frame.
    carried: float32 [T, L, H, W], for a tracker that models occlusion (`flow`): each s(0)
        carried through the video, hidden parts included, minus what was seen to vanish
        (parts revealed later are not in it, so its area compares with s(0)'s); None for a
        tracker that gives only what is seen.
    """

    masks: np.ndarray | None
    object_displacement: np.ndarray
    background_displacement: np.ndarray
    frame_displacement: np.ndarray
    object_motion: np.ndarray
    carried: np.ndarray | None = None

    @property
    def presence(self) -> np.ndarray | None:
        """The masks that say whether an object is still there: `carried` where the tracker
        models occlusion (a hidden object has not vanished), else `masks`."""
        return self.masks if self.carried is None else self.carried


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool or float masks [..., H, W] → float32 [..., h, w] (bilinear, so edges stay soft).

    size: (height, width) of the result.
    """
    height, width = size
    flat = masks.reshape(-1, *masks.shape[-2:]).astype(np.float32)
    out = np.empty((len(flat), height, width), np.float32)
    for i, mask in enumerate(flat):
        out[i] = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    return out.reshape(*masks.shape[:-2], height, width)


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else float("nan")


def tracks_from_flow(masks: np.ndarray, magnitude: np.ndarray,
                     carried: np.ndarray | None = None) -> ObjectTracks:
    """Displacements of tracked masks under a dense motion field.

    masks: float32 [T, L, H, W] soft visible masks; magnitude: float [T-1, H, W], |motion| (px)
    of each pixel of frame t to t+1; carried: see `ObjectTracks`. Each pixel of frame t weighs
    its magnitude by its mask value (by 1 − the objects' union outside them), so a soft edge
    counts in proportion.
    """
    magnitude = np.asarray(magnitude, np.float64)
    pairs = len(magnitude)
    union = np.clip(masks[:pairs].astype(np.float64).sum(axis=1), 0.0, 1.0)  # [T-1, H, W]
    objects = np.array([[_weighted_mean(magnitude[t], masks[t, k]) for t in range(pairs)]
                        for k in range(masks.shape[1])]).reshape(masks.shape[1], pairs)
    background = np.array([_weighted_mean(magnitude[t], 1.0 - union[t]) for t in range(pairs)])
    return ObjectTracks(masks, objects, background, magnitude.mean(axis=(1, 2)),
                        (magnitude * union).mean(axis=(1, 2)), carried)


def tracks_from_points(points: np.ndarray, visible: np.ndarray, owner: np.ndarray,
                       num_objects: int, weights: np.ndarray | None = None) -> ObjectTracks:
    """Displacements of tracked points.

    points: float [T, N, 2] (x, y) px; visible: bool [T, N]; owner: int [N], the object each
    point starts in (0-based) or -1 for background; weights: float [N], the frame area each
    point stands for (default 1), so that densely sampled objects do not outweigh the
    background in `frame_displacement`. A step counts when the point is visible at both ends.
    Point trackers give no masks (`masks` is None).
    """
    steps = np.linalg.norm(np.diff(points.astype(np.float64), axis=0), axis=-1)  # [T-1, N]
    area = np.ones(len(owner)) if weights is None else np.asarray(weights, np.float64)
    counted = (visible[:-1] & visible[1:]) * area[None]  # [T-1, N]

    def mean_over(selected: np.ndarray) -> np.ndarray:
        total = (counted * selected[None]).sum(axis=1)
        moved = (steps * counted * selected[None]).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, moved / np.where(total > 0, total, 1.0), np.nan)

    objects = np.stack([mean_over(owner == k) for k in range(num_objects)]).reshape(
        num_objects, len(steps))
    everywhere = np.ones(len(owner), bool)
    inside = (steps * counted * (owner >= 0)[None]).sum(axis=1) / np.maximum(
        counted.sum(axis=1), np.finfo(float).tiny)
    return ObjectTracks(None, objects, mean_over(owner < 0), mean_over(everywhere), inside)


def mean_object_displacement(tracks: ObjectTracks) -> float:
    """ad_object: per object the mean over the frame pairs where it has tracked pixels, then
    the mean over objects (objects weigh equally whatever their size). NaN when no object has
    any tracked pixel."""
    per_object = [np.nanmean(row) for row in tracks.object_displacement if np.isfinite(row).any()]
    return float(np.mean(per_object)) if per_object else float("nan")


def mean_background_displacement(tracks: ObjectTracks) -> float:
    """ad_background: the mean over frame pairs of the background's mean displacement."""
    values = tracks.background_displacement
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def motion_locality(tracks: ObjectTracks, static_px: float) -> float:
    """The share of the video's total displacement that lies inside the tracked objects.

    1 when only the objects move; their area share under a uniform pan; NaN when the mean
    displacement over the frame is below `static_px` (a static video has no motion to share).
    """
    total = float(tracks.frame_displacement.sum())
    if total < static_px * len(tracks.frame_displacement):
        return float("nan")
    return float(tracks.object_motion.sum() / total)


def tracked_areas(masks: np.ndarray) -> np.ndarray:
    """Area of each tracked mask (pixels at or above `MASK_THRESHOLD`): int [T, L]."""
    return (masks >= MASK_THRESHOLD).sum(axis=(2, 3))


def persistence(masks: np.ndarray, band: tuple[float, float]) -> float:
    """Fraction of (object, frame ≥ 1) pairs whose tracked area is within `band` × its frame-0
    area (band = (low, high), both inclusive). Objects empty at frame 0 are left out; NaN when
    none is left or the video has one frame."""
    areas = tracked_areas(masks).astype(np.float64)
    first = areas[0]
    keep = first > 0
    if not keep.any() or len(areas) < 2:
        return float("nan")
    ratio = areas[1:, keep] / first[keep]
    return float(np.mean((ratio >= band[0]) & (ratio <= band[1])))


def mean_iou(masks: np.ndarray, targets: np.ndarray, void: np.ndarray | None = None) -> float:
    """Mean IoU of tracked masks and target masks over (object, frame ≥ 1) pairs.

    masks: float [T, L, H, W] soft (binarised at `MASK_THRESHOLD`); targets: bool [T, L, H, W];
    void: bool [T, L, H, W] or None, pixels that count neither way (left out of intersection
    and union, as segmentation benchmarks treat void regions). A pair where both are empty is
    left out (nothing to find, nothing found). Frame 0 is left out: it is the prompt, not a
    prediction. NaN when no pair is left.
    """
    tracked = masks[1:] >= MASK_THRESHOLD
    target = targets[1:]
    counted = np.ones_like(target) if void is None else ~void[1:]
    inter = (tracked & target & counted).sum(axis=(2, 3))
    union = ((tracked | target) & counted).sum(axis=(2, 3))
    defined = union > 0
    return float((inter[defined] / union[defined]).mean()) if defined.any() else float("nan")
