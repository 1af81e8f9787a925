"""Benchmark directories: load and write.

Layout: `benchmark.json` (`BenchmarkInfo`), `manifest.jsonl` (one `Sample` per line) and the
assets that samples name by relative path. The content sha256 (`content_hash`) covers every
field of `benchmark.json` but the hash and every other file, so any change to a benchmark
changes its hash; results record it and refuse to mix benchmarks. `verification` checks the
hash when a benchmark is opened for work, `validation` checks everything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ttm_bench import strict_json
from ttm_bench.atomic import write_json, write_text
from ttm_bench.data.asset_paths import PATH_FIX, outside_reason
from ttm_bench.data.content_hash import HASH_SCHEME, INFO_FILE, MANIFEST_FILE, content_sha256
from ttm_bench.data.manifest import read_manifest
from ttm_bench.data.sample import BenchmarkInfo, Sample, parse_benchmark_info
from ttm_bench.errors import Problem, TTMBenchError, ValidationError

__all__ = ["INFO_FILE", "MANIFEST_FILE", "Benchmark", "SampleError", "read_info",
           "split_problem", "write_benchmark"]


class SampleError(TTMBenchError):
    """One sample of a benchmark cannot be used (bad mask, unreadable image): only that sample
    fails, the others are processed."""

    def __init__(self, sample_id: str, problem: Problem):
        self.sample_id, self.problem = sample_id, problem
        super().__init__(str(problem))


def read_info(root: Path, problems: list[Problem]) -> BenchmarkInfo | None:
    """Parse `root/benchmark.json`; append problems and return None when it is invalid."""
    path = root / INFO_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        problems.append(Problem(str(path), "file not found", "point to a benchmark directory "
                                "(build one with `ttm-bench bench build synthetic --out DIR`)"))
        return None
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                                "save it as UTF-8"))
        return None
    data = strict_json.loads(text, str(path), problems, fix="rewrite it as JSON")
    return None if data is None else parse_benchmark_info(data, str(path), problems)


def split_problem(info: BenchmarkInfo, sample: Sample, manifest: str,
                  line: int) -> Problem | None:
    """The problem of a sample whose split is not one of the benchmark's, or None."""
    if sample.split in info.splits:
        return None
    return Problem(manifest, f"sample {sample.id!r} has split {sample.split!r}, not one of "
                   f"{list(info.splits)}", f"use one of {list(info.splits)} or add the split "
                   f"to {INFO_FILE}", line, "split")


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark directory. Assets load on demand. `lines`: sample id → manifest line."""

    root: Path
    info: BenchmarkInfo
    samples: tuple[Sample, ...]
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, root: str | Path) -> Benchmark:
        """Parse `benchmark.json` and `manifest.jsonl`; raise `ValidationError` on any problem.

        Neither the content hash (see `verification.open_benchmark`) nor asset contents (see
        `validation.validate_benchmark`) are checked here, to keep loading fast.
        """
        root = Path(root)
        if not root.is_dir():
            raise TTMBenchError(f"benchmark directory {root} does not exist; build one with "
                                "`ttm-bench bench build synthetic --out DIR`")
        problems: list[Problem] = []
        info = read_info(root, problems)
        manifest = str(root / MANIFEST_FILE)
        samples, lines = [], {}
        for line, sample in read_manifest(root / MANIFEST_FILE, problems):
            if info is not None and (p := split_problem(info, sample, manifest, line)):
                problems.append(p)
            samples.append(sample)
            lines[sample.id] = line
        if problems or info is None:
            raise ValidationError(problems)
        return cls(root, info, tuple(samples), lines)

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

    def sample_error(self, sample: Sample, field_name: str, message: str, fix: str) -> SampleError:
        """A `SampleError` naming the manifest line and field of `sample`."""
        return SampleError(sample.id, Problem(str(self.root / MANIFEST_FILE),
                                              f"sample {sample.id!r}: {message}", fix,
                                              self.lines.get(sample.id), field_name))

    def asset_path(self, sample: Sample, field_name: str, rel: str) -> Path:
        """The file `rel` that field `field_name` of `sample` names, checked to lie inside."""
        reason = outside_reason(self.root, rel)
        if reason is not None:
            raise self.sample_error(sample, field_name, f"path {reason}", PATH_FIX)
        return self.root / rel

    def image(self, sample: Sample) -> np.ndarray:
        """The first frame x(0): uint8 [H, W, 3]."""
        path = self.asset_path(sample, "image", sample.image)
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            raise self.sample_error(sample, "image", f"cannot read image {path}: {exc}",
                                    "re-export it as PNG") from exc

    def video(self, sample: Sample) -> np.ndarray:
        """The ground-truth clip: uint8 [T, H, W, 3]."""
        from ttm_bench.video import read_video

        if sample.video is None:
            raise TTMBenchError(f"sample {sample.id!r} of {self.info.tag} has no ground-truth "
                                "video; use metrics that need no reference")
        return read_video(self.asset_path(sample, "video", sample.video))

    def masks(self, sample: Sample) -> np.ndarray:
        """First-frame object masks s(0): bool [L, H, W] (L = number of objects, may be 0).

        Raises `SampleError` (naming the manifest line and field) for a mask whose size is not
        the benchmark's or whose RLE is corrupt.
        """
        from ttm_bench.data.masks import decode_rle

        hw = (self.info.height, self.info.width)
        masks = []
        for i, obj in enumerate(sample.objects):
            if tuple(obj.mask.size) != hw:
                raise self.sample_error(sample, f"objects[{i}].mask.size", f"mask is "
                                        f"{obj.mask.size[0]}x{obj.mask.size[1]}, the benchmark "
                                        f"is {hw[0]}x{hw[1]}", "encode the mask at the "
                                        "benchmark's resolution")
            try:
                masks.append(decode_rle(obj.mask))
            except TTMBenchError as exc:
                raise self.sample_error(sample, f"objects[{i}].mask", str(exc).split("; ")[0],
                                        "re-encode the mask") from None
        return np.stack(masks) if masks else np.zeros((0, *hw), dtype=bool)


    def masklets(self, sample: Sample) -> np.ndarray | None:
        """Per-frame masks of the sample's objects: bool [T, L, H, W], or None when it has none.

        Read from the JSON file named by `meta["masklets"]` (relative to the benchmark), in the
        format of `ttm_bench.data.masklets`, as the synthetic builder writes it. Raises
        `SampleError` (naming the manifest line, the field and the file) when it cannot be used.
        """
        from ttm_bench.data.masklets import parse_masklets

        name = sample.meta.get("masklets")
        if name is None:
            return None
        field_name, fix = "meta.masklets", "rebuild the benchmark or remove the field"
        path = self.asset_path(sample, field_name, str(name))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.sample_error(sample, field_name, f"unreadable masklets {name} ({exc})",
                                    fix) from None
        try:
            return parse_masklets(data, str(path), [o.id for o in sample.objects],
                                  (self.info.height, self.info.width), fix)
        except ValidationError as exc:
            detail = "; ".join(f"[{p.field}] {p.message}" if p.field else p.message
                               for p in exc.problems)
            raise self.sample_error(sample, field_name, f"invalid masklets {name}: {detail}",
                                    fix) from None


def write_benchmark(root: str | Path, info: BenchmarkInfo, samples: Iterable[Sample]) -> Benchmark:
    """Write `manifest.jsonl` and `benchmark.json` (with the content sha256) into `root`.

    `info` is checked as `benchmark.json` would be (reserved split names, finite numbers);
    assets must already be in place under `root`. Returns the loaded benchmark.
    """
    root = Path(root)
    info = replace(info, hash_scheme=HASH_SCHEME, sha256="")
    problems: list[Problem] = []
    parse_benchmark_info(info.to_dict(), str(root / INFO_FILE), problems)
    samples = tuple(samples)
    manifest = str(root / MANIFEST_FILE)
    for line, sample in enumerate(samples, start=1):
        problems += [Problem(manifest, "NaN or infinity is not a number JSON can hold",
                             "write a finite number", line, f)
                     for f in strict_json.non_finite_fields(sample.to_dict())]
    if problems:
        raise ValidationError(problems)
    write_text(root / MANIFEST_FILE, "".join(
        json.dumps(s.to_dict(), sort_keys=True, ensure_ascii=False) + "\n" for s in samples))
    info = replace(info, sha256=content_sha256(root, info.to_dict()))
    write_json(root / INFO_FILE, info.to_dict())
    return Benchmark.load(root)
