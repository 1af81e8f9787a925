"""Per-frame object masks as JSON: a benchmark's masklets and a run's trajectories.

One format for both (`Benchmark.masklets` reads a benchmark's, the runner writes a model's
stage-1 trajectory in it): `{"objects": [object ids, in the order of the sample's objects],
"frames": [[COCO RLE of each object] for each frame]}`, every RLE at the benchmark's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ttm_bench.data.masks import decode_rle, encode_rle
from ttm_bench.data.sample import parse_rle
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.fields import FieldReader


def masklets_to_json(masks: np.ndarray, object_ids: Sequence[int]) -> dict[str, Any]:
    """The JSON object of `masks` (bool [T, L, H, W]) for objects `object_ids` (L of them)."""
    if masks.ndim != 4 or masks.dtype != np.bool_ or masks.shape[1] != len(object_ids):
        raise TTMBenchError(f"masklets must be bool [T, L, H, W] with L = {len(object_ids)} "
                            f"objects, got {masks.dtype} {list(masks.shape)}")
    return {"objects": list(object_ids),
            "frames": [[encode_rle(m).to_dict() for m in frame] for frame in masks]}


def parse_masklets(data: Any, file: str, object_ids: Sequence[int], size: tuple[int, int],
                   fix: str, num_frames: int | None = None) -> np.ndarray:
    """bool [T, L, H, W] from the parsed JSON `data` of `file`.

    object_ids: the sample's objects, which `objects` must list in order; size: (H, W) of every
    mask; num_frames: T when it is fixed (None: any). Raises `ValidationError` whose problems
    name `file`, the field and `fix`.
    """
    ids = list(object_ids)
    problems: list[Problem] = []
    reader = FieldReader(data if isinstance(data, dict) else {}, file, problems, fix=fix)
    frames = data.get("frames") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("objects") != ids or not isinstance(frames, list)
            or not all(isinstance(f, list) and len(f) == len(ids) for f in frames)):
        reader.problem("", f"must hold {{\"objects\": {ids}, \"frames\": [[one RLE per object] "
                           "per frame]}")
        raise ValidationError(problems)
    if num_frames is not None and len(frames) != num_frames:
        reader.problem("frames", f"has {len(frames)} frames, the benchmark's clips {num_frames}")
    rles = [[parse_rle(rle, reader, f"frames[{t}][{k}]") for k, rle in enumerate(frame)]
            for t, frame in enumerate(frames)]
    sizes = {tuple(m.size) for frame in rles for m in frame if m is not None}
    if sizes - {size}:
        reader.problem("frames", f"masks of size {sorted(sizes - {size})}, the benchmark is "
                                 f"{list(size)}")
    if problems:
        raise ValidationError(problems)
    decoded = np.zeros((len(frames), len(ids), *size), dtype=bool)
    for t, frame in enumerate(rles):
        for k, rle in enumerate(frame):
            try:
                decoded[t, k] = decode_rle(rle)
            except TTMBenchError as exc:
                reader.problem(f"frames[{t}][{k}]", str(exc).split("; ")[0])
    if problems:
        raise ValidationError(problems)
    return decoded
