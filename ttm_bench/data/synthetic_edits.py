"""Edited synthetic scenes with exact answers for the object-level metrics.

Pure functions of a `SceneSpec` (no files): a scene where an object is erased from a frame on,
and the exact per-object pixel displacement of a rendered scene. The known-answer tests and
`python -m ttm_bench.bench.objects` use them. (Scenes where one of two objects stands still are
a split of the benchmark itself: `one-moves`, see `synthetic.py`.)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ttm_bench.data.synthetic_scene import SceneRender, SceneSpec, render_scene
from ttm_bench.errors import TTMBenchError


def erase_object(spec: SceneSpec, index: int, from_frame: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene with object `index` gone from frame `from_frame` on.

    Returns (frames uint8 [T, H, W, 3], exact visible masks bool [T, L, H, W]); the erased
    object's masks are empty from `from_frame` on. The scene needs another object (a scene of
    none cannot be rendered).
    """
    if len(spec.objects) < 2 or not 0 <= index < len(spec.objects):
        raise TTMBenchError(f"cannot erase object {index} of a scene with "
                            f"{len(spec.objects)} object(s); erase one of at least two")
    full = render_scene(spec)
    rest = render_scene(dataclasses.replace(
        spec, objects=spec.objects[:index] + spec.objects[index + 1:]))
    masks = full.masks.copy()
    masks[from_frame:] = np.insert(rest.masks[from_frame:], index, False, axis=1)
    frames = np.concatenate([full.frames[:from_frame], rest.frames[from_frame:]])
    return frames, masks


def exact_object_displacement(render: SceneRender) -> np.ndarray:
    """Mean |flow| over each object's visible pixels, per object and frame pair, px at the
    scene's size: float64 [L, T-1], NaN where the object is not visible at frame t."""
    magnitude = np.linalg.norm(render.flow.astype(np.float64), axis=-1)
    pairs, objects = len(magnitude), render.masks.shape[1]
    out = np.full((objects, pairs), np.nan)
    for k in range(objects):
        for t in range(pairs):
            visible = render.masks[t, k]
            if visible.any():
                out[k, t] = magnitude[t][visible].mean()
    return out
