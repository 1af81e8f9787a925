"""The SA-V dataset on disk: pairing videos with manual masklet annotations.

Layout (facebookresearch/sam2, `sav_dataset/README.md`): the training set is a set of folders
(`sav_000/`, `sav_001/`, ...) holding `{video_id}.mp4` (24 fps) beside `{video_id}_manual.json`
and, for most videos, `{video_id}_auto.json`. An annotation file holds `video_id`,
`video_frame_count`, `video_height`, `video_width`, `masklet_id` (one id per object) and
`masklet`: a list over annotated frames (every 4th video frame, i.e. 6 fps) of lists over
objects of COCO RLEs `{"size": [H, W], "counts": str}`; an object not visible in a frame has an
empty mask there. Only manual masklets are used here: they are the human-verified ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ttm_bench.data.masks import decode_rle, mask_area
from ttm_bench.data.sample import RLE
from ttm_bench.errors import Problem, TTMBenchError

SAV_FPS = 24.0
ANNOTATION_STRIDE = 4  # manual masklets are annotated on every 4th frame (6 fps of 24 fps)
MANUAL_SUFFIX = "_manual.json"


@dataclass(frozen=True)
class SourcePair:
    """One SA-V video and its manual annotation file (paths relative to the SA-V root)."""

    video_id: str
    video: str
    annotation: str


@dataclass(frozen=True)
class FirstFrameObject:
    """A manual masklet visible in video frame 0: its id, mask and area in pixels."""

    masklet_id: int
    mask: RLE
    area: int


@dataclass(frozen=True)
class SavAnnotation:
    """What the builder needs from one manual annotation file."""

    video_id: str
    frame_count: int
    height: int
    width: int
    first_frame_objects: tuple[FirstFrameObject, ...]


def discover(root: Path) -> tuple[list[SourcePair], list[Problem]]:
    """Pair every `{id}.mp4` under `root` with its `{id}_manual.json`, sorted by id.

    Returns the pairs and a `Problem` for each video without annotation, annotation without
    video, or id found twice.
    """
    videos: dict[str, list[Path]] = {}
    annotations: dict[str, list[Path]] = {}
    for path in root.rglob("*.mp4"):
        videos.setdefault(path.stem, []).append(path)
    for path in root.rglob(f"*{MANUAL_SUFFIX}"):
        annotations.setdefault(path.name[: -len(MANUAL_SUFFIX)], []).append(path)
    problems: list[Problem] = []
    pairs: list[SourcePair] = []
    for video_id in sorted(set(videos) | set(annotations)):
        found_videos = sorted(videos.get(video_id, []))
        found_annotations = sorted(annotations.get(video_id, []))
        rel = [str(p.relative_to(root)) for p in found_videos + found_annotations]
        if len(found_videos) > 1 or len(found_annotations) > 1:
            problems.append(Problem(rel[0], f"video id {video_id!r} appears more than once: "
                                    f"{', '.join(rel)}", "keep one copy of each SA-V file"))
        elif not found_annotations:
            problems.append(Problem(rel[0], f"video {video_id!r} has no manual annotation "
                                    f"{video_id}{MANUAL_SUFFIX}",
                                    "extract the annotation files from the same SA-V archive "
                                    "beside the video, or remove the video"))
        elif not found_videos:
            problems.append(Problem(rel[0], f"annotation for missing video {video_id}.mp4",
                                    "extract the videos from the same SA-V archive beside the "
                                    "annotation, or remove the annotation"))
        else:
            pairs.append(SourcePair(video_id, rel[0], rel[1]))
    return pairs, problems


def parse_annotation(path: Path, file: str) -> tuple[SavAnnotation | None, list[Problem]]:
    """Read a `*_manual.json` file and the masklets visible in its first frame.

    Returns the annotation, or None with the problems (unreadable JSON, missing fields,
    corrupt RLE, no annotated first frame, no masklet visible in it).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [Problem(file, f"cannot read annotation JSON: {exc}",
                              "re-extract this file from the SA-V archive")]
    fields = _annotation_fields(data, file)
    if isinstance(fields, Problem):
        return None, [fields]
    video_id, frame_count, height, width, masklet_ids, frames = fields
    if not frames or not frames[0]:
        return None, [Problem(file, "no annotated first frame (masklet[0] is empty)",
                              "none: SA-V-128 needs s(0) masks on frame 0; the video is excluded")]
    if len(frames[0]) != len(masklet_ids):
        return None, [Problem(file, f"masklet[0] has {len(frames[0])} masks for "
                              f"{len(masklet_ids)} masklet ids", "re-extract this file")]
    objects: list[FirstFrameObject] = []
    for index, (masklet_id, rle_data) in enumerate(zip(masklet_ids, frames[0], strict=True)):
        rle = _read_rle(rle_data, (height, width))
        mask = None if rle is None else _decode_or_none(rle)
        if rle is None or mask is None:
            return None, [Problem(file, f"corrupt RLE for masklet {masklet_id} in frame 0",
                                  "re-extract this file from the SA-V archive",
                                  field=f"masklet[0][{index}]")]
        area = mask_area(mask)
        if area > 0:
            objects.append(FirstFrameObject(masklet_id, rle, area))
    if not objects:
        return None, [Problem(file, "no manual masklet is visible in the first frame",
                              "none: SA-V-128 needs s(0) masks on frame 0; the video is excluded")]
    return SavAnnotation(video_id, frame_count, height, width, tuple(objects)), []


def _annotation_fields(data: Any, file: str
                       ) -> tuple[str, int, int, int, list[int], list[Any]] | Problem:
    fix = "re-extract this file from the SA-V archive (see sav_dataset/README.md)"
    if not isinstance(data, dict):
        return Problem(file, "annotation must be a JSON object", fix)
    try:
        video_id = str(data["video_id"])
        frame_count = int(data["video_frame_count"])
        height, width = int(data["video_height"]), int(data["video_width"])
        masklet_ids = [int(i) for i in data["masklet_id"]]
        frames = data["masklet"]
    except (KeyError, TypeError, ValueError) as exc:
        return Problem(file, f"missing or malformed field {exc}", fix)
    if not isinstance(frames, list) or not all(isinstance(f, list) for f in frames):
        return Problem(file, "'masklet' must be a list (frames) of lists (objects) of RLEs", fix,
                       field="masklet")
    return video_id, frame_count, height, width, masklet_ids, frames


def _read_rle(data: Any, size: tuple[int, int]) -> RLE | None:
    if (not isinstance(data, dict) or not isinstance(data.get("counts"), str)
            or list(data.get("size", [])) != list(size)):
        return None
    return RLE(size, data["counts"])


def _decode_or_none(rle: RLE) -> np.ndarray | None:
    try:
        return decode_rle(rle)
    except TTMBenchError:
        return None
