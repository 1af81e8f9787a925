"""Typed records of the benchmark contract and their JSON (de)serialisation.

A benchmark directory holds `benchmark.json` (a `BenchmarkInfo`), `manifest.jsonl` (one `Sample`
per line) and the assets the samples name. Parsing checks every field and reports all problems
at once as `Problem`s naming the file, the line, the field and the fix.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ttm_bench.data.asset_paths import PATH_FIX, path_problem
from ttm_bench.data.content_hash import HASH_SCHEME, LEGACY_SCHEME
from ttm_bench.errors import Problem
from ttm_bench.fields import INTEGER, LIST, NUMBER, OBJECT, STRING, FieldReader

#: The pseudo-split that aggregates every sample of a benchmark (or a folder of videos).
ALL_SPLIT = "all"

SAMPLE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RLE:
    """A COCO run-length-encoded binary mask (column-major, compressed `counts` string)."""

    size: tuple[int, int]  # (height, width)
    counts: str

    def to_dict(self) -> dict[str, Any]:
        return {"size": list(self.size), "counts": self.counts}


@dataclass(frozen=True)
class ObjectSpec:
    """One motion-capable object: its label, local prompt c_local and first-frame mask s(0)."""

    id: int
    label: str
    local_prompt: str
    mask: RLE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "local_prompt": self.local_prompt,
            "mask": self.mask.to_dict(),
        }


@dataclass(frozen=True)
class Sample:
    """One benchmark item. Paths are relative to the benchmark directory.

    `image` is the first frame x(0) (PNG); `video` the optional ground-truth clip (mp4);
    `caption` is c, `motion_prompt` c_motion; `meta` holds builder-specific extras (for the
    synthetic benchmark, the exact ground-truth motion).
    """

    id: str
    image: str
    caption: str
    split: str
    objects: tuple[ObjectSpec, ...] = ()
    motion_prompt: str | None = None
    video: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "image": self.image,
            "caption": self.caption,
            "motion_prompt": self.motion_prompt,
            "objects": [o.to_dict() for o in self.objects],
            "video": self.video,
            "split": self.split,
            "meta": self.meta,
        }


@dataclass(frozen=True)
class BenchmarkInfo:
    """`benchmark.json`: what every sample shares.

    `sha256` is the content hash of scheme `hash_scheme` (see `content_hash`): in scheme v2 it
    covers every other field, the manifest and the assets.
    """

    name: str
    version: str
    splits: tuple[str, ...]
    fps: float
    num_frames: int
    height: int
    width: int
    licence: str
    sha256: str = ""
    description: str = ""
    hash_scheme: str = HASH_SCHEME

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["splits"] = list(self.splits)
        return d

    @property
    def tag(self) -> str:
        """`name@version`, used in messages and results."""
        return f"{self.name}@{self.version}"


#: The fields of `benchmark.json`, in the order of `BenchmarkInfo`.
BENCHMARK_FIELDS = tuple(BenchmarkInfo.__dataclass_fields__)


def parse_rle(data: Any, reader: FieldReader, key: str) -> RLE | None:
    """The RLE mask `data` at field `key` of `reader`; None (and a problem) when invalid."""
    if not isinstance(data, dict):
        reader.problem(key, "mask must be a COCO RLE object",
                       'use {"size": [H, W], "counts": "..."}')
        return None
    size, counts = data.get("size"), data.get("counts")
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(s, int) and s > 0 for s in size)):
        reader.problem(f"{key}.size", f"invalid size {size!r}", "give [height, width] in pixels")
        return None
    if not isinstance(counts, str):
        reader.problem(f"{key}.counts", "counts must be a compressed RLE string",
                       "encode masks with ttm_bench.data.masks.encode_rle")
        return None
    return RLE((size[0], size[1]), counts)


def parse_sample(data: Any, file: str, line: int | None, problems: list[Problem]) -> Sample | None:
    """Parse one manifest line; append problems and return None when it is not a valid Sample."""
    if not isinstance(data, dict):
        problems.append(Problem(file, "a manifest line must be a JSON object", "write one Sample "
                                "object per line", line))
        return None
    n_before = len(problems)
    r = FieldReader(data, file, problems, line=line)
    sample_id = r.get("id", STRING)
    if sample_id is not None and not SAMPLE_ID_PATTERN.match(sample_id):
        r.problem("id", f"invalid sample id {sample_id!r}",
                  "use 1-128 characters from letters, digits, '.', '_' and '-' (it names files)")
    image = r.get("image", STRING)
    caption = r.get("caption", STRING)
    split = r.get("split", STRING)
    motion_prompt = r.get("motion_prompt", STRING, None)
    video = r.get("video", STRING, None)
    for key, path in (("image", image), ("video", video)):
        if path is not None and (reason := path_problem(path)) is not None:
            r.problem(key, f"path {reason}", PATH_FIX)
    meta = r.get("meta", OBJECT, {})
    objects: list[ObjectSpec] = []
    for i, obj in enumerate(r.get("objects", LIST, [])):
        if not isinstance(obj, dict):
            r.problem(f"objects[{i}]", "object must be a JSON object", "see the README's format")
            continue
        o = r.nested(obj, f"objects[{i}]")
        oid = o.get("id", INTEGER)
        label = o.get("label", STRING)
        local = o.get("local_prompt", STRING)
        mask = parse_rle(obj.get("mask"), o, "mask")
        if None not in (oid, label, local, mask):
            objects.append(ObjectSpec(oid, label, local, mask))
    ids = [o.id for o in objects]
    if len(set(ids)) != len(ids):
        r.problem("objects", f"duplicate object ids {ids}", "give each object a distinct id")
    if len(problems) > n_before:
        return None
    return Sample(sample_id, image, caption, split, tuple(objects), motion_prompt, video, meta)


def parse_benchmark_info(data: Any, file: str, problems: list[Problem]) -> BenchmarkInfo | None:
    """Parse `benchmark.json`; append problems and return None when it is invalid."""
    if not isinstance(data, dict):
        problems.append(Problem(file, "must be a JSON object", "see the README's format"))
        return None
    n_before = len(problems)
    r = FieldReader(data, file, problems)
    for key in sorted(set(data) - set(BENCHMARK_FIELDS)):
        r.problem(key, "unknown field", f"remove it (fields: {', '.join(BENCHMARK_FIELDS)})")
    values = {
        "name": r.get("name", STRING),
        "version": r.get("version", STRING),
        "splits": r.get("splits", LIST),
        "fps": r.get("fps", NUMBER),
        "num_frames": r.get("num_frames", INTEGER),
        "height": r.get("height", INTEGER),
        "width": r.get("width", INTEGER),
        "licence": r.get("licence", STRING),
        "sha256": r.get("sha256", STRING, ""),
        "description": r.get("description", STRING, ""),
        "hash_scheme": r.get("hash_scheme", STRING, LEGACY_SCHEME),
    }
    if values["hash_scheme"] not in (LEGACY_SCHEME, HASH_SCHEME):
        r.problem("hash_scheme", f"unknown hash scheme {values['hash_scheme']!r} (this version "
                  f"knows {LEGACY_SCHEME} and {HASH_SCHEME})", "upgrade ttm-bench, or rebuild "
                  "the benchmark with this version")
    if values["sha256"] and not SHA256_PATTERN.match(values["sha256"]):
        r.problem("sha256", f"{values['sha256']!r} is not a hex sha256",
                  "rewrite it with `ttm-bench bench rehash DIR`")
    for key in ("fps", "num_frames", "height", "width"):
        if values[key] is not None and values[key] <= 0:
            r.problem(key, f"must be positive, got {values[key]}", f"set a positive {key}")
    if values["splits"] is not None and (
        not values["splits"] or not all(isinstance(s, str) for s in values["splits"])
    ):
        r.problem("splits", "must be a non-empty list of strings", 'e.g. ["single", "multi"]')
    elif values["splits"] is not None:
        if ALL_SPLIT in values["splits"]:
            r.problem("splits", f"the split name {ALL_SPLIT!r} is reserved (results aggregate "
                      "every sample under it)", "rename the split, in the manifest too")
        if len(set(values["splits"])) != len(values["splits"]):
            r.problem("splits", f"duplicate split names {values['splits']}",
                      "list each split once")
    if len(problems) > n_before:
        return None
    values["splits"] = tuple(values["splits"])
    values["fps"] = float(values["fps"])
    return BenchmarkInfo(**values)
