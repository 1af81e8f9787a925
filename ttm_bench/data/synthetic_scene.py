"""Procedural scenes with exact ground-truth motion: the synthetic benchmark's renderer.

A scene is a static, richly textured background and 1–6 textured shapes (disc, ellipse, square,
rectangle, triangle, star), each moving along a known similarity transform

    A_t(q) = c_t + s_t R(θ_t) q,   c_t = c_0 + v t,   θ_t = θ_0 + ω t,   s_t = (1 + r)^t,

which maps object-local coordinates q (pixels at scale 1) to image coordinates. Coordinates are
(x, y) in pixels with pixel (i, j) centred at (x=j, y=i) and y pointing down, so a positive
angle turns clockwise as seen on screen. Objects occlude each other by `depth` (0 is nearest).

Rendering inverse-maps every sub-sample through A_t⁻¹ into the object's texture (bilinear) and
averages `SUPERSAMPLING`² sub-samples per pixel, so edges are anti-aliased and motion is smooth
to a fraction of a pixel. Masks and flow come from the same geometry, tested at pixel centres:
the visible owner of a pixel is the nearest object containing its centre, and the forward flow
of a pixel p owned by an object is A_{t+1} A_t⁻¹ p − p (0 on the background).

Everything here is pure and deterministic for a given `SceneSpec`; nothing reads or writes files.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from ttm_bench.errors import TTMBenchError, UnknownNameError

#: Sub-samples per pixel along each axis when rendering frames.
SUPERSAMPLING = 4

SHAPES = ("disc", "ellipse", "square", "rectangle", "triangle", "star")

#: Named object colours (RGB, uint8 range).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 35),
    "blue": (35, 80, 220),
    "green": (40, 170, 60),
    "yellow": (235, 205, 40),
    "purple": (145, 55, 190),
    "orange": (245, 135, 25),
    "cyan": (35, 195, 210),
    "magenta": (215, 45, 165),
}

# Sampling ranges, for a 128-pixel short side (scaled linearly with the short side).
_AREA_RADIUS_RANGE = (27.0, 33.0)  # radius of the disc of equal area at scale 1, px
_SPEED_RANGE = (1.0, 1.8)  # centre speed, px/frame
_ANGULAR_SPEED_RANGE = (1.0, 3.0)  # deg/frame
_SCALE_RATE_RANGE = (0.006, 0.014)  # relative size change per frame
_TEXTURE_SIZE = 96  # texels across an object's [-radius, radius] square
_STILL_MARGIN = 4.0  # px between a still object and anywhere a moving one goes
_MAX_DRAWS = 200  # scenes drawn before `sample_one_moves_spec` gives up
#: Area of each shape at circumradius 1 (see `_inside`).
_UNIT_AREAS = {
    "disc": math.pi,
    "ellipse": 0.6 * math.pi,
    "square": 2.0,
    "rectangle": 4 * 0.9 * 0.6,
    "triangle": 0.75 * math.sqrt(3.0),
    "star": 10 * 0.5 * 0.7 * math.sin(math.pi / 5),
}


@dataclass(frozen=True)
class ObjectMotion:
    """One object and its exact motion.

    shape: one of `SHAPES`; label: its noun in captions; colour: a key of `COLOURS`.
    radius: circumradius at scale 1 (px). start: centre (x, y) at frame 0 (px).
    velocity: (vx, vy) px/frame. angle: orientation at frame 0 (deg). angular_velocity:
    deg/frame, positive clockwise on screen. scale_rate: r with scale s_t = (1 + r)^t.
    depth: occlusion order, 0 is nearest the camera, unique within a scene.
    texture_seed: seed of the object's procedural texture.
    """

    shape: str
    label: str
    colour: str
    radius: float
    start: tuple[float, float]
    velocity: tuple[float, float]
    angle: float
    angular_velocity: float
    scale_rate: float
    depth: int
    texture_seed: int

    def centre(self, t: float) -> np.ndarray:
        """Centre (x, y) at frame t, px: float64 [2]."""
        return np.asarray(self.start) + t * np.asarray(self.velocity)

    def scale(self, t: float) -> float:
        """Size relative to frame 0 at frame t."""
        return (1.0 + self.scale_rate) ** t

    def linear(self, t: float) -> np.ndarray:
        """The linear part s_t R(θ_t) of A_t: float64 [2, 2] acting on column vectors (x, y)."""
        theta = math.radians(self.angle + self.angular_velocity * t)
        c, s = math.cos(theta), math.sin(theta)
        return self.scale(t) * np.array([[c, -s], [s, c]])

    def still(self) -> ObjectMotion:
        """This object standing still: same shape, size, place and angle; no motion at all."""
        return replace(self, velocity=(0.0, 0.0), angular_velocity=0.0, scale_rate=0.0)


@dataclass(frozen=True)
class SceneSpec:
    """A whole scene: frame size (px), frame count, objects (label order), background seed."""

    height: int
    width: int
    num_frames: int
    objects: tuple[ObjectMotion, ...]
    background_seed: int

    def to_dict(self) -> dict:
        """JSON-ready form (tuples become lists), e.g. for a sample's `meta`."""
        return asdict(self)


@dataclass(frozen=True)
class SceneRender:
    """A rendered scene with its exact ground truth.

    frames: uint8 [T, H, W, 3] RGB. masks: bool [T, L, H, W] visible (after occlusion) masks,
    disjoint. flow: float32 [T-1, H, W, 2] exact forward flow (dx, dy) px from frame t to t+1.
    object_displacement: float64 [L, T-1] centre displacement magnitude per frame (px).
    mean_flow_magnitude: mean of |flow| over all frame pairs and pixels (px).
    """

    frames: np.ndarray
    masks: np.ndarray
    flow: np.ndarray
    object_displacement: np.ndarray
    mean_flow_magnitude: float


def sample_scene_spec(
    rng: np.random.Generator,
    num_objects: int,
    height: int = 128,
    width: int = 128,
    num_frames: int = 16,
) -> SceneSpec:
    """Draw a scene: distinct shapes and colours, sizes and speeds scaled to the short side.

    Every object translates; each also rotates, scales, or both (at least one of the two). Sizes
    are the radius of the disc of equal area, so all shapes cover similar areas. The speed is
    capped so that the object stays mostly inside the frame (see `reach` below), and so is the
    growth over long clips (from about 40 frames), which would otherwise outgrow the frame.
    """
    if not 1 <= num_objects <= len(SHAPES):
        raise TTMBenchError(
            f"num_objects={num_objects} is out of range; use 1 to {len(SHAPES)} objects"
        )
    if num_frames < 2 or min(height, width) < 32:
        raise TTMBenchError(
            f"scene of {num_frames} frames at {height}x{width} is too small; "
            "use at least 2 frames and a short side of at least 32 px"
        )
    unit = min(height, width) / 128.0
    shapes = rng.choice(len(SHAPES), size=num_objects, replace=False)
    colours = rng.choice(sorted(COLOURS), size=num_objects, replace=False)
    depths = rng.permutation(num_objects)
    objects = []
    for i in range(num_objects):
        shape = SHAPES[int(shapes[i])]
        area_radius = float(rng.uniform(*_AREA_RADIUS_RANGE)) * unit
        radius = area_radius * math.sqrt(math.pi / _UNIT_AREAS[shape])
        kind = rng.integers(3)  # 0: rotate, 1: scale, 2: both
        angular = float(rng.uniform(*_ANGULAR_SPEED_RANGE)) * rng.choice((-1.0, 1.0))
        scale_rate = float(rng.uniform(*_SCALE_RATE_RANGE)) * rng.choice((-1.0, 1.0))
        angular = angular if kind != 1 else 0.0
        scale_rate = scale_rate if kind != 0 else 0.0
        # Keep the centre at least `reach` from the borders: midway between the equal-area
        # radius and the circumradius, so only tips of pointed shapes may leave the frame.
        size = 0.5 * (area_radius + radius)
        growth = max(1.0, (1.0 + scale_rate) ** (num_frames - 1))
        if 2.0 * size * growth > min(width, height):
            # A long clip would grow it past the frame: it grows to 90% of the short side.
            growth = 0.9 * min(width, height) / (2.0 * size)
            scale_rate = growth ** (1.0 / (num_frames - 1)) - 1.0
        reach = size * growth
        room = max(0.0, min(width, height) - 2.0 * reach)
        speed = float(rng.uniform(*_SPEED_RANGE)) * unit
        speed = min(speed, 0.9 * room / (num_frames - 1))
        heading = rng.uniform(0.0, 2.0 * math.pi)
        velocity = speed * np.array([math.cos(heading), math.sin(heading)])
        travel = velocity * (num_frames - 1)
        low = reach + np.maximum(0.0, -travel)
        high = np.array([width, height]) - reach - np.maximum(0.0, travel)
        start = rng.uniform(low, high)
        objects.append(
            ObjectMotion(
                shape=shape,
                label=shape,
                colour=str(colours[i]),
                radius=radius,
                start=(float(start[0]), float(start[1])),
                velocity=(float(velocity[0]), float(velocity[1])),
                angle=float(rng.uniform(0.0, 360.0)),
                angular_velocity=angular,
                scale_rate=scale_rate,
                depth=int(depths[i]),
                texture_seed=int(rng.integers(2**31)),
            )
        )
    return SceneSpec(height, width, num_frames, tuple(objects), int(rng.integers(2**31)))


def sample_one_moves_spec(
    rng: np.random.Generator,
    height: int = 128,
    width: int = 128,
    num_frames: int = 16,
) -> SceneSpec:
    """Draw a scene of two objects where only object 0 moves and they never overlap.

    Object 0 moves as in `sample_scene_spec`; object 1 stands still (`ObjectMotion.still`) at a
    whole-pixel centre drawn uniformly among those where it stays `_STILL_MARGIN` px (for a
    128-pixel short side) clear of every pixel object 0 covers in any frame, and inside the
    frame as far as `sample_scene_spec` keeps objects. Neither object ever hides the other, so
    what a tracker reports for each is not confounded by occlusion. Scenes without such a place
    are redrawn from `rng`, so the result is still a function of `rng`'s state.
    """
    unit = min(height, width) / 128.0
    margin = max(1, round(_STILL_MARGIN * unit))
    for _ in range(_MAX_DRAWS):
        spec = sample_scene_spec(rng, 2, height, width, num_frames)
        moving, still = spec.objects[0], spec.objects[1].still()
        swept = np.zeros((height, width), bool)
        for t in range(num_frames):
            swept |= _footprint(moving, t, height, width)
        half = math.ceil(still.radius) + margin  # the still object's box: side 2 half + 1
        own = _footprint(replace(still, start=(float(half),) * 2), 0, 2 * half + 1, 2 * half + 1)
        # Centres c whose footprint (grown by the margin) meets the swept area: swept ⊕ own.
        grown = cv2.dilate(own.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8))
        blocked = cv2.dilate(swept.astype(np.uint8), grown).astype(bool)
        area_radius = still.radius * math.sqrt(_UNIT_AREAS[still.shape] / math.pi)
        reach = 0.5 * (area_radius + still.radius)
        ys, xs = np.mgrid[0:height, 0:width]
        free = ~blocked & (xs >= reach) & (xs <= width - 1 - reach) & (ys >= reach) & (
            ys <= height - 1 - reach)
        if free.any():
            choice = int(rng.integers(np.count_nonzero(free)))
            y, x = np.argwhere(free)[choice]
            still = replace(still, start=(float(x), float(y)))
            return replace(spec, objects=(moving, still))
    raise TTMBenchError(
        f"found no room for a still object beside a moving one in {_MAX_DRAWS} scenes of "
        f"{num_frames} frames at {height}x{width}; use fewer frames or a wider frame"
    )


def _footprint(obj: ObjectMotion, t: int, height: int, width: int) -> np.ndarray:
    """Pixels whose centre the object covers at frame t, ignoring occlusion: bool [H, W]."""
    mask = np.zeros((height, width), bool)
    box = _bounding_box(obj, t, height, width)
    if box is not None:
        rows, cols = box
        q = _to_local(obj, t, np.arange(cols.start, cols.stop, dtype=float),
                      np.arange(rows.start, rows.stop, dtype=float))
        mask[rows, cols] = _inside(obj.shape, q / obj.radius)
    return mask


def render_scene(spec: SceneSpec) -> SceneRender:
    """Render frames, visible masks and exact forward flow of `spec` (see the module doc)."""
    _check_spec(spec)
    height, width, frames_n = spec.height, spec.width, spec.num_frames
    objects = spec.objects
    background = _background_texture(spec.background_seed, height, width)
    textures = [_object_texture(o) for o in objects]
    far_to_near = sorted(range(len(objects)), key=lambda i: -objects[i].depth)
    ss = SUPERSAMPLING

    frames = np.empty((frames_n, height, width, 3), np.uint8)
    masks = np.zeros((frames_n, len(objects), height, width), bool)
    flow = np.zeros((frames_n - 1, height, width, 2), np.float32)
    for t in range(frames_n):
        canvas = np.repeat(np.repeat(background, ss, axis=0), ss, axis=1)
        owner = np.full((height, width), -1)
        local_at_centres: dict[int, tuple[tuple[slice, slice], np.ndarray]] = {}
        for i in far_to_near:
            obj = objects[i]
            box = _bounding_box(obj, t, height, width)
            if box is None:
                continue
            rows, cols = box
            # Sub-samples: pixel j spans [j - 0.5, j + 0.5]; ss evenly spaced points inside.
            sub_y = (np.arange(rows.start * ss, rows.stop * ss) + 0.5) / ss - 0.5
            sub_x = (np.arange(cols.start * ss, cols.stop * ss) + 0.5) / ss - 0.5
            q = _to_local(obj, t, sub_x, sub_y)
            inside = _inside(obj.shape, q / obj.radius)
            region = canvas[rows.start * ss : rows.stop * ss, cols.start * ss : cols.stop * ss]
            region[inside] = _sample_bilinear(textures[i], q[inside] / obj.radius)
            q_centres = _to_local(obj, t, np.arange(cols.start, cols.stop, dtype=float),
                                  np.arange(rows.start, rows.stop, dtype=float))
            owner[rows, cols][_inside(obj.shape, q_centres / obj.radius)] = i
            local_at_centres[i] = (box, q_centres)
        frames[t] = np.clip(
            np.rint(canvas.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))), 0, 255
        )
        masks[t] = owner[None] == np.arange(len(objects))[:, None, None]
        if t + 1 < frames_n:
            for i, ((rows, cols), q_centres) in local_at_centres.items():
                obj = objects[i]
                ys, xs = np.mgrid[rows, cols]
                moved = q_centres @ obj.linear(t + 1).T + obj.centre(t + 1)
                dxy = moved - np.stack([xs, ys], axis=-1)
                visible = owner[rows, cols] == i
                flow[t, rows, cols][visible] = dxy[visible]

    centres = np.stack([[o.centre(t) for t in range(frames_n)] for o in objects])  # [L, T, 2]
    displacement = np.linalg.norm(np.diff(centres, axis=1), axis=-1)
    magnitude = float(np.linalg.norm(flow.astype(np.float64), axis=-1).mean())
    return SceneRender(frames, masks, flow, displacement, magnitude)


def _check_spec(spec: SceneSpec) -> None:
    if spec.num_frames < 2 or spec.height < 1 or spec.width < 1:
        raise TTMBenchError(
            f"scene size {spec.num_frames}x{spec.height}x{spec.width} (frames x H x W) is "
            "invalid; use at least 2 frames and a positive height and width"
        )
    for obj in spec.objects:
        if obj.shape not in SHAPES:
            raise UnknownNameError("shape", obj.shape, list(SHAPES))
        if obj.colour not in COLOURS:
            raise UnknownNameError("colour", obj.colour, list(COLOURS))
        if obj.radius <= 0 or obj.scale_rate <= -1:
            raise TTMBenchError(
                f"object {obj.label!r} has radius={obj.radius}, scale_rate={obj.scale_rate}; "
                "use a positive radius and a scale_rate above -1"
            )
    depths = [o.depth for o in spec.objects]
    if len(set(depths)) != len(depths):
        raise TTMBenchError(f"object depths {depths} repeat; give every object its own depth")


def _bounding_box(
    obj: ObjectMotion, t: int, height: int, width: int
) -> tuple[slice, slice] | None:
    """Pixel rows and columns that can hold the object at frame t, clipped to the frame."""
    cx, cy = obj.centre(t)
    reach = obj.radius * obj.scale(t) + 1.0
    x0, x1 = max(0, math.floor(cx - reach)), min(width, math.ceil(cx + reach) + 1)
    y0, y1 = max(0, math.floor(cy - reach)), min(height, math.ceil(cy + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _to_local(obj: ObjectMotion, t: int, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A_t⁻¹ of the grid xs × ys: local coordinates float64 [len(ys), len(xs), 2] (x, y)."""
    grid = np.stack(np.meshgrid(xs, ys), axis=-1) - obj.centre(t)
    return grid @ np.linalg.inv(obj.linear(t)).T


def _inside(shape: str, u: np.ndarray) -> np.ndarray:
    """Whether points u (local coordinates / radius, [..., 2]) lie inside the unit shape."""
    x, y = u[..., 0], u[..., 1]
    if shape == "disc":
        return x * x + y * y <= 1.0
    if shape == "ellipse":
        return x * x + (y / 0.6) ** 2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= math.sqrt(0.5)
    if shape == "rectangle":
        return (np.abs(x) <= 0.9) & (np.abs(y) <= 0.6)
    if shape == "triangle":
        return _inside_folded_polygon(x, y, sides=3, inner=0.5)
    return _inside_folded_polygon(x, y, sides=5, inner=0.7)


def _inside_folded_polygon(x: np.ndarray, y: np.ndarray, sides: int, inner: float) -> np.ndarray:
    """Inside a `sides`-fold star with outer vertices on the unit circle (one at angle 0).

    The angle is folded into [0, π/sides] by symmetry; there the boundary is the segment from
    the outer vertex (1, 0) to the inner vertex at radius `inner` and angle π/sides. A regular
    polygon is the star whose inner radius is cos(π/sides) (for a triangle, 0.5).
    """
    half = math.pi / sides
    phi = np.mod(np.arctan2(y, x), 2.0 * half)
    phi = np.minimum(phi, 2.0 * half - phi)
    r = np.hypot(x, y)
    px, py = r * np.cos(phi), r * np.sin(phi)
    ix, iy = inner * math.cos(half), inner * math.sin(half)
    # Origin side of the line through (1, 0) and (ix, iy).
    return (ix - 1.0) * py - iy * (px - 1.0) >= 0.0


def _sample_bilinear(texture: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Bilinear sample of texture [N, N, 3] covering u ∈ [-1, 1]² at points u [..., 2]."""
    n = texture.shape[0]
    coords = np.clip((u + 1.0) * 0.5 * (n - 1), 0.0, n - 1.000001)
    base = np.floor(coords).astype(int)
    frac = coords - base
    fx, fy = frac[..., :1], frac[..., 1:]
    x0, y0 = base[..., 0], base[..., 1]
    top = texture[y0, x0] * (1 - fx) + texture[y0, x0 + 1] * fx
    bottom = texture[y0 + 1, x0] * (1 - fx) + texture[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _multiscale_noise(
    rng: np.random.Generator, height: int, width: int, cells: tuple[int, ...]
) -> np.ndarray:
    """Smooth noise float32 [H, W], zero mean and unit std: octaves of upsampled random grids.

    An octave with c cells across the short side has features of about short/c px and an
    amplitude ∝ 1/√c, so coarse shapes and fine detail are both present.
    """
    total = np.zeros((height, width), np.float32)
    short = min(height, width)
    for c in cells:
        gh, gw = max(2, round(c * height / short)) + 1, max(2, round(c * width / short)) + 1
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        total += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC) / math.sqrt(c)
    return (total - total.mean()) / total.std()


def _background_texture(seed: int, height: int, width: int) -> np.ndarray:
    """Static mottled background float32 [H, W, 3] in [0, 255]: two muted hues, noise, gradient."""
    rng = np.random.default_rng(seed)
    hues = rng.uniform(60.0, 190.0, size=(2, 3)).astype(np.float32)
    mix = 1.0 / (1.0 + np.exp(-1.5 * _multiscale_noise(rng, height, width, (2, 4))))
    light = _multiscale_noise(rng, height, width, (6, 12, 24, 48))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0.0, 2.0 * math.pi)
    ramp = (np.cos(direction) * xs + np.sin(direction) * ys) / max(height, width)
    colour = hues[0] * mix[..., None] + hues[1] * (1.0 - mix[..., None])
    shade = 1.0 + 0.5 * light + 0.25 * (ramp - ramp.mean())
    return np.clip(colour * shade[..., None], 0.0, 255.0)


def _object_texture(obj: ObjectMotion) -> np.ndarray:
    """The object's texture float32 [N, N, 3] on its local [-radius, radius]² square.

    Its named colour, shaded by multiscale noise and soft stripes at a random orientation, so
    the grey image has strong structure at several scales.
    """
    rng = np.random.default_rng(obj.texture_seed)
    n = _TEXTURE_SIZE
    noise = _multiscale_noise(rng, n, n, (3, 6, 12, 20))
    ys, xs = np.mgrid[-1.0 : 1.0 : n * 1j, -1.0 : 1.0 : n * 1j]
    direction = rng.uniform(0.0, math.pi)
    stripes = np.sin((np.cos(direction) * xs + np.sin(direction) * ys) * rng.uniform(9.0, 14.0))
    shade = np.clip(0.75 + 0.45 * noise + 0.3 * stripes, 0.1, 1.6).astype(np.float32)
    base = np.asarray(COLOURS[obj.colour], np.float32)
    return np.clip(base * shade[..., None], 0.0, 255.0)


def describe_scene(spec: SceneSpec) -> tuple[str, str, list[str], list[str]]:
    """Deterministic text for a scene: (caption c, motion prompt c_motion, local prompts, labels).

    c names each object's colour, shape and motion and the background; c_motion keeps only the
    objects' nouns and motions (no colour, texture or background, as in the paper); c_local(l)
    describes object l's appearance. Lists follow the order of `spec.objects`.
    """
    local_prompts = [f"{_article(o.colour)} {o.colour} textured {o.label}" for o in spec.objects]
    motions = [_motion_phrase(o) for o in spec.objects]
    caption = _join_clauses(
        [f"{p} {m}" for p, m in zip(local_prompts, motions, strict=True)]
    ) + ", over a mottled background."
    motion_prompt = _join_clauses(
        [f"{_article(o.label)} {o.label} {m}" for o, m in zip(spec.objects, motions, strict=True)]
    ) + "."
    labels = [o.label for o in spec.objects]
    return caption, motion_prompt, local_prompts, labels


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _join_clauses(clauses: list[str]) -> str:
    """'A …', 'A …, and b …', 'A …, b …, and c …', capitalised."""
    text = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + f", and {clauses[-1]}"
    return text[0].upper() + text[1:]


def _motion_phrase(obj: ObjectMotion) -> str:
    """E.g. 'moves down and to the left, rotating clockwise and growing', or 'stays still'."""
    extras = []
    if obj.angular_velocity:
        extras.append("rotating " + ("clockwise" if obj.angular_velocity > 0 else
                                     "counterclockwise"))
    if obj.scale_rate:
        extras.append("growing" if obj.scale_rate > 0 else "shrinking")
    vx, vy = obj.velocity
    if vx == vy == 0.0:
        return f"stays in place, {' and '.join(extras)}" if extras else "stays still"
    # Eight compass sectors of 45° around the heading (y points down on screen).
    sector = round(math.degrees(math.atan2(-vy, vx)) / 45.0) % 8
    directions = ("right", "up and to the right", "up", "up and to the left", "left",
                  "down and to the left", "down", "down and to the right")
    phrase = f"moves {directions[sector]}"
    return f"{phrase}, {' and '.join(extras)}" if extras else phrase
