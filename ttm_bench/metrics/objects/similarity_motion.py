"""Robust similarity motion of one object between two frames, fitted to dense flow (pure maths).

Maps are stored as affine float64 [2, 3] acting on (x, y, 1): p ↦ M[:, :2] p + M[:, 2], px.
`fit` estimates a similarity (rotation, uniform scale, translation: x' = a x − b y + tx,
y' = b x + a y + ty): four parameters stay well determined on a thin or mostly hidden object,
where a general affine map shears and shrinks it. The fit is least squares re-weighted by
Tukey's biweight on the residuals (IRLS), so the few flow vectors of another motion (an
occluder's edge, a flow failure) get no weight; the residual scale is 4.685 × 1.4826 × the
median residual, floored at `MIN_SCALE_PX`.
"""

from __future__ import annotations

import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
#: Fewest points a fit accepts (two would determine it; noise needs more).
MIN_POINTS = 12
#: Share of the points a fit must keep as inliers (else the region holds two motions).
MIN_INLIER_SHARE = 0.5
#: Floor of the biweight scale (px): sub-pixel flow noise never makes inliers outliers.
MIN_SCALE_PX = 0.5
IRLS_STEPS = 5


def apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`affine` [2, 3] applied to points float [..., 2] (x, y): float64 [..., 2]."""
    return points @ affine[:, :2].T + affine[:, 2]


def displacements(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """How far `affine` moves each point of float [..., 2]: float64 [..., 2] (computed without
    cancellation, so the identity moves nothing exactly)."""
    return points @ (affine[:, :2] - np.eye(2)).T + affine[:, 2]


def invert(affine: np.ndarray) -> np.ndarray:
    """The inverse map: float64 [2, 3]; the identity for a singular one (a fit never gives
    one: its scale is the norm of (a, b), zero only when every target coincides)."""
    try:
        linear = np.linalg.inv(affine[:, :2])
    except np.linalg.LinAlgError:
        return IDENTITY
    return np.concatenate([linear, -linear @ affine[:, 2:]], axis=1)


def compose(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The map `after` ∘ `before` (first `before`): float64 [2, 3]."""
    return np.concatenate([after[:, :2] @ before[:, :2],
                           after[:, :2] @ before[:, 2:] + after[:, 2:]], axis=1)


def preimages(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The points that `affine` maps onto `points` float [..., 2]: float32 [..., 2]."""
    return apply(invert(affine), points.astype(np.float64)).astype(np.float32)


def fit(points: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
    """The similarity map taking `points` to `targets` (both float [N, 2], px), robustly.

    None when there are fewer than `MIN_POINTS` points, fewer than `MIN_INLIER_SHARE` of them
    fit, or they all coincide, so that no map is determined.
    """
    if len(points) < MIN_POINTS:
        return None
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    if np.ptp(x) + np.ptp(y) < 1.0:
        return None
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    design = np.concatenate([np.stack([x, -y, ones, zeros], axis=1),
                             np.stack([y, x, zeros, ones], axis=1)])  # unknowns a−1, b, tx, ty
    moved = (targets - points).astype(np.float64)  # fit the displacement: zero flow fits exactly
    target = np.concatenate([moved[:, 0], moved[:, 1]])
    weights = np.ones(len(points))
    affine = IDENTITY
    for _ in range(IRLS_STEPS):
        both = np.concatenate([weights, weights])[:, None]
        normal = design.T @ (design * both)
        try:
            a, b, tx, ty = np.linalg.solve(normal, design.T @ (target * both[:, 0]))
        except np.linalg.LinAlgError:
            return None
        affine = np.array([[1.0 + a, -b, tx], [b, 1.0 + a, ty]])
        residual = np.linalg.norm(displacements(affine, points) - moved, axis=1)
        scale = max(MIN_SCALE_PX, 4.685 * 1.4826 * float(np.median(residual)))
        weights = np.clip(1.0 - (residual / scale) ** 2, 0.0, None) ** 2
        if (weights > 0).sum() < max(MIN_POINTS, MIN_INLIER_SHARE * len(points)):
            return None
    return affine


def scale_and_angle(affine: np.ndarray) -> tuple[float, float]:
    """(scale, rotation in degrees, positive clockwise on screen) of a similarity map."""
    a, b = affine[0, 0], affine[1, 0]
    return float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a)))
