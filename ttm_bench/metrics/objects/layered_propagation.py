"""Occlusion-aware mask propagation: each object a layer with its own motion (pure maths).

Input: the first-frame masks s(0) and dense forward/backward flow between consecutive frames.
Each object keeps two masks per frame: `amodal` (where it is, hidden parts included) and
`visible` (where it is seen). One step, frame t → t+1:

1. Motion. Each object's similarity motion (`similarity_motion.fit`) is fitted to the forward
   flow on the interior of its visible mask (`edge_px` in from the edge, where DIS mixes two
   motions; first away from other objects, whose flow smears over an occlusion boundary), at
   forward–backward consistent pixels the flow saw come from the object. An object that shows
   under `MIN_VISIBLE_SHARE` of itself, or a fit that is implausible for one frame
   (`MAX_SCALE_STEP`, `MAX_TURN_DEG`), keeps its last motion: a hidden object moves on as it
   moved. The background gets a motion too.
2. Explanation. A pixel of t+1 is *explained* by an object when its backward flow is
   consistent, lands on the object's visible mask in frame t, and does not move like the
   background unless the object does.
3. Amodal masks. A pixel's source in frame t is its backward-flow source where the flow lands
   on the object's interior (it follows non-rigid motion), else the object's motion's preimage
   (a hidden part, an edge). Sources compose back to frame 0 and s(0) is sampled once, so no
   blur accumulates.
4. Disappearance. A pixel of an object's amodal core (`edge_px` in) that no object explains,
   and that was not behind another object in frame t, is cut from the object for good: the
   flow shows something else (the background, a failure) where the object should be. Where
   the flow is inconsistent within 2 `edge_px` of another object (an occlusion boundary, where
   flow fails for both sides), nothing is cut. When over `VANISHED_SHARE` of a core that is at
   least `MIN_CORE_SHARE` of the object goes at once, the object has vanished: all of it is
   cut, hidden parts too.
5. Visibility. Where amodal masks overlap, the object that explains the pixel is seen, else the
   front-most by depth votes (pixels where one object explains and the other does not).
6. Revealed parts. Pixels no object holds whose source under an object's motion was another
   object's in frame t may be parts of it that were hidden (in s(0) too); they move with it
   until their flow is consistent. Moving like the background, they are background; a
   connected region of them that touches the object's visible pixels and moves with it
   (median source distance within `AGREE_PX` + `AGREE_RELATIVE` × flow length from its
   motion's, or one similarity fitting the region and the object's visible interior alike)
   joins it.

With the video's frames, each object also has a colour model (`appearance.ColourModels`, from
s(0) and frame 0), which decides what the flow cannot: who a part that frame 0 never showed
belongs to, and where an object's edge is.

7. Claims by colour. Pixels no object holds, moving or just revealed (flow not consistent),
   that look like one object (`COLOUR_LOG_RATIO`) join it as a region: one that touches the
   object's amodal mask (from `MIN_REGION` px), or a moving one of `MIN_SUPPORT` px that
   overlaps pixels that may be its hidden parts (step 6) or touches another object's visible
   pixels (it comes out from behind that object): the far side of an object seen through a
   gap, whose visible part is hidden, even when the motion it keeps while hidden is off.
8. Colour check. A pixel whose colour looks like another object or the background
   (`COLOUR_LOG_RATIO`), unless the flow shows it to be the object's interior, is not seen as
   the object (its amodal mask keeps it): flow smeared over an edge or a drifting hidden part
   shows no object where the colour shows none.
And in step 4, colour judges too: an unexplained pixel of the object's seen part (1 px in from
its edge, not hidden before) whose colour looks like something else is cut, even where the
flow fails at an occlusion boundary, and counts towards the object vanishing as a whole.

Known limits: a hidden part moves rigidly while hidden; an object that goes behind something
not tracked counts as gone; an untracked object coloured like a tracked one that comes out
from behind another object joins the tracked one; without frames, a revealed part that
touches none of its object's visible pixels is not recovered; with them, a part of an object
coloured like another object or the background is not seen, and colour that changes through
the video (lighting, a generator's drift) weakens both colour steps. Grey videos carry no
colour evidence, so both steps then do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ttm_bench.metrics.objects import similarity_motion as motions
from ttm_bench.metrics.objects.appearance import ColourModels
from ttm_bench.metrics.objects.propagation import consistent, pixel_grid, sample_at
from ttm_bench.metrics.objects.tracks import MASK_THRESHOLD

#: Band (px) inside a mask's edge where DIS flow mixes motions (its patch is 8 px).
EDGE_PX = 4
#: Fewest interior pixels a motion is fitted on (else the last motion carries on).
MIN_SUPPORT = 50
#: Largest size change (factor) and turn (degrees) a fitted motion may make in one frame.
MAX_SCALE_STEP = 1.25
MAX_TURN_DEG = 20.0
#: Share of its amodal area an object must show for its motion to be fitted (a sliver at an
#: occluder's edge has the occluder's flow smeared over it).
MIN_VISIBLE_SHARE = 0.3
#: Most pixels a motion is fitted on (every n-th interior pixel beyond).
MAX_SUPPORT = 4096
#: Share of an object's judgeable core (not hidden before) that, found unexplained in one step,
#: means the object vanished, when that core is at least `MIN_CORE_SHARE` of the object: all of
#: it goes, edge band and hidden parts too (else only what was found unexplained).
VANISHED_SHARE = 0.5
MIN_CORE_SHARE = 0.25
#: Two motions agree at a pixel when their sources in frame t are within `AGREE_PX` px plus
#: `AGREE_RELATIVE` × the flow's length.
AGREE_PX = 0.75
AGREE_RELATIVE = 0.1
#: Colour evidence (`appearance.ColourModels.log_ratios`) that decides: a pixel looks like an
#: object when its colour is this many times likelier under the object's model than under any
#: other, and like something else when some other model is this many times likelier.
COLOUR_LOG_RATIO = float(np.log(4.0))
#: Fewest pixels a region claimed by its colour next to its object has (smaller ones are
#: specks of mixed colour at edges).
MIN_REGION = 10


@dataclass(frozen=True)
class LayeredMasks:
    """Tracked layers; masks are float32 [T, L, H, W] in [0, 1].

    visible: where each object is seen. amodal: where it is, hidden parts and revealed parts
    included (visible ≤ amodal). carried: s(0) carried through the video, hidden parts
    included, minus what was seen to vanish, without the parts revealed later (its area
    compares with s(0)'s). displacement: float32 [T-1, H, W], |motion| (px) of each pixel of
    frame t (see `displacement_field`).
    """

    visible: np.ndarray
    amodal: np.ndarray
    carried: np.ndarray
    displacement: np.ndarray


def track_layers(first: np.ndarray, forward: np.ndarray, backward: np.ndarray,
                 frames: np.ndarray | None = None, edge_px: int = EDGE_PX) -> LayeredMasks:
    """Track first-frame masks as layers (see the module doc).

    first: float [L, H, W] soft masks of frame 0, taken as disjoint: where two overlap, the
    pixel is seen as the one with the larger value (ties: the lower index); forward, backward:
    float32 [T-1, H, W, 2] flows t → t+1 and t+1 → t (at the pixels of t and t+1); frames:
    uint8 [T, H, W, 3] RGB, the video the flows are of, for the colour steps (7, 8), or None
    to track by motion alone (any other shape or dtype raises ValueError).
    """
    steps, height, width = forward.shape[:3]
    if frames is not None and (np.shape(frames) != (steps + 1, height, width, 3)
                               or np.asarray(frames).dtype != np.uint8):
        raise ValueError(f"frames are {np.asarray(frames).dtype} {np.shape(frames)}; the flows "
                         f"need the video's uint8 {(steps + 1, height, width, 3)} (RGB, one more "
                         "frame than flows)")
    first = np.asarray(first, np.float32)
    visible = np.empty((steps + 1, len(first), height, width), np.float32)
    amodal = np.empty_like(visible)
    carried = np.empty_like(visible)
    displacement = np.empty((steps, height, width), np.float32)
    visible[0] = amodal[0] = carried[0] = first
    colours = None if frames is None else ColourModels.fit(frames[0], first >= MASK_THRESHOLD)
    tracking = _Tracking(first, edge_px, colours)
    for t in range(steps):
        displacement[t] = tracking.step(forward[t], backward[t],
                                        None if frames is None else frames[t + 1])
        visible[t + 1], amodal[t + 1], carried[t + 1] = tracking.masks()
    return LayeredMasks(visible, amodal, carried, displacement)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """bool [H, W] → bool [H, W]: the pixels at least `radius` px inside the mask (the frame's
    border does not erode)."""
    return cv2.erode(mask.astype(np.uint8), _disc(radius), borderValue=1).astype(bool)


def fit_motion(visible: np.ndarray, valid: np.ndarray, forward: np.ndarray,
               edge_px: int = EDGE_PX) -> np.ndarray | None:
    """Similarity motion [2, 3] of a region from frame t to t+1, or None without support.

    visible: bool [H, W] its pixels at t; valid: bool [H, W] forward–backward consistent
    pixels of t; forward: float32 [H, W, 2] flow t → t+1. Fitted on the interior only: a sliver
    thinner than 2 `edge_px` has no flow of its own.
    """
    rows, cols = np.nonzero(erode(visible, edge_px) & valid)
    if len(rows) < MIN_SUPPORT:
        return None
    stride = -(-len(rows) // MAX_SUPPORT)  # an even subsample: four parameters need few points
    rows, cols = rows[::stride], cols[::stride]
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    fitted = motions.fit(points, points + forward[rows, cols])
    if fitted is None:
        return None
    scale, angle = motions.scale_and_angle(fitted)
    plausible = abs(np.log(scale)) <= np.log(MAX_SCALE_STEP) and abs(angle) <= MAX_TURN_DEG
    return fitted if plausible else None


def displacement_field(visible: np.ndarray, valid: np.ndarray, forward: np.ndarray,
                       object_motions: list[np.ndarray], edge_px: int = EDGE_PX) -> np.ndarray:
    """|motion| (px) of each pixel of frame t: float32 [H, W].

    visible: bool [L, H, W] disjoint visible masks at t; valid: bool [H, W] consistent pixels
    of t; forward: float32 [H, W, 2] flow t → t+1; object_motions: each object's map t → t+1.
    On an object's interior at consistent pixels, the dense flow (it follows non-rigid
    motion); on the rest of the object (its edge band, where DIS blends the object's motion
    with its neighbour's, and flow failures), the object's motion; elsewhere, the flow.
    """
    field = np.linalg.norm(forward, axis=-1).astype(np.float32)
    grid = pixel_grid(*field.shape).astype(np.float64)
    for mask, motion in zip(visible, object_motions, strict=True):
        rigid = mask & ~(erode(mask, edge_px) & valid)
        if rigid.any():
            field[rigid] = np.linalg.norm(motions.displacements(motion, grid[rigid]), axis=-1)
    return field


def displacement_fields(masks: np.ndarray, forward: np.ndarray, backward: np.ndarray,
                        edge_px: int = EDGE_PX) -> np.ndarray:
    """`displacement_field` of every frame pair for masks another tracker gave (SAM2).

    masks: float [T, L, H, W] soft visible masks; forward, backward: float32 [T-1, H, W, 2].
    Each object's motion is fitted on its mask at each frame (its last motion where it has no
    support). Returns float32 [T-1, H, W].
    """
    seen = np.asarray(masks) >= MASK_THRESHOLD
    last = [motions.IDENTITY] * seen.shape[1]
    fields = np.empty(forward.shape[:3], np.float32)
    for t in range(len(forward)):
        valid = consistent(backward[t], forward[t])
        last = _fit_motions(seen[t], valid, forward[t], last, edge_px)
        fields[t] = displacement_field(seen[t], valid, forward[t], last, edge_px)
    return fields


def _fit_motions(seen: np.ndarray, valid: np.ndarray, forward: np.ndarray,
                 last: list, edge_px: int) -> list:
    """Each region's `fit_motion` (seen: bool [L, H, W]), or its `last` motion without one."""
    fitted = [fit_motion(mask, valid, forward, edge_px) for mask in seen]
    return [old if new is None else new for new, old in zip(fitted, last, strict=True)]


@dataclass
class _Layer:
    """One object's state at frame t (arrays over the pixels of frame t).

    cumulative: its rigid motion frame 0 → t [2, 3]; residual: float32 [H, W, 2], each
    pixel's frame-0 point minus the cumulative motion's preimage (the non-rigid motion the flow
    followed); shown: float32 [H, W], its s(0) sampled at those frame-0 points; presence:
    float32 [H, W], 0 where it was seen to vanish; grown: float32 [H, W], parts revealed after
    frame 0; maybe: bool [H, W], pixels that came out from behind another object and may be
    its hidden parts (undecided until their flow is consistent); motion: its last motion
    t → t+1.
    """

    cumulative: np.ndarray
    residual: np.ndarray
    shown: np.ndarray
    presence: np.ndarray
    grown: np.ndarray
    maybe: np.ndarray
    motion: np.ndarray

    @classmethod
    def start(cls, first: np.ndarray) -> _Layer:
        """The layer at frame 0 of an object whose s(0) is `first` (float32 [H, W])."""
        height, width = first.shape
        return cls(motions.IDENTITY, np.zeros((height, width, 2), np.float32), first,
                   np.ones((height, width), np.float32), np.zeros((height, width), np.float32),
                   np.zeros((height, width), bool), motions.IDENTITY)

    def advance(self, source: np.ndarray, rigid: np.ndarray, grid: np.ndarray,
                first: np.ndarray) -> None:
        """Move to frame t+1: each pixel's state is read at its `source` [H, W, 2] in frame t
        (`maybe` at its `rigid` source, under the object's motion); state outside the frame
        reads as present and not grown. `first`: its s(0), sampled once per frame, composed
        back to frame 0 (no blur accumulates)."""
        before = motions.preimages(self.cumulative, source)
        self.cumulative = motions.compose(self.motion, self.cumulative)
        self.residual = (before + sample_at(self.residual, source)
                         - motions.preimages(self.cumulative, grid))
        self.shown = sample_at(first, motions.preimages(self.cumulative, grid) + self.residual)
        self.presence = sample_at(self.presence, source, outside=1.0)
        self.grown = sample_at(self.grown, source)
        self.maybe = sample_at(self.maybe.astype(np.float32), rigid) >= 0.5

    def claim(self, pixels: np.ndarray) -> None:
        """Take `pixels` (bool [H, W]) as a part of the object revealed after frame 0."""
        self.grown[pixels] = self.presence[pixels] = 1.0
        self.maybe &= ~pixels

    def carried(self) -> np.ndarray:
        """Its s(0) carried to the current frame, minus vanished parts: float32 [H, W]."""
        return self.shown * self.presence

    def mask(self) -> np.ndarray:
        """Its amodal soft mask at the current frame: float32 [H, W]."""
        return np.maximum(self.carried(), self.grown * self.presence)


class _Tracking:
    """The state carried from frame to frame, and one step of the module doc's procedure."""

    def __init__(self, first: np.ndarray, edge_px: int, colours: ColourModels | None) -> None:
        objects, height, width = first.shape
        self.first = first
        self.colours = colours
        self.edge_px = edge_px
        self.grid = pixel_grid(height, width)
        self.layers = [_Layer.start(mask) for mask in first]
        self.background_motion = motions.IDENTITY
        self.votes = np.zeros((objects, objects), np.int64)  # [j, k]: j seen over k, pixels
        seen = first >= MASK_THRESHOLD
        self.visible = self.amodal = first
        self.owner = np.where(seen.any(axis=0), np.argmax(first, axis=0), -1)  # -1: none
        self.trusted = seen  # visible pixels the flow saw come from their object

    def masks(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(visible, amodal, carried) float32 [L, H, W] at the current frame."""
        return self.visible, self.amodal, np.stack([layer.carried() for layer in self.layers])

    def step(self, forward: np.ndarray, backward: np.ndarray, frame: np.ndarray | None
             ) -> np.ndarray:
        """Move from frame t to t+1 (`frame`: uint8 [H, W, 3], frame t+1, or None without
        colour models); return the displacement field of frame t."""
        seen = self.visible >= MASK_THRESHOLD
        valid_t = consistent(backward, forward)  # over the pixels of t
        valid = consistent(forward, backward)  # over the pixels of t+1
        displacement = self._fit_motions(seen, valid_t, forward)
        dense = self.grid + backward  # each pixel of t+1's source in t, by the flow
        rigid = [motions.preimages(layer.motion, self.grid) for layer in self.layers]
        tolerance = AGREE_PX + AGREE_RELATIVE * np.linalg.norm(backward, axis=-1)
        excess = np.stack([np.linalg.norm(dense - source, axis=-1) for source in rigid]
                          ) - tolerance  # > 0: the flow does not move with the object
        like_background = np.linalg.norm(
            dense - motions.preimages(self.background_motion, self.grid), axis=-1) <= tolerance
        explains = np.stack([valid & (sample_at(mask, dense) >= 0.5) & ~(like_background & (e > 0))
                             for mask, e in zip(seen, excess, strict=True)])
        hidden_before = np.stack([
            sample_at(((self.owner >= 0) & (self.owner != k)).astype(np.float32), rigid[k]) >= 0.5
            for k in range(len(seen))])
        for k, layer in enumerate(self.layers):
            follows = explains[k] & (sample_at(erode(seen[k], self.edge_px), dense) >= 0.5)
            layer.advance(np.where(follows[..., None], dense, rigid[k]), rigid[k], self.grid,
                          self.first[k])
        amodal = self._amodal()
        ratios = None if frame is None else self.colours.log_ratios(frame)
        self._cut_vanished(amodal, explains, valid, hidden_before, ratios)
        present = amodal >= MASK_THRESHOLD
        self.votes += _depth_votes(present, explains)
        self.owner = _owners(present, explains, self.votes)
        self._grow_revealed(amodal, hidden_before, backward, valid, like_background, excess)
        if ratios is not None:
            self._claim_by_colour(amodal, ratios, valid & ~like_background, valid)
        present = amodal >= MASK_THRESHOLD
        self.owner = _owners(present, explains, self.votes)
        owns = self.owner == np.arange(len(seen))[:, None, None]
        edges = np.stack([cv2.dilate(o.astype(np.uint8), _disc(1)).astype(bool) for o in owns])
        # a soft edge (amodal < MASK_THRESHOLD) is seen where no one is, next to the object
        seen_here = np.where(present, owns, (self.owner < 0) & edges)
        self.visible, self.amodal = amodal * seen_here, amodal
        if ratios is not None:  # step 8
            self.visible = self.visible * ~self._unlike(ratios, explains)
        self.trusted = explains | np.stack([layer.grown >= MASK_THRESHOLD
                                            for layer in self.layers])
        return displacement

    def _fit_motions(self, seen: np.ndarray, valid_t: np.ndarray, forward: np.ndarray
                     ) -> np.ndarray:
        """Fit each layer's and the background's motion t → t+1; return the displacement
        field of frame t."""
        amodal = (self.amodal >= MASK_THRESHOLD).sum(axis=(1, 2))
        showing = seen.sum(axis=(1, 2)) >= MIN_VISIBLE_SHARE * amodal
        support = seen & self.trusted & showing[:, None, None]
        last = [*(layer.motion for layer in self.layers), self.background_motion]
        # away from other objects first (their flow smears over an occlusion boundary)
        apart = support & ~self._near_others(seen)
        fitted = _fit_motions(np.concatenate([apart, [self.owner < 0]]), valid_t, forward,
                              [None] * len(last), self.edge_px)
        fallback = _fit_motions(np.concatenate([support, [self.owner < 0]]), valid_t, forward,
                                last, self.edge_px)
        fitted = [f if f is not None else b for f, b in zip(fitted, fallback, strict=True)]
        for layer, motion in zip(self.layers, fitted, strict=False):
            layer.motion = motion
        self.background_motion = fitted[-1]
        return displacement_field(seen, valid_t, forward, fitted[:-1], self.edge_px)

    def _near_others(self, masks: np.ndarray) -> np.ndarray:
        """bool [L, H, W]: pixels within 2 `edge_px` of another object's mask (`masks` bool
        [L, H, W]), where flow at an occlusion boundary mixes the two objects' motions."""
        near = [cv2.dilate(mask.astype(np.uint8), _disc(2 * self.edge_px)).astype(bool)
                for mask in masks]
        return np.stack([np.logical_or.reduce([n for j, n in enumerate(near) if j != k]
                                              or [np.zeros_like(masks[k])])
                         for k in range(len(masks))])

    def _amodal(self) -> np.ndarray:
        return np.stack([layer.mask() for layer in self.layers])

    def _cut_vanished(self, amodal: np.ndarray, explains: np.ndarray, valid: np.ndarray,
                      hidden_before: np.ndarray, ratios: np.ndarray | None) -> None:
        """Step 4 of the module doc, on the layers and on their masks `amodal` (float32
        [L, H, W] at t+1, updated in place). Where the flow is not consistent within 2
        `edge_px` of another object (an occlusion boundary, where flow fails for both sides),
        nothing is cut. An object whose judgeable core (not hidden before) is at least
        `MIN_CORE_SHARE` of it and loses over `VANISHED_SHARE` of that core at once is gone as
        a whole. ratios: float [L, H, W] (`ColourModels.log_ratios` of frame t+1) or None: with
        them, the core reaches 1 px from the edge, and an unexplained pixel there that looks
        like something else is cut wherever it is."""
        present = amodal >= MASK_THRESHOLD
        unexplained = ~explains.any(axis=0)
        boundary = self._near_others(present)
        for k, layer in enumerate(self.layers):
            core = erode(present[k], self.edge_px) & ~hidden_before[k]
            cut = core & unexplained & (valid | ~boundary[k])
            if ratios is not None:  # colour judges up to the edge, and where the flow fails
                seen = erode(present[k], 1) & ~hidden_before[k]
                core |= seen
                cut |= seen & unexplained & (ratios[k] < -COLOUR_LOG_RATIO)
            if (core.sum() >= MIN_CORE_SHARE * present[k].sum()
                    and cut.sum() > VANISHED_SHARE * core.sum()):
                cut = present[k]
            layer.presence[cut] = 0
            amodal[k][cut] = 0

    def _grow_revealed(self, amodal: np.ndarray, hidden_before: np.ndarray,
                       backward: np.ndarray, valid: np.ndarray, like_background: np.ndarray,
                       excess: np.ndarray) -> None:
        """Step 6 of the module doc, on the layers and on their masks `amodal` (float32
        [L, H, W] at t+1, updated in place). hidden_before: bool [L, H, W], pixels of t+1 whose
        source under the object's motion was another object's in frame t; backward: float32
        [H, W, 2] flow t+1 → t; valid: its consistent pixels; like_background: those whose
        flow moves like the background's; excess: float [L, H, W] (see `_claim_revealed`)."""
        unowned = ~(amodal >= MASK_THRESHOLD).any(axis=0)
        for k, layer in enumerate(self.layers):
            layer.maybe = (layer.maybe | hidden_before[k]) & unowned
            layer.maybe &= ~(valid & like_background & (excess[k] > 0))  # background after all
        claims = _claim_revealed(np.stack([layer.maybe for layer in self.layers]),
                                 valid & ~like_background, self.owner, excess, backward, valid,
                                 self.edge_px)
        for k, layer in enumerate(self.layers):
            layer.claim(claims == k)
            layer.maybe &= claims < 0  # a part another object took is not this one's
            amodal[k][claims == k] = 1.0

    def _unlike(self, ratios: np.ndarray, explains: np.ndarray) -> np.ndarray:
        """Step 8: bool [L, H, W], pixels of each object's visible mask (at t+1) that look like
        something else and that the flow does not show to be its interior."""
        interior = np.stack([erode(v >= MASK_THRESHOLD, self.edge_px) for v in self.visible])
        return (ratios < -COLOUR_LOG_RATIO) & ~(interior & explains)

    def _claim_by_colour(self, amodal: np.ndarray, ratios: np.ndarray, moving: np.ndarray,
                         valid: np.ndarray) -> None:
        """Step 7 of the module doc, on the layers and on their masks `amodal` (float32
        [L, H, W] at t+1, updated in place). ratios: float [L, H, W], `ColourModels.log_ratios`
        of frame t+1; moving: bool [H, W], consistent pixels unlike the background; valid: the
        consistent pixels."""
        candidates = ~(amodal >= MASK_THRESHOLD).any(axis=0) & (moving | ~valid)
        for k, layer in enumerate(self.layers):
            looks = candidates & (ratios[k] > COLOUR_LOG_RATIO)
            looks = candidates & cv2.morphologyEx(  # near-black specks inside join
                looks.astype(np.uint8), cv2.MORPH_CLOSE, _disc(2)).astype(bool)
            count, regions, stats, _ = cv2.connectedComponentsWithStats(
                looks.astype(np.uint8), connectivity=8)
            touching = cv2.dilate((amodal[k] >= MASK_THRESHOLD).astype(np.uint8),
                                  _disc(1)).astype(bool)
            near = set(np.unique(regions[touching & looks]).tolist())
            others = cv2.dilate(((self.owner >= 0) & (self.owner != k)).astype(np.uint8),
                                _disc(1)).astype(bool)
            for region in range(1, count):
                pixels = regions == region
                area = stats[region, cv2.CC_STAT_AREA]
                if (area >= MIN_REGION and region in near) or (
                        area >= MIN_SUPPORT and np.median(moving[pixels])
                        and ((layer.maybe & pixels).any() or (others & pixels).any())):
                    layer.claim(pixels)
                    amodal[k][pixels] = 1.0
            candidates &= ~looks


def _depth_votes(present: np.ndarray, explains: np.ndarray) -> np.ndarray:
    """int [L, L]: [j, k] counts pixels where both are present and only j explains the flow."""
    alone = present & explains
    hidden = present & ~explains
    return np.einsum("jhw,khw->jk", alone.astype(np.int64), hidden.astype(np.int64))


def _front_to_back(votes: np.ndarray) -> list[int]:
    """Objects from front to back: most pairwise wins first, ties by index."""
    wins = (votes > votes.T).sum(axis=1)
    return sorted(range(len(votes)), key=lambda k: (-wins[k], k))


def _owners(present: np.ndarray, explains: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """The visible object of each pixel (int [H, W], -1: none): among the objects present
    there, the one the flow explains, else the front-most."""
    owner = np.full(present.shape[1:], -1)
    explained = (present & explains).any(axis=0)
    for k in _front_to_back(votes):
        owner[present[k] & (explains[k] | ~explained) & (owner < 0)] = k
    return owner


def _claim_revealed(maybe: np.ndarray, moving: np.ndarray, owner: np.ndarray,
                    excess: np.ndarray, backward: np.ndarray, valid: np.ndarray,
                    edge_px: int) -> np.ndarray:
    """Which object each pixel that may be a revealed part turns out to be (int [H, W], -1:
    none).

    For object k, a connected region of pixels that may be its hidden parts (`maybe` bool
    [L, H, W]), whose flow is consistent and unlike the background's (`moving`), and that
    touches k's visible pixels (`owner` int [H, W]) joins k when it moves with k: its median
    `excess` (float [L, H, W]: px by which the flow's source misses k's motion's, beyond the
    tolerance) is not positive, or, k's fitted motion being off (a sliver's), the region and
    k's visible interior (`edge_px` in, at `valid` pixels) move as one rigid body
    (`_moves_as_one`; backward: float32 [H, W, 2], valid: bool [H, W], over the pixels of
    t+1). A pixel two objects claim goes to the one whose motion it follows best.
    """
    best = np.full(owner.shape, np.inf)
    claims = np.full(owner.shape, -1)
    for k in range(len(excess)):
        candidates = maybe[k] & moving
        _, regions = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
        touching = cv2.dilate((owner == k).astype(np.uint8), _disc(1)).astype(bool)
        interior = erode(owner == k, edge_px) & valid
        for region in np.unique(regions[touching & candidates]):
            pixels = regions == region
            if (np.median(excess[k][pixels]) > 0
                    and not _moves_as_one(pixels, interior, backward)):
                continue
            better = pixels & (excess[k] < best)
            claims[better] = k
            best[better] = excess[k][better]
    return claims


def _moves_as_one(region: np.ndarray, interior: np.ndarray, backward: np.ndarray) -> bool:
    """Whether `region` and an object's `interior` (bool [H, W] at t+1: its visible mask
    `edge_px` in, at consistent pixels) move as one rigid body back to t: one similarity fits
    the backward flow of both, its median miss within the agreement tolerance on each side."""
    if interior.sum() < MIN_SUPPORT:
        return False
    both = interior | region
    rows, cols = np.nonzero(both)
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    moved = backward[rows, cols].astype(np.float64)
    fitted = motions.fit(points, points + moved)
    if fitted is None:
        return False
    miss = np.linalg.norm(motions.displacements(fitted, points) - moved, axis=1)
    tolerance = AGREE_PX + AGREE_RELATIVE * np.linalg.norm(moved, axis=1)
    excess = miss - tolerance
    in_region = region[rows, cols]
    return bool(np.median(excess[in_region]) <= 0 and np.median(excess[~in_region]) <= 0)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
