"""`bench validate`: every problem of a benchmark directory, found in one streaming pass.

Checked: `benchmark.json` and every manifest line (fields, finite numbers, UTF-8, unique ids,
known splits, asset paths inside the directory), every asset (images decoded in full, masks
decoded at the benchmark's size and non-empty, ground-truth videos decoded in full with enough
frames of the benchmark's size) and the content hash (every file re-read). `quick=True` reads
only image and video headers and reuses cached file digests; the report says what it skipped.

The manifest is streamed and each distinct asset file is checked once however many lines name
it, so time and memory grow linearly with the manifest (see `ttm_bench.bench.validation`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from ttm_bench.data.asset_paths import PATH_FIX, outside_reason
from ttm_bench.data.benchmark import MANIFEST_FILE, Benchmark, read_info, split_problem
from ttm_bench.data.manifest import read_manifest
from ttm_bench.data.masks import rle_is_empty
from ttm_bench.data.sample import BenchmarkInfo, Sample
from ttm_bench.errors import Problem, TTMBenchError

#: (message, fix) of each failed check of an asset; empty when the asset is fine.
Findings = list[tuple[str, str]]


@dataclass
class ValidationReport:
    """What `validate_benchmark` found: problems, samples read, and the checks it skipped."""

    problems: list[Problem] = field(default_factory=list)
    samples: int = 0
    skipped: list[str] = field(default_factory=list)


class _AssetChecker:
    """Checks asset files of one benchmark, each distinct file once (results are memoised)."""

    def __init__(self, root: Path, info: BenchmarkInfo, *, decode: bool):
        self.root, self.info, self.decode = root, info, decode
        self.hw = (info.height, info.width)
        self.images: dict[str, Findings] = {}
        self.videos: dict[str, Findings] = {}

    def _path(self, rel: str, kind: str) -> tuple[Path | None, Findings]:
        reason = outside_reason(self.root, rel)
        if reason is not None:
            return None, [(f"path {reason}", PATH_FIX)]
        path = self.root / rel
        if not path.is_file():
            return None, [(f"{kind} {rel} not found", "add the file or fix the path")]
        return path, []

    def image(self, rel: str) -> Findings:
        if rel not in self.images:
            self.images[rel] = self._check_image(rel)
        return self.images[rel]

    def video(self, rel: str) -> Findings:
        if rel not in self.videos:
            self.videos[rel] = self._check_video(rel)
        return self.videos[rel]

    def _check_image(self, rel: str) -> Findings:
        path, finding = self._path(rel, "image")
        if path is None:
            return finding
        try:
            with Image.open(path) as im:
                hw = (im.height, im.width)
                if self.decode:
                    im.load()  # a truncated or damaged file fails here, not in the header
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            return [(f"image {rel} unreadable ({exc})", "re-export it as PNG")]
        if hw != self.hw:
            return [(f"image is {hw[0]}x{hw[1]}, benchmark is {self.hw[0]}x{self.hw[1]}",
                     "resize it or fix benchmark.json")]
        return []

    def _check_video(self, rel: str) -> Findings:
        from ttm_bench.video import VideoDecodeError, count_decodable_frames, probe_video

        path, finding = self._path(rel, "video")
        if path is None:
            return finding
        try:
            vi = probe_video(path)
            frames = count_decodable_frames(path) if self.decode else vi.num_frames
        except VideoDecodeError as exc:
            return [(f"video {rel} unreadable ({exc.reason})", "re-encode the clip as H.264 mp4")]
        findings = []
        if (vi.height, vi.width) != self.hw:
            findings.append((f"video is {vi.height}x{vi.width}, benchmark is {self.hw[0]}x"
                             f"{self.hw[1]}", "resize the clip"))
        if frames < self.info.num_frames:
            findings.append((f"video has {frames} frames, benchmark needs {self.info.num_frames}",
                             "use a longer clip or lower num_frames"))
        return findings


def _sample_problems(sample: Sample, line: int, manifest: str, checker: _AssetChecker,
                     check_videos: bool) -> list[Problem]:
    problems: list[Problem] = []

    def add(field_name: str, findings: Findings) -> None:
        problems.extend(Problem(manifest, f"sample {sample.id!r}: {message}", fix, line,
                                field_name) for message, fix in findings)

    add("image", checker.image(sample.image))
    for i, obj in enumerate(sample.objects):
        if tuple(obj.mask.size) != checker.hw:
            add(f"objects[{i}].mask.size", [(f"mask is {obj.mask.size[0]}x{obj.mask.size[1]}, "
                f"images are {checker.hw[0]}x{checker.hw[1]}",
                "encode the mask at the benchmark's resolution")])
            continue
        try:
            if rle_is_empty(obj.mask):
                add(f"objects[{i}].mask", [("mask is empty", "drop the object or fix its mask")])
        except TTMBenchError as exc:
            add(f"objects[{i}].mask", [(f"corrupt RLE ({str(exc).split('; ')[0]})",
                                        "re-encode the mask")])
    if sample.video and check_videos:
        add("video", checker.video(sample.video))
    return problems


def validate_benchmark(root: str | Path, *, quick: bool = False,
                       check_videos: bool = True) -> ValidationReport:
    """Every problem of the benchmark directory `root` (see the module docstring).

    quick: read image and video headers only, and trust cached file digests.
    check_videos: False skips the ground-truth videos entirely.
    """
    from ttm_bench.data.verification import hash_problem

    root = Path(root)
    report = ValidationReport()
    if not root.is_dir():
        report.problems.append(Problem(str(root), "not a directory", "point to a benchmark "
                                       "directory (build one with `ttm-bench bench build`)"))
        return report
    info = read_info(root, report.problems)
    manifest = str(root / MANIFEST_FILE)
    checker = _AssetChecker(root, info, decode=not quick) if info is not None else None
    for line, sample in read_manifest(root / MANIFEST_FILE, report.problems):
        report.samples += 1
        if info is None or checker is None:
            continue
        if problem := split_problem(info, sample, manifest, line):
            report.problems.append(problem)
        report.problems += _sample_problems(sample, line, manifest, checker, check_videos)
    if info is not None:
        problem = hash_problem(Benchmark(root, info, ()), use_cache=quick)
        if problem is not None:
            report.problems.append(problem)
    if quick and checker is not None:
        report.skipped.append(f"{len(checker.images)} image(s) and {len(checker.videos)} "
                              "video(s) checked from their headers only, not decoded")
        report.skipped.append("file digests reused from the cache for files whose size and "
                              "mtime did not change")
    if not check_videos:
        report.skipped.append("ground-truth videos not checked (--no-videos)")
    return report
