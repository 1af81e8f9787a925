"""Occlusion-aware mask propagation: each object a layer with its own motion (pure maths).

Input: the first-frame masks and dense forward/backward flow between consecutive frames. Each
object k keeps two masks per frame: `amodal` (where the object is, hidden parts included) and
`visible` (where it is seen). A step t → t+1:

1. Motion. k's affine motion A_k is fitted robustly (`affine_motion.fit`) to the forward flow
   on the interior of its visible mask (`edge_px` in from the edge, where DIS flow mixes two
   motions) at forward–backward consistent pixels. With too little support (k hidden) the last
   fitted motion carries on.
2. Explanation. Pixel p of t+1 is *explained* by k when its backward flow is consistent and
   lands on k's visible mask in frame t: the flow saw k move there.
3. Amodal masks. Each pixel's source in frame t is its backward-flow source where k explains
   it, else A_k⁻¹ p (a part of k that is hidden, or at an edge where the flow is unreliable).
   Sources are composed back to frame 0 and s(0) is sampled once (no blur accumulates).
4. Visibility. Where several amodal masks overlap, the object that explains the pixel is seen;
   else the front-most by depth votes (pixels where one explains and the other does not).
5. Disappearance. A pixel of k's amodal core (`edge_px` in from its edge) that no object
   explains, and that was not behind another object in frame t, is cut from k for good: the
   flow shows something else there (the background, or a failure) where k should be.

Known limits: the amodal shape of a hidden part moves rigidly (affine) while hidden; an object
that vanishes behind a surface that is not tracked is counted as gone.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ttm_bench.metrics.objects import affine_motion
from ttm_bench.metrics.objects.propagation import consistent
from ttm_bench.metrics.objects.tracks import MASK_THRESHOLD

#: Band (px) inside a mask's edge where DIS flow mixes motions (its patch is 8 px).
EDGE_PX = 4
#: Fewest interior pixels an object's motion is fitted on (else its last motion carries on).
MIN_SUPPORT = 50


@dataclass(frozen=True)
class LayeredMasks:
    """Tracked layers. visible, amodal: float32 [T, L, H, W] in [0, 1] (visible ≤ amodal).
    displacement: float32 [T-1, H, W], |motion| (px) of each pixel of frame t: its object's
    (see `displacement_field`) on visible object pixels, the dense flow's elsewhere."""

    visible: np.ndarray
    amodal: np.ndarray
    displacement: np.ndarray


def _grid(height: int, width: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def _remap(image: np.ndarray, where: np.ndarray, outside: float = 0.0) -> np.ndarray:
    """`image` [H, W] or [H, W, C] sampled bilinearly at absolute points `where` [H, W, 2];
    points outside the frame read `outside`."""
    return cv2.remap(np.ascontiguousarray(image, np.float32),
                     np.ascontiguousarray(where[..., 0], np.float32),
                     np.ascontiguousarray(where[..., 1], np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=(outside,) * 4)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """bool [H, W] → bool [H, W]: the pixels at least `radius` px inside the mask."""
    return cv2.erode(mask.astype(np.uint8), _disc(radius), borderValue=1).astype(bool)


def fit_motion(visible: np.ndarray, valid: np.ndarray, forward: np.ndarray,
               edge_px: int = EDGE_PX) -> np.ndarray | None:
    """Similarity motion [2, 3] of one object from frame t to t+1, or None without support.

    visible: bool [H, W] its visible mask at t; valid: bool [H, W] forward–backward consistent
    pixels of t; forward: float32 [H, W, 2] flow t → t+1. Fitted on the mask's interior only:
    a sliver thinner than 2 `edge_px` has no flow of its own to fit.
    """
    rows, cols = np.nonzero(erode(visible, edge_px) & valid)
    if len(rows) < MIN_SUPPORT:
        return None
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    return affine_motion.fit(points, points + forward[rows, cols])


def displacement_field(visible: np.ndarray, valid: np.ndarray, forward: np.ndarray,
                       motions: list[np.ndarray], edge_px: int = EDGE_PX) -> np.ndarray:
    """|motion| (px) of each pixel of frame t: float32 [H, W].

    visible: bool [L, H, W] disjoint visible masks at t; valid: bool [H, W] consistent pixels
    of t; forward: float32 [H, W, 2] flow t → t+1; motions: each object's affine map t → t+1.
    On an object's interior at consistent pixels, the dense flow (it follows non-rigid motion);
    on the rest of the object (its edge band, where DIS blends the object's motion with its
    neighbour's, and flow failures), the object's affine motion; outside objects, the flow.
    """
    field = np.linalg.norm(forward, axis=-1).astype(np.float32)
    height, width = field.shape
    grid = _grid(height, width).astype(np.float64)
    for mask, motion in zip(visible, motions, strict=True):
        rigid = mask & ~(erode(mask, edge_px) & valid)
        if rigid.any():
            moved = affine_motion.apply(motion, grid[rigid])
            field[rigid] = np.linalg.norm(moved - grid[rigid], axis=-1)
    return field


def _front_to_back(votes: np.ndarray) -> list[int]:
    """Objects from front to back: most pairwise wins first (votes[j, k]: pixels where j was
    seen over k), ties by index."""
    wins = (votes > votes.T).sum(axis=1)
    return sorted(range(len(votes)), key=lambda k: (-wins[k], k))


def track_layers(first: np.ndarray, forward: np.ndarray, backward: np.ndarray,
                 edge_px: int = EDGE_PX) -> LayeredMasks:
    """Track first-frame masks as layers (see the module doc).

    first: float [L, H, W] soft masks of frame 0 (disjoint once binarised); forward, backward:
    float32 [T-1, H, W, 2] flows t → t+1 and t+1 → t.
    """
    steps, height, width = forward.shape[:3]
    objects = len(first)
    first = np.asarray(first, np.float32)
    grid = _grid(height, width)
    visible = np.empty((steps + 1, objects, height, width), np.float32)
    amodal = np.empty_like(visible)
    displacement = np.empty((steps, height, width), np.float32)
    visible[0] = amodal[0] = first
    layers = [_Layer.start(height, width) for _ in range(objects)]
    background_motion = affine_motion.IDENTITY
    votes = np.zeros((objects, objects), np.int64)
    owner = np.where((first >= MASK_THRESHOLD).any(axis=0),
                     np.argmax(first, axis=0), -1)  # visible object of each pixel, -1: none
    trusted = first >= MASK_THRESHOLD  # visible pixels the flow saw come from the object
    revealed = np.full((height, width), -1)  # object whose leaving showed the pixel, -1: none
    for t in range(steps):
        seen = visible[t] >= MASK_THRESHOLD
        valid_t = consistent(backward[t], forward[t])
        valid_next = consistent(forward[t], backward[t])
        for k, layer in enumerate(layers):
            layer.motion = _or(fit_motion(seen[k] & trusted[k], valid_t, forward[t], edge_px),
                               layer.motion)
        background_motion = _or(fit_motion(owner < 0, valid_t, forward[t], edge_px),
                                background_motion)
        displacement[t] = displacement_field(seen, valid_t, forward[t],
                                             [layer.motion for layer in layers], edge_px)

        dense = grid + backward[t]
        explains = np.stack([valid_next & (_remap(seen[k], dense) >= 0.5)
                             for k in range(objects)])
        follows = np.stack([explains[k] & (_remap(erode(seen[k], edge_px), dense) >= 0.5)
                            for k in range(objects)])
        rigid = [_inverse_points(layer.motion, grid) for layer in layers]
        behind_before = np.stack([
            _remap(((owner >= 0) & (owner != k)).astype(np.float32), rigid[k]) >= 0.5
            for k in range(objects)])
        for k, layer in enumerate(layers):
            layer.advance(np.where(follows[k][..., None], dense, rigid[k]), grid)
            amodal[t + 1, k] = layer.mask(first[k], grid)

        present = amodal[t + 1] >= MASK_THRESHOLD
        unexplained = ~explains.any(axis=0)
        for k, layer in enumerate(layers):
            layer.presence[erode(present[k], edge_px) & unexplained & ~behind_before[k]] = 0.0
            amodal[t + 1, k] = layer.mask(first[k], grid)
        present = amodal[t + 1] >= MASK_THRESHOLD

        for j in range(objects):
            for k in range(objects):
                if j != k:
                    votes[j, k] += int((present[j] & present[k] & explains[j] & ~explains[k]).sum())
        before, owner = owner, _owners(present, explains, votes)

        revealed = _carry_revealed(revealed, previous_owner=before, owner=owner, dense=dense,
                                   valid=valid_next)
        like_background = _near(dense, _inverse_points(background_motion, grid))
        tolerance = AGREE_PX + AGREE_RELATIVE * np.linalg.norm(backward[t], axis=-1)
        revealed[valid_next & like_background] = -1
        disagreement = np.stack([np.linalg.norm(dense - rigid[k], axis=-1)
                                 for k in range(objects)])
        claims = _claim_revealed(revealed, valid_next & ~like_background, owner,
                                 disagreement, tolerance)
        for k, layer in enumerate(layers):
            layer.grown[claims == k] = 1.0
            layer.presence[claims == k] = 1.0
            amodal[t + 1, k] = layer.mask(first[k], grid)
        revealed[claims >= 0] = -1
        present = amodal[t + 1] >= MASK_THRESHOLD
        owner = _owners(present, explains, votes)
        for k in range(objects):
            mine = np.where(present[k], owner == k, owner < 0)
            visible[t + 1, k] = amodal[t + 1, k] * mine
        trusted = explains | np.stack([layer.grown >= MASK_THRESHOLD for layer in layers])
    return LayeredMasks(visible, amodal, displacement)


def _carry_revealed(revealed: np.ndarray, previous_owner: np.ndarray, owner: np.ndarray,
                    dense: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pixels of frame t+1 that an object's leaving showed and that no object owns yet: int
    [H, W], the object that hid them (-1: none). Undecided pixels of frame t follow the flow
    where it is consistent, and stay in place where it is not."""
    carried = cv2.remap(revealed.astype(np.float32), np.ascontiguousarray(dense[..., 0]),
                        np.ascontiguousarray(dense[..., 1]), cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=-1).astype(int)
    revealed = np.where(valid, carried, revealed)
    vacated = (previous_owner >= 0) & (owner < 0)
    revealed[vacated] = previous_owner[vacated]
    revealed[owner >= 0] = -1
    return revealed


def _claim_revealed(revealed: np.ndarray, moving: np.ndarray, owner: np.ndarray,
                    disagreement: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Which object each revealed pixel turns out to be (int [H, W], -1: none).

    For object k, a connected region of pixels that another object's leaving revealed, whose
    flow is consistent and unlike the background's (`moving`), that touches k's visible
    pixels (`owner` int [H, W]) and whose median `disagreement` with k's motion (float
    [L, H, W]: px between the flow's source and the motion's) is within `tolerance` (float
    [H, W], px), joins k. A pixel two objects claim goes to the one it follows best.
    """
    best = np.full(revealed.shape, np.inf)
    claims = np.full(revealed.shape, -1)
    for k in range(len(disagreement)):
        candidates = (revealed >= 0) & (revealed != k) & moving
        _, regions = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
        touching = cv2.dilate((owner == k).astype(np.uint8), _disc(1)).astype(bool)
        for region in np.unique(regions[touching & candidates]):
            pixels = regions == region
            if np.median(disagreement[k][pixels] - tolerance[pixels]) > 0:
                continue
            better = pixels & (disagreement[k] < best)
            claims[better] = k
            best[better] = disagreement[k][better]
    return claims


def _owners(present: np.ndarray, explains: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """The visible object of each pixel (int [H, W], -1: none): among the objects present
    there, the one whose flow explains it, else the front-most."""
    owner = np.full(present.shape[1:], -1)
    explained = (present & explains).any(axis=0)
    for k in _front_to_back(votes):
        owner[present[k] & (explains[k] | ~explained) & (owner < 0)] = k
    return owner


@dataclass
class _Layer:
    """One object's state between frames t and t+1 (pixels of frame t).

    cumulative: affine map frame 0 → t of its rigid motion; residual: float32 [H, W, 2], the
    frame-0 point of each pixel minus the cumulative map's preimage (non-rigid motion the flow
    followed); presence: float32 [H, W], 0 where the object was seen to vanish; grown: float32
    [H, W], parts revealed after frame 0; motion: its last motion t → t+1.
    """

    cumulative: np.ndarray
    residual: np.ndarray
    presence: np.ndarray
    grown: np.ndarray
    motion: np.ndarray

    @classmethod
    def start(cls, height: int, width: int) -> _Layer:
        return cls(affine_motion.IDENTITY, np.zeros((height, width, 2), np.float32),
                   np.ones((height, width), np.float32), np.zeros((height, width), np.float32),
                   affine_motion.IDENTITY)

    def advance(self, source: np.ndarray, grid: np.ndarray) -> None:
        """Move to frame t+1: each pixel's state is read at its `source` in frame t."""
        before = self._to_first(source)
        self.cumulative = _compose(self.motion, self.cumulative)
        self.residual = before + _remap(self.residual, source) - self._to_first(grid)
        self.presence = _remap(self.presence, source, outside=1.0)
        self.grown = _remap(self.grown, source)

    def mask(self, first: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """Its amodal soft mask at the current frame: float32 [H, W]."""
        points = self._to_first(grid) + self.residual
        return np.maximum(_remap(first, points), self.grown) * self.presence

    def _to_first(self, points: np.ndarray) -> np.ndarray:
        """Frame-0 points of `points` [H, W, 2] under the cumulative rigid motion."""
        return _inverse_points(self.cumulative, points)


def _compose(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """The affine map `after` ∘ `before`: float64 [2, 3]."""
    return np.concatenate([after[:, :2] @ before[:, :2],
                           after[:, :2] @ before[:, 2:] + after[:, 2:]], axis=1)


#: Two motions agree at a pixel when their sources are this close (px), plus `AGREE_RELATIVE`
#: of the flow's length.
AGREE_PX = 0.75
AGREE_RELATIVE = 0.1


def _near(source: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Whether two source maps [H, W, 2] of the same pixels agree (see `AGREE_PX`)."""
    gap = np.linalg.norm(source - other, axis=-1)
    length = np.linalg.norm(source - _grid(*source.shape[:2]), axis=-1)
    return gap <= AGREE_PX + AGREE_RELATIVE * length


def _or(motion: np.ndarray | None, last: np.ndarray) -> np.ndarray:
    return last if motion is None else motion


def _inverse_points(motion: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Where each pixel of t+1 was at t under `motion` (t → t+1): float32 [H, W, 2]."""
    try:
        inverse = affine_motion.invert(motion)
    except np.linalg.LinAlgError:
        inverse = affine_motion.IDENTITY
    return affine_motion.apply(inverse, grid.astype(np.float64)).astype(np.float32)
