"""The report's video gallery: one row per sample (input image, caption, split), then each run's
video with that run's per-sample metric values.

Pure part: `sample_values` and `gallery_rows` build the rows; `difference` and
`sort_by_difference` are the page's "largest per-sample difference between runs A and B" sort
(report.js does the same in the browser; tests hold the two to each other). I/O part:
`confined` resolves a file strictly inside its folder, `place_media` hard-links or copies it
into the report, and `collect_media` does both for every image and video a gallery shows.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ttm_bench.errors import TTMBenchError
from ttm_bench.hashing import file_sha256

if TYPE_CHECKING:
    import pandas as pd

    from ttm_bench.data.benchmark import Benchmark

#: Image formats a browser shows in <img>; other benchmark images are left out of the gallery.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


@dataclass(frozen=True)
class SampleEntry:
    """A gallery row's sample: id, split, caption (None without a benchmark) and the source
    file of its input image (None when unknown)."""

    sample_id: str
    split: str
    caption: str | None = None
    image: Path | None = None


@dataclass(frozen=True)
class GalleryCell:
    """One run's column in a row: its video (path relative to the report folder, None when the
    run has none for this sample) and its per-sample values (metric → finite value)."""

    video: str | None
    values: Mapping[str, float]


@dataclass(frozen=True)
class GalleryRow:
    sample_id: str
    split: str
    caption: str | None
    image: str | None  # relative to the report folder
    cells: tuple[GalleryCell, ...]  # one per run, in the report's run order


def sample_values(per_sample: pd.DataFrame) -> dict[str, dict[str, float]]:
    """sample id → metric → value, from a per-sample table; NaN and ±inf are left out."""
    values: dict[str, dict[str, float]] = {}
    for sid, metric, value in per_sample[["sample_id", "metric", "value"]].itertuples(
            index=False):
        if math.isfinite(value):
            values.setdefault(sid, {})[metric] = float(value)
    return values


def samples_from_tables(per_sample: Sequence[pd.DataFrame]) -> list[SampleEntry]:
    """The samples of runs evaluated without a benchmark: every id in first-seen order."""
    seen: dict[str, str] = {}
    for table in per_sample:
        for sid, split in table[["sample_id", "split"]].itertuples(index=False):
            seen.setdefault(sid, split)
    return [SampleEntry(sid, split) for sid, split in seen.items()]


def samples_from_benchmark(bench: Benchmark) -> list[SampleEntry]:
    """Every sample of the benchmark, in manifest order, with its caption and image file."""
    return [SampleEntry(s.id, s.split, s.caption, confined(bench.root, s.image))
            for s in bench.samples]


#: sample id → metric → value, for one run.
SampleValues = Mapping[str, Mapping[str, float]]


def gallery_rows(samples: Sequence[SampleEntry], values: Sequence[SampleValues],
                 images: Mapping[str, str],
                 videos: Sequence[Mapping[str, str]]) -> list[GalleryRow]:
    """One row per sample, in order; `values[k]` and `videos[k]` (sample id → relative path)
    are run k's; `images` maps sample id → relative path of its input image."""
    return [GalleryRow(s.sample_id, s.split, s.caption, images.get(s.sample_id),
                       tuple(GalleryCell(run_videos.get(s.sample_id),
                                         dict(run_values.get(s.sample_id, {})))
                             for run_values, run_videos in zip(values, videos, strict=True)))
            for s in samples]


def difference(row: GalleryRow, a: int, b: int, metric: str) -> float | None:
    """|value of run a − value of run b| of `metric` on this sample; None when either is missing."""
    va, vb = row.cells[a].values.get(metric), row.cells[b].values.get(metric)
    return None if va is None or vb is None else abs(va - vb)


def sort_by_difference(rows: Sequence[GalleryRow], a: int, b: int,
                       metric: str) -> list[GalleryRow]:
    """Rows by decreasing `difference`, rows without one last; ties keep their order."""
    def key(item: tuple[int, GalleryRow]) -> tuple[bool, float, int]:
        d = difference(item[1], a, b, metric)
        return d is None, -(d or 0.0), item[0]

    return [row for _, row in sorted(enumerate(rows), key=key)]


def confined(root: Path, relative: str | os.PathLike[str]) -> Path:
    """`root / relative`, resolved (symlinks followed); raise when it lies outside `root`."""
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise TTMBenchError(f"{relative!s} resolves to {path}, outside {base}; paths in a "
                            "benchmark or run must stay inside its folder: fix the entry")
    return path


def place_media(source: Path, destination: Path) -> None:
    """Put `source` at `destination`: a hard link when the filesystem allows, else a copy."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


@dataclass(frozen=True)
class VideoSource:
    """Where a run's videos are: `folder` holds `<sample_id>.mp4`. `sha256`: per finished
    sample, the hash its run sidecar records (None: a run generated before sidecars recorded
    it); a video whose file no longer has it is left out. `sha256` None: unverified (a plain
    folder of videos)."""

    folder: Path
    sha256: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class Media:
    """Where the gallery's files went: relative paths per sample, and what was left out."""

    images: dict[str, str]
    videos: list[dict[str, str]]  # one per run
    notes: list[str]


def collect_media(samples: Sequence[SampleEntry], video_sources: Sequence[VideoSource | None],
                  runs: Sequence[str], folder: Path, prefix: str) -> Media:
    """Hard-link or copy each sample's image and each run's `<sample_id>.mp4` (checked against
    its sidecar's sha256, see `VideoSource`) into `folder`; the returned paths start with
    `prefix` (the name under which `folder` will sit in the report). Files are named by row
    number, never by id. `video_sources[k]` None: run k has no videos to show."""
    images: dict[str, str] = {}
    unshown: list[str] = []
    for i, s in enumerate(samples):
        if s.image is None:
            continue
        suffix = s.image.suffix.lower()
        if suffix in IMAGE_SUFFIXES and s.image.is_file():
            name = f"images/{i:05d}{suffix}"
            place_media(s.image, folder / name)
            images[s.sample_id] = f"{prefix}/{name}"
        else:
            unshown.append(s.sample_id)
    notes = [f"{len(unshown)} input image(s) missing or not {'/'.join(IMAGE_SUFFIXES)}, e.g. "
             f"of sample {unshown[0]!r}; check the benchmark with `ttm-bench bench validate`"
             ] if unshown else []
    videos: list[dict[str, str]] = []
    for k, (run, source) in enumerate(zip(runs, video_sources, strict=True)):
        found: dict[str, str] = {}
        changed: list[str] = []
        if source is not None and not source.folder.is_dir():
            notes.append(f"run {run!r}: video folder {source.folder} does not exist, so the "
                         f"gallery shows its values without videos; pass --videos {run}=DIR")
        elif source is not None:
            for i, s in enumerate(samples):
                video = confined(source.folder, f"{s.sample_id}.mp4")
                if not video.is_file() or (source.sha256 is not None
                                           and s.sample_id not in source.sha256):
                    continue  # not generated, or not finished
                expected = source.sha256.get(s.sample_id) if source.sha256 else None
                if expected is not None and file_sha256(video) != expected:
                    changed.append(s.sample_id)
                    continue
                name = f"run-{k}/{i:05d}.mp4"
                place_media(video, folder / name)
                found[s.sample_id] = f"{prefix}/{name}"
        if changed:
            notes.append(f"run {run!r}: {len(changed)} video(s) changed after they were "
                         f"generated (e.g. of sample {changed[0]!r}) and are left out; "
                         "regenerate and re-evaluate those samples")
        videos.append(found)
    return Media(images, videos, notes)
