"""Colour models of tracked objects: which object a pixel's colour looks like (pure maths).

Each object's model is a histogram of the chromaticity (r, g) = (R, G) / (R + G + B) of its
pixels in frame 0; the background's, of the pixels outside every mask. Chromaticity does not
change with shading, so the dark and light parts of one surface look alike, and a part of an
object that frame 0 did not show still matches the parts it did. Near-black pixels have no
stable chromaticity and fall in a bin of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Chromaticity bins along r and along g.
BINS = 16
#: R + G + B below which a pixel is near-black (its own bin).
DARK_SUM = 45.0
#: Share of each model spread evenly over all bins: a colour no model has seen is equally
#: likely under each (whatever their pixel counts), and a colour one model has not seen is
#: unlikely under it, never impossible.
UNIFORM_SHARE = 0.01
#: Pixels a model's frame-0 mask is eroded by (edges mix the object's and its neighbour's
#: colours).
EDGE_PX = 1


def colour_bins(frame: np.ndarray) -> np.ndarray:
    """Bin index of each pixel: int [H, W] in [0, BINS²] (BINS² is near-black).

    frame: uint8 [H, W, 3] RGB, as decoded (other dtypes are refused: a float frame may hold
    NaN or values outside [0, 255], which have no bin).
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or (
            frame.shape[-1] != 3):
        got = f"{frame.dtype} {list(frame.shape)}" if isinstance(frame, np.ndarray) else type(
            frame).__name__
        raise ValueError(f"colour models read uint8 [H, W, 3] RGB frames; got {got} (quantise "
                         "a float video in [0, 1] with np.round(x * 255).astype(np.uint8))")
    rgb = frame.astype(np.float32)
    total = rgb.sum(axis=-1)
    chroma = rgb[..., :2] / np.maximum(total, 1.0)[..., None]
    cells = np.minimum((chroma * BINS).astype(np.int64), BINS - 1)
    return np.where(total < DARK_SUM, BINS * BINS, cells[..., 0] * BINS + cells[..., 1])


@dataclass(frozen=True)
class ColourModels:
    """log probabilities float64 [L + 1, BINS² + 1] of each bin: objects, then the
    background."""

    log_probabilities: np.ndarray

    @classmethod
    def fit(cls, frame: np.ndarray, masks: np.ndarray) -> ColourModels:
        """Models from frame 0 (uint8 [H, W, 3]) and its masks (bool [L, H, W]): each
        histogram mixed with `UNIFORM_SHARE` of the uniform one (all uniform for an empty
        mask)."""
        bins = colour_bins(frame)
        kernel = np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)
        regions = [cv2.erode(m.astype(np.uint8), kernel).astype(bool) for m in masks]
        regions.append(~cv2.dilate(masks.any(axis=0).astype(np.uint8), kernel).astype(bool))
        counts = np.stack([np.bincount(bins[r], minlength=BINS * BINS + 1) for r in regions])
        totals = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, totals, out=np.full(counts.shape, 1.0 / counts.shape[1]),
                           where=totals > 0)
        return cls(np.log((1.0 - UNIFORM_SHARE) * shares + UNIFORM_SHARE / counts.shape[1]))

    def log_ratios(self, frame: np.ndarray) -> np.ndarray:
        """float [L, H, W]: for each object, the log-likelihood of each pixel's colour under its
        model minus the best of the other models (the background's and the other objects'):
        > 0 where the colour looks most like that object."""
        bins = colour_bins(frame)
        per_model = self.log_probabilities[:, bins]  # [L + 1, H, W]
        ratios = np.empty((len(per_model) - 1, *per_model.shape[1:]))
        for k in range(len(ratios)):
            others = np.delete(per_model, k, axis=0).max(axis=0)
            ratios[k] = per_model[k] - others
        ratios[:, bins == BINS * BINS] = 0.0  # near-black: no colour evidence either way
        return ratios
