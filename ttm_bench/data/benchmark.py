"""Benchmark directories: load, write, validate and hash.

Layout: `benchmark.json` (`BenchmarkInfo`), `manifest.jsonl` (one `Sample` per line) and the
assets that samples name by relative path. The content sha256 covers every file except
`benchmark.json` (paths and bytes), so any change to a benchmark changes its hash; results
record it and refuse to mix benchmarks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ttm_bench.atomic import write_json, write_text
from ttm_bench.data.sample import BenchmarkInfo, Sample, parse_benchmark_info, parse_sample
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.hashing import update_from_file

INFO_FILE = "benchmark.json"
MANIFEST_FILE = "manifest.jsonl"


def _read_json_file(path: Path, problems: list[Problem]) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(str(path), "file not found", "point to a benchmark directory "
                                "(build one with `ttm-bench bench build synthetic --out DIR`)"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), f"not valid JSON ({exc})", "rewrite it as JSON"))
    return None


def _read_manifest(path: Path, problems: list[Problem]) -> list[Sample]:
    if not path.is_file():
        problems.append(Problem(str(path), "file not found",
                                "write one Sample JSON object per line (see the README)"))
        return []
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), f"not valid JSON ({exc.msg})",
                                    "fix the line so it is one JSON object", line_no))
            continue
        sample = parse_sample(data, str(path), line_no, problems)
        if sample is None:
            continue
        if sample.id in seen:
            problems.append(Problem(str(path), f"duplicate sample id {sample.id!r} (first on line "
                                    f"{seen[sample.id]})", "give every sample a unique id",
                                    line_no, "id"))
            continue
        seen[sample.id] = line_no
        samples.append(sample)
    if not samples and not problems:
        problems.append(Problem(str(path), "manifest has no samples", "add at least one sample"))
    return samples


def content_files(root: str | Path) -> list[str]:
    """Relative paths of every file the hash covers: all files except `benchmark.json`
    and hidden files (temporaries of interrupted writes), sorted."""
    root = Path(root)
    files = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and rel.as_posix() != INFO_FILE and not any(
            part.startswith(".") for part in rel.parts
        ):
            files.append(rel.as_posix())
    return sorted(files)


def content_sha256(root: str | Path) -> str:
    """sha256 over every content file (relative path and bytes, in sorted order).

    Covers the manifest and every asset, including builder extras such as masklets, so any
    change to a benchmark changes its hash.
    """
    root = Path(root)
    digest = hashlib.sha256()
    for rel in content_files(root):
        digest.update(b"\0" + rel.encode() + b"\0")
        update_from_file(digest, root / rel)
    return digest.hexdigest()


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark directory. Assets load on demand."""

    root: Path
    info: BenchmarkInfo
    samples: tuple[Sample, ...]

    @classmethod
    def load(cls, root: str | Path) -> Benchmark:
        """Parse `benchmark.json` and `manifest.jsonl`; raise `ValidationError` on any problem.

        Asset contents are not checked here (see `validate_benchmark`) to keep loading fast.
        """
        root = Path(root)
        if not root.is_dir():
            raise TTMBenchError(f"benchmark directory {root} does not exist; build one with "
                                "`ttm-bench bench build synthetic --out DIR`")
        problems: list[Problem] = []
        info_data = _read_json_file(root / INFO_FILE, problems)
        info = None
        if info_data is not None:
            info = parse_benchmark_info(info_data, str(root / INFO_FILE), problems)
        samples = _read_manifest(root / MANIFEST_FILE, problems)
        if info is not None:
            for s in samples:
                if s.split not in info.splits:
                    problems.append(Problem(str(root / MANIFEST_FILE), f"sample {s.id!r} has split "
                                            f"{s.split!r}, not one of {list(info.splits)}",
                                            f"use one of {list(info.splits)} or add the split to "
                                            f"{INFO_FILE}", None, "split"))
        if problems or info is None:
            raise ValidationError(problems)
        return cls(root, info, tuple(samples))

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    @cached_property
    def _by_id(self) -> dict[str, Sample]:
        return {s.id: s for s in self.samples}

    def sample(self, sample_id: str) -> Sample:
        try:
            return self._by_id[sample_id]
        except KeyError:
            raise TTMBenchError(f"benchmark {self.info.tag} has no sample {sample_id!r}") from None

    def split_of(self) -> dict[str, str]:
        """sample id → split."""
        return {s.id: s.split for s in self.samples}

    def image(self, sample: Sample) -> np.ndarray:
        """The first frame x(0): uint8 [H, W, 3]."""
        path = self.root / sample.image
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise TTMBenchError(f"cannot read image {path}: {exc}; re-export it as PNG") from exc

    def video(self, sample: Sample) -> np.ndarray:
        """The ground-truth clip: uint8 [T, H, W, 3]."""
        from ttm_bench.video import read_video

        if sample.video is None:
            raise TTMBenchError(f"sample {sample.id!r} of {self.info.tag} has no ground-truth "
                                "video; use metrics that need no reference")
        return read_video(self.root / sample.video)

    def masks(self, sample: Sample) -> np.ndarray:
        """First-frame object masks s(0): bool [L, H, W] (L = number of objects, may be 0)."""
        from ttm_bench.data.masks import decode_rle

        if not sample.objects:
            return np.zeros((0, self.info.height, self.info.width), dtype=bool)
        return np.stack([decode_rle(o.mask) for o in sample.objects])


    def masklets(self, sample: Sample) -> np.ndarray | None:
        """Per-frame masks of the sample's objects: bool [T, L, H, W], or None when it has none.

        Read from the JSON file named by `meta["masklets"]` (relative to the benchmark):
        `{"objects": [object ids, in the order of `sample.objects`], "frames": [[RLE of each
        object] for each frame]}`, as the synthetic builder writes it.
        """
        from ttm_bench.data.masks import decode_rle
        from ttm_bench.data.sample import parse_rle
        from ttm_bench.fields import FieldReader

        name = sample.meta.get("masklets")
        if name is None:
            return None
        path = self.root / str(name)
        where = f"{self.root / MANIFEST_FILE}: sample {sample.id!r}, meta.masklets"
        if not path.resolve().is_relative_to(self.root.resolve()) or not path.is_file():
            raise TTMBenchError(f"{where}: {name!r} is not a file inside {self.root}; fix the "
                                "path or remove the field")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TTMBenchError(f"{path}: unreadable masklets ({exc}); rebuild the "
                                "benchmark") from None
        ids = [o.id for o in sample.objects]
        frames = data.get("frames") if isinstance(data, dict) else None
        if (not isinstance(data, dict) or data.get("objects") != ids
                or not isinstance(frames, list)
                or not all(isinstance(f, list) and len(f) == len(ids) for f in frames)):
            raise TTMBenchError(f"{path}: masklets must be {{\"objects\": {ids}, \"frames\": "
                                f"[[one RLE per object] per frame]}}; rebuild the benchmark")
        problems: list[Problem] = []
        reader = FieldReader(data, str(path), problems)
        masks = [[parse_rle(rle, reader, f"frames[{t}][{k}]") for k, rle in enumerate(frame)]
                 for t, frame in enumerate(frames)]
        if problems:
            raise ValidationError(problems)
        expected = (self.info.height, self.info.width)
        sizes = {tuple(m.size) for frame in masks for m in frame if m is not None}
        if sizes - {expected}:
            raise TTMBenchError(f"{path}: masklets of size {sorted(sizes - {expected})}, the "
                                f"benchmark is {list(expected)}; encode them at its size")
        try:
            decoded = [[decode_rle(m) for m in frame] for frame in masks]
        except TTMBenchError as exc:
            raise TTMBenchError(f"{path}: {exc}") from None
        return np.array(decoded, dtype=bool).reshape(len(frames), len(ids), *expected)


def write_benchmark(root: str | Path, info: BenchmarkInfo, samples: Iterable[Sample]) -> Benchmark:
    """Write `manifest.jsonl` and `benchmark.json` (with the content sha256) into `root`.

    Assets must already be in place under `root`. Returns the loaded benchmark.
    """
    root = Path(root)
    samples = tuple(samples)
    manifest = "".join(json.dumps(s.to_dict(), sort_keys=True, ensure_ascii=False) + "\n"
                       for s in samples)
    write_text(root / MANIFEST_FILE, manifest)
    info = replace(info, sha256=content_sha256(root))
    write_json(root / INFO_FILE, info.to_dict())
    return Benchmark(root, info, samples)


def validate_benchmark(root: str | Path, *, check_videos: bool = True) -> list[Problem]:
    """Every problem with a benchmark directory: contract, assets, sizes, frame counts, hash."""
    root = Path(root)
    try:
        bench = Benchmark.load(root)
    except ValidationError as exc:
        return exc.problems
    problems: list[Problem] = []
    info = bench.info
    manifest = str(root / MANIFEST_FILE)
    expected_hw = (info.height, info.width)
    for line_no, s in enumerate(bench.samples, start=1):
        problems.extend(_validate_sample_assets(bench, s, manifest, line_no, expected_hw,
                                                check_videos))
    if not problems and info.sha256:
        actual = content_sha256(root)
        if actual != info.sha256:
            problems.append(Problem(str(root / INFO_FILE), f"sha256 {info.sha256[:12]}… does not "
                                    f"match the content ({actual[:12]}…)", "the manifest or an "
                                    "asset changed: rebuild the benchmark, or bump its version "
                                    "and rewrite the hash with `write_benchmark`", None, "sha256"))
    return problems


def _validate_sample_assets(bench: Benchmark, s: Sample, manifest: str, line_no: int,
                            expected_hw: tuple[int, int], check_videos: bool) -> list[Problem]:
    from ttm_bench.data.masks import decode_rle
    from ttm_bench.video import VideoDecodeError, probe_video

    problems: list[Problem] = []

    def add(field: str, message: str, fix: str) -> None:
        problems.append(Problem(manifest, f"sample {s.id!r}: {message}", fix, line_no, field))

    image_path = bench.root / s.image
    if not image_path.is_file():
        add("image", f"image {s.image} not found", "add the file or fix the path")
    else:
        try:
            with Image.open(image_path) as im:
                hw = (im.height, im.width)
        except OSError as exc:
            add("image", f"image {s.image} unreadable ({exc})", "re-export it as PNG")
        else:
            if hw != expected_hw:
                add("image", f"image is {hw[0]}x{hw[1]}, benchmark is "
                    f"{expected_hw[0]}x{expected_hw[1]}", "resize it or fix benchmark.json")
    for i, obj in enumerate(s.objects):
        if tuple(obj.mask.size) != expected_hw:
            add(f"objects[{i}].mask.size", f"mask is {obj.mask.size}, images are "
                f"{list(expected_hw)}", "encode the mask at the benchmark's resolution")
            continue
        try:
            if not decode_rle(obj.mask).any():
                add(f"objects[{i}].mask", "mask is empty", "drop the object or fix its mask")
        except TTMBenchError as exc:
            add(f"objects[{i}].mask", f"corrupt RLE ({exc})", "re-encode the mask")
    if s.video and check_videos:
        video_path = bench.root / s.video
        if not video_path.is_file():
            add("video", f"video {s.video} not found", "add the file or fix the path")
        else:
            try:
                vi = probe_video(video_path)
            except VideoDecodeError as exc:
                add("video", exc.description, "re-encode the clip as H.264 mp4")
            else:
                if (vi.height, vi.width) != expected_hw:
                    add("video", f"video is {vi.height}x{vi.width}, benchmark is "
                        f"{expected_hw[0]}x{expected_hw[1]}", "resize the clip")
                if vi.num_frames < bench.info.num_frames:
                    add("video", f"video has {vi.num_frames} frames, benchmark needs "
                        f"{bench.info.num_frames}", "use a longer clip or lower num_frames")
    return problems
