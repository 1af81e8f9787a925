"""Image-Animation-Bench, loaded from ConsistI2V's I2V-Bench release.

The paper evaluates on "Image-Animation-Bench": ~2,500 high-resolution, aesthetically filtered
videos in 16 categories, without a citation. The closest public set is I2V-Bench from
ConsistI2V (TIGER-AI-Lab/ConsistI2V; 2,951 YouTube videos in 16 categories), distributed as a
download linked from that repository's README. Its file layout is not documented in the
repository, so every detail the loader relies on is an option (defaults in brackets):

- `root`: the extracted download; videos are found by the table's video column, relative to
  `root`.
- `table`: the metadata table (`.json` list, `.jsonl` or `.csv`) [the only such file directly
  in `root`].
- columns: video path [first of `file`, `video`, `path`, `video_path`, `filename` — ConsistI2V's
  own data loader uses `file` and `text`], caption [`text`, `caption`, `prompt`], category
  [`category`, `class`; absent: the name of the folder holding the video], id [`id`,
  `video_id`; absent: the video's file stem].

Clips are cut to `num_frames` from the start at `fps` [16 frames at 8 fps, ConsistI2V's
evaluation setting] and centre-cropped/resized to `size` [256x256]. The split of a sample is
its category. The paper's human study used 128 random samples: they are drawn with
`numpy.random.default_rng(seed)` from the valid ids, marked `meta.human_study`, and
`subset="human-study"` builds a benchmark of those 128 only. Rows or videos that cannot be used
are excluded, each with the file and the fix, in `selection.json`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ttm_bench.atomic import write_json
from ttm_bench.data.benchmark import Benchmark, write_benchmark
from ttm_bench.data.clips import fit_video, frames_needed, indices_at_fps, write_clip
from ttm_bench.data.sample import BenchmarkInfo, Sample
from ttm_bench.data.sampling import seeded_draw
from ttm_bench.data.staging import check_output_free, staged_directory
from ttm_bench.data.tables import TABLE_SUFFIXES, pick_column, read_table
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.video import VideoDecodeError, VideoInfo, probe_video, read_video

NAME = "image-animation-bench"
VERSION = "1"
SUBSETS = ("all", "human-study")
VIDEO_COLUMNS = ("file", "video", "path", "video_path", "filename")
CAPTION_COLUMNS = ("text", "caption", "prompt")
CATEGORY_COLUMNS = ("category", "class")
ID_COLUMNS = ("id", "video_id")
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")
SELECTION_FILE = "selection.json"
UNREADABLE = "cannot read the video (missing, empty, not a video, or truncated)"
LICENCE = ("I2V-Bench (ConsistI2V, TIGER-AI-Lab): YouTube videos under their uploaders' terms; "
           "for research evaluation only")


@dataclass(frozen=True)
class AnimationBenchConfig:
    root: Path
    out: Path
    table: Path | None = None
    video_column: str | None = None
    caption_column: str | None = None
    category_column: str | None = None
    id_column: str | None = None
    num_frames: int = 16
    fps: float = 8.0
    size: tuple[int, int] = (256, 256)
    subset: str = "all"
    human_study_size: int = 128
    seed: int = 0


@dataclass(frozen=True)
class Entry:
    """A usable row: sample id, video path (relative to root), caption, category, probe."""

    id: str
    video: str
    caption: str
    category: str
    info: VideoInfo


def find_table(root: Path) -> Path:
    """The single metadata table directly in `root`."""
    tables = sorted(p for p in root.iterdir() if p.suffix.lower() in TABLE_SUFFIXES)
    if len(tables) != 1:
        found = ", ".join(p.name for p in tables) or "none"
        raise TTMBenchError(f"expected one metadata table (.json/.jsonl/.csv) in {root}, found "
                            f"{found}; pass --table")
    return tables[0]


def sample_id_for(text: str) -> str:
    """A valid sample id from a free-form id or file stem: other characters become `_`."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip("._-")[:128]
    return cleaned or "_"


def read_entries(config: AnimationBenchConfig) -> tuple[list[Entry], list[Problem],
                                                        dict[str, Any]]:
    """Usable entries sorted by id, problems with excluded rows/videos, the columns used."""
    table = config.table or find_table(config.root)
    rows, problems = read_table(table)
    columns = set().union(*(r.values for r in rows)) if rows else set()
    used = {
        "table": table.name,
        "video": pick_column(columns, config.video_column, VIDEO_COLUMNS),
        "caption": pick_column(columns, config.caption_column, CAPTION_COLUMNS),
        "category": pick_column(columns, config.category_column, CATEGORY_COLUMNS),
        "id": pick_column(columns, config.id_column, ID_COLUMNS),
    }
    for role in ("video", "caption", "category", "id"):
        required = role in ("video", "caption")
        if (used[role] is None and required) or (used[role] is not None
                                                 and used[role] not in columns):
            raise TTMBenchError(f"{table}: no {role} column {used[role] or ''} among "
                                f"{sorted(columns)}; pass --{role}-column")
    file = table.name  # problems name files relative to the root, so selection.json is portable
    entries: dict[str, Entry] = {}
    listed: set[Path] = set()
    for row in rows:
        video = str(row.values.get(used["video"]) or "").strip()
        caption = " ".join(str(row.values.get(used["caption"]) or "").split())
        if not video or not caption:
            problems.append(Problem(file, f"row without {'video' if not video else 'caption'}",
                                    "none: excluded; fill the column to include it", row.line))
            continue
        path = config.root / video
        listed.add(path.resolve())
        raw_id = str(row.values.get(used["id"]) or "") if used["id"] else Path(video).stem
        sample_id = sample_id_for(raw_id)
        category = (str(row.values.get(used["category"]) or "").strip() if used["category"]
                    else Path(video).parent.name) or "uncategorised"
        if sample_id in entries:
            problems.append(Problem(file, f"id {sample_id!r} appears twice", "none: the later "
                                    "row is excluded; make ids unique to keep both", row.line))
            continue
        try:
            info = probe_video(path)
        except VideoDecodeError:
            problems.append(Problem(video, UNREADABLE, "none: excluded; restore the file from "
                                    "the I2V-Bench download", row.line))
            continue
        if frames_needed(config.num_frames, info.fps, config.fps) > info.num_frames:
            problems.append(Problem(video, f"{info.num_frames} frames at {info.fps:g} fps "
                                    f"are too few for {config.num_frames} frames at "
                                    f"{config.fps:g} fps", "none: excluded; lower --num-frames "
                                    "or --fps to keep it", row.line))
            continue
        entries[sample_id] = Entry(sample_id, video, caption, category, info)
    for path in sorted(p for p in config.root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        if path.resolve() not in listed:
            problems.append(Problem(str(path.relative_to(config.root)),
                                    "video has no row in the metadata table",
                                    f"none: excluded; add a row to {table.name} to include it"))
    return [entries[k] for k in sorted(entries)], problems, used


def build_animation_bench(config: AnimationBenchConfig) -> Benchmark:
    """Write the benchmark directory (and `selection.json`); return the written benchmark."""
    if config.subset not in SUBSETS:
        raise TTMBenchError(f"unknown subset {config.subset!r}; use one of {', '.join(SUBSETS)}")
    check_output_free(config.out)
    entries, problems, used = read_entries(config)
    ids = [e.id for e in entries]
    if len(ids) < config.human_study_size:
        raise ValidationError([*problems, Problem(
            str(config.root), f"{len(ids)} usable videos, the human-study subset needs "
            f"{config.human_study_size}", "check the excluded videos above or lower "
            "--human-study-size")])
    study = set(seeded_draw(ids, config.human_study_size, np.random.default_rng(config.seed)))
    chosen = [e for e in entries if config.subset == "all" or e.id in study]
    with staged_directory(config.out) as staging:
        _write(staging, config, chosen, study, problems, used)
    return Benchmark.load(config.out)


def _write(staging: Path, config: AnimationBenchConfig, chosen: list[Entry], study: set[str],
           problems: list[Problem], used: dict[str, Any]) -> None:
    samples = []
    for entry in tqdm(chosen, desc="Image-Animation-Bench"):
        indices = indices_at_fps(config.num_frames, entry.info.fps, config.fps)
        clip = fit_video(read_video(config.root / entry.video, indices), config.size)
        video_rel, image_rel = write_clip(staging, entry.id, clip, config.fps)
        meta = {"category": entry.category, "human_study": entry.id in study,
                "source_video": entry.video}
        samples.append(Sample(entry.id, image_rel, entry.caption, entry.category, (), None,
                              video_rel, meta))
    settings = {k: v for k, v in asdict(config).items() if k not in ("root", "out", "table")}
    settings["size"] = list(config.size)
    write_json(staging / SELECTION_FILE, {
        "benchmark": f"{NAME}@{VERSION}", "settings": settings, "columns": used,
        "human_study": sorted(study), "excluded": [asdict(p) for p in problems],
        "samples": [s.id for s in samples]})
    splits = tuple(sorted({s.split for s in samples}))
    info = BenchmarkInfo(
        NAME if config.subset == "all" else f"{NAME}-human-study", VERSION, splits, config.fps,
        config.num_frames, config.size[0], config.size[1], LICENCE,
        description=f"I2V-Bench videos as Image-Animation-Bench ({config.subset}, seed "
                    f"{config.seed}); see {SELECTION_FILE}")
    write_benchmark(staging, info, samples)
