"""`ttm-bench bench import`: a folder of clips plus a table, brought into the benchmark contract.

The table (`.csv` with a header row, `.json` list of objects, or `.jsonl`) has one row per
sample:

| column          | required | meaning                                                        |
|-----------------|----------|----------------------------------------------------------------|
| `id`            | yes      | sample id: 1-128 of letters, digits, `.`, `_`, `-`              |
| `caption`       | yes      | the caption c                                                  |
| `split`         | yes      | split name (e.g. `single` / `multi`; `all` is reserved)        |
| `video`         | no       | clip path relative to the clips folder (default `<id>.mp4`)    |
| `image`         | no       | first-frame image relative to the folder (default: clip frame 0)|
| `motion_prompt` | no       | c_motion                                                       |
| `masks`         | no       | s(0): a PNG label map (0 = background, value k = object k) or a |
|                 |          | JSON list of objects `{id, label, local_prompt, mask: COCO RLE}`|
|                 |          | at the clip's resolution                                       |
| anything else   | no       | kept in the sample's `meta`                                    |

Clips are cut to `num_frames` from the start (default: the shortest clip), resampled to `fps`
(default: the clips' common rate) and centre-cropped/resized to `size` (default: the clips'
common size). Every problem in the table or the files is reported at once, before anything
is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ttm_bench.data.benchmark import Benchmark, write_benchmark
from ttm_bench.data.clips import (
    fit_mask,
    fit_video,
    frames_needed,
    indices_at_fps,
    write_clip,
    write_png,
)
from ttm_bench.data.masks import decode_rle, encode_rle
from ttm_bench.data.sample import (
    ALL_SPLIT,
    SAMPLE_ID_PATTERN,
    BenchmarkInfo,
    ObjectSpec,
    Sample,
    parse_sample,
)
from ttm_bench.data.staging import check_output_free, staged_directory
from ttm_bench.data.tables import Row, read_table
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.video import VideoDecodeError, VideoInfo, probe_video, read_video

ObjectMask = tuple[int, str, str, np.ndarray]  # id, label, local prompt, bool [H, W] mask
REQUIRED_COLUMNS = ("id", "caption", "split")
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, "video", "image", "motion_prompt", "masks")


@dataclass(frozen=True)
class ImportConfig:
    """`size` is (height, width); None values are taken from the clips (see module doc)."""

    clips: Path
    table: Path
    out: Path
    name: str
    version: str = "1"
    licence: str = "unknown"
    description: str = ""
    num_frames: int | None = None
    fps: float | None = None
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class ImportRow:
    """A checked table row with its probed clip."""

    row: Row
    video: str
    info: VideoInfo


def check_rows(config: ImportConfig) -> tuple[list[ImportRow], list[Problem]]:
    """Read the table, check every row and its clip; return the good rows and all problems."""
    rows, problems = read_table(config.table)
    table = str(config.table)
    seen: set[str] = set()
    checked: list[ImportRow] = []
    for row in rows:
        missing = [c for c in REQUIRED_COLUMNS if not str(row.values.get(c) or "").strip()]
        if missing:
            problems.append(Problem(table, f"missing {', '.join(missing)}",
                                    "fill in the required columns id, caption and split",
                                    row.line))
            continue
        sample_id = str(row.values["id"]).strip()
        if not SAMPLE_ID_PATTERN.match(sample_id):
            problems.append(Problem(table, f"invalid id {sample_id!r}", "use 1-128 letters, "
                                    "digits, '.', '_' or '-'", row.line, "id"))
            continue
        if str(row.values["split"]).strip() == ALL_SPLIT:
            problems.append(Problem(table, f"split {ALL_SPLIT!r} is reserved (it aggregates every "
                                    "split in results)", "name the split differently",
                                    row.line, "split"))
            continue
        if sample_id in seen:
            problems.append(Problem(table, f"duplicate id {sample_id!r}", "give every row a "
                                    "distinct id", row.line, "id"))
            continue
        seen.add(sample_id)
        video = str(row.values.get("video") or f"{sample_id}.mp4")
        try:
            info = probe_video(config.clips / video)
        except VideoDecodeError as exc:
            problems.append(Problem(str(config.clips / video),
                                    f"clip for id {sample_id!r}: {exc.description}",
                                    "put the clip there or fix the 'video' column", row.line))
            continue
        image = row.values.get("image")
        if image and not (config.clips / str(image)).is_file():
            problems.append(Problem(str(config.clips / str(image)), f"first-frame image for id "
                                    f"{sample_id!r} not found", "put the image there or fix the "
                                    "'image' column", row.line, "image"))
            continue
        checked.append(ImportRow(row, video, info))
    return checked, problems


def resolve_format(config: ImportConfig, rows: list[ImportRow]
                   ) -> tuple[tuple[int, float, tuple[int, int]], list[Problem]]:
    """(num_frames, fps, size) from the config or, where unset, from the clips."""
    problems: list[Problem] = []
    fps = config.fps
    if fps is None:
        rates = sorted({round(r.info.fps, 3) for r in rows})
        if len(rates) > 1:
            problems.append(Problem(str(config.clips), f"clips have different frame rates "
                                    f"{rates}", "pass --fps to resample them to one rate"))
        fps = rows[0].info.fps
    size = config.size
    if size is None:
        sizes = sorted({(r.info.height, r.info.width) for r in rows})
        if len(sizes) > 1:
            problems.append(Problem(str(config.clips), f"clips have different sizes {sizes}",
                                    "pass --size HxW to crop and resize them to one size"))
        size = sizes[0]
    num_frames = config.num_frames or min(
        _frames_available(r.info, fps) for r in rows)
    for r in rows:
        if frames_needed(num_frames, r.info.fps, fps) > r.info.num_frames:
            problems.append(Problem(str(config.clips / r.video), f"the clip has "
                                    f"{r.info.num_frames} frames at {r.info.fps:g} fps, too "
                                    f"few for {num_frames} frames at {fps:g} fps",
                                    "lower --num-frames or remove the row", r.row.line))
    return (num_frames, fps, size), problems


def _frames_available(info: VideoInfo, fps: float) -> int:
    """How many output frames at `fps` a clip can give."""
    return max(1, int((info.num_frames - 1) * fps / info.fps + 1e-9) + 1)


def read_objects(path: Path, line: int, frame_size: tuple[int, int]
                 ) -> tuple[list[ObjectMask], list[Problem]]:
    """(id, label, local_prompt, bool [H, W] mask) per object of a PNG label map or JSON file."""
    file = str(path)
    if not path.is_file():
        return [], [Problem(file, "mask file not found", "fix the 'masks' column", line)]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return [], [Problem(file, f"cannot read mask JSON: {exc}", "write a JSON list of "
                                "objects {id, label, local_prompt, mask}", line)]
        # validate the objects with the manifest's own parser (a sample around them)
        problems: list[Problem] = []
        sample = parse_sample({"id": "x", "image": "x", "caption": "x", "split": "x",
                               "objects": data}, file, line, problems)
        if sample is None:
            return [], problems
        objects = []
        for obj in sample.objects:
            try:
                mask = decode_rle(obj.mask)
            except TTMBenchError as exc:
                return [], [Problem(file, f"object {obj.id}: {exc}", "re-encode the mask as "
                                    "COCO RLE", line)]
            objects.append((obj.id, obj.label, obj.local_prompt, mask))
    else:
        try:
            labels = np.asarray(Image.open(path))
        except (OSError, UnidentifiedImageError) as exc:
            return [], [Problem(file, f"cannot read mask image: {exc}", "give a PNG label map "
                                "(0 = background, k = object k)", line)]
        if labels.ndim != 2:
            return [], [Problem(file, f"mask image has shape {labels.shape}", "save a "
                                "single-channel (grayscale or palette) label map", line)]
        objects = [(int(k), f"object {k}", "", labels == k) for k in np.unique(labels) if k]
    wrong = [o[0] for o in objects if o[3].shape != frame_size]
    if wrong:
        return [], [Problem(file, f"masks of objects {wrong} are not {frame_size[0]}x"
                            f"{frame_size[1]} like the clip", "give masks at the clip's "
                            "resolution", line)]
    return objects, []


def import_benchmark(config: ImportConfig) -> Benchmark:
    """Check everything, then write the benchmark directory; return the written benchmark."""
    check_output_free(config.out)
    rows, problems = check_rows(config)
    if not rows and not problems:
        problems.append(Problem(str(config.table), "the table has no rows", "add one row per "
                                "clip"))
    if problems:
        raise ValidationError(problems)
    (num_frames, fps, size), problems = resolve_format(config, rows)
    masks: dict[str, list[ObjectMask]] = {}
    for r in rows:
        if r.row.values.get("masks"):
            objects, found = read_objects(config.clips / str(r.row.values["masks"]), r.row.line,
                                          (r.info.height, r.info.width))
            masks[str(r.row.values["id"]).strip()] = objects
            problems += found
    if problems:
        raise ValidationError(problems)
    with staged_directory(config.out) as staging:
        samples = [_export_row(config, staging, r, num_frames, fps, size, masks)
                   for r in tqdm(rows, desc="import")]
        splits = tuple(dict.fromkeys(s.split for s in samples))
        info = BenchmarkInfo(config.name, config.version, splits, fps, num_frames, size[0],
                             size[1], config.licence, description=config.description)
        write_benchmark(staging, info, samples)
    return Benchmark.load(config.out)


def _export_row(config: ImportConfig, staging: Path, r: ImportRow, num_frames: int, fps: float,
                size: tuple[int, int], masks: dict[str, list[ObjectMask]]) -> Sample:
    values = r.row.values
    sample_id = str(values["id"]).strip()
    clip = read_video(config.clips / r.video, indices_at_fps(num_frames, r.info.fps, fps))
    video_rel, image_rel = write_clip(staging, sample_id, fit_video(clip, size), fps)
    if values.get("image"):
        image = np.asarray(Image.open(config.clips / str(values["image"])).convert("RGB"))
        write_png(staging / image_rel, fit_video(image[None], size)[0])
    objects = tuple(ObjectSpec(oid, label, local, encode_rle(fit_mask(mask, size)))
                    for oid, label, local, mask in masks.get(sample_id, []))
    meta = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS}
    meta["source_video"] = r.video
    motion = values.get("motion_prompt") or None
    return Sample(sample_id, image_rel, str(values["caption"]).strip(),
                  str(values["split"]).strip(), objects, motion, video_rel, meta)
