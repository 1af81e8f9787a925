"""`bench validate` and the benchmark readers on damaged input: every problem located (file,
line, field, fix), full decoding unless --quick, no NaN, no traceback, one bad sample fails
alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark, SampleError, write_benchmark
from ttm_bench.data.sample import BenchmarkInfo, parse_benchmark_info
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.errors import Problem, ValidationError


def edit_manifest_line(root: Path, index: int, **changes: object) -> None:
    manifest = root / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    lines[index] = json.dumps({**json.loads(lines[index]), **changes})
    manifest.write_text("\n".join(lines) + "\n")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


INFO = {"name": "b", "version": "1", "splits": ["single"], "fps": 8, "num_frames": 8,
        "height": 64, "width": 64, "licence": "x"}


@pytest.mark.parametrize("splits", [["single", "all"], ["all"]])
def test_split_name_all_is_reserved(splits: list[str]) -> None:
    problems: list[Problem] = []
    assert parse_benchmark_info({**INFO, "splits": splits}, "benchmark.json", problems) is None
    (p,) = problems
    assert p.field == "splits" and "reserved" in p.message


def test_split_all_is_refused_at_build_and_open(bench_copy: Path, tmp_path: Path) -> None:
    bench = Benchmark.load(bench_copy)
    info = BenchmarkInfo(**{**INFO, "splits": ("single", "all")})
    with pytest.raises(ValidationError, match="reserved"):
        write_benchmark(tmp_path, info, bench.samples)
    data = json.loads((bench_copy / "benchmark.json").read_text())
    data["splits"].append("all")
    (bench_copy / "benchmark.json").write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="reserved"):
        Benchmark.load(bench_copy)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_benchmark_json_name_the_field(bench_copy: Path, text: str) -> None:
    path = bench_copy / "benchmark.json"
    data = path.read_text()
    path.write_text(data.replace('"fps": 8.0', f'"fps": {text}'))
    problems = validate_benchmark(bench_copy).problems
    assert [(p.field, "NaN or infinity" in p.message) for p in problems] == [("fps", True)]


def test_non_finite_numbers_in_the_manifest_name_line_and_field(bench_copy: Path) -> None:
    manifest = bench_copy / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    lines[2] = lines[2].replace('"true_mean_flow_px": ', '"true_mean_flow_px": NaN, "x": ')
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as info:
        Benchmark.load(bench_copy)
    (p,) = info.value.problems
    assert (p.line, p.field) == (3, "meta.true_mean_flow_px")


def test_write_benchmark_refuses_nan(small_bench: Benchmark, tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(ValidationError, match="fps"):
        write_benchmark(tmp_path, replace(small_bench.info, fps=float("nan")), small_bench.samples)
    sample = replace(small_bench.samples[0], meta={"speed": float("inf")})
    with pytest.raises(ValidationError, match=r"manifest.jsonl:1 \[meta.speed\]"):
        write_benchmark(tmp_path, small_bench.info, [sample])


def test_validate_decodes_images_and_videos_fully(bench_copy: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bench = Benchmark.load(bench_copy)
    truncate(bench_copy / bench.samples[0].image)
    truncate(bench_copy / bench.samples[1].video)
    from ttm_bench.data.verification import rehash_benchmark

    rehash_benchmark(bench_copy, force=True)  # the hash is not what catches them
    problems = validate_benchmark(bench_copy).problems
    located = {(p.line, p.field) for p in problems}
    assert located == {(1, "image"), (2, "video")}
    assert any(bench.samples[0].image in p.message and "unreadable" in p.message
               for p in problems)
    assert any(bench.samples[1].video in p.message for p in problems)
    assert main(["bench", "validate", str(bench_copy)]) == 1
    assert validate_benchmark(bench_copy, quick=True).problems == []  # headers are intact
    assert main(["bench", "validate", str(bench_copy), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "skipped: 4 image(s) and 4 video(s) checked from their headers only" in out


def test_non_utf8_manifest_is_one_located_message(bench_copy: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    manifest = bench_copy / "manifest.jsonl"
    lines = manifest.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"caption": "', b'"caption": "\xff\xfe')
    manifest.write_bytes(b"".join(lines))
    assert main(["bench", "info", str(bench_copy)]) == 2
    err = capsys.readouterr().err
    assert "manifest.jsonl:2" in err and "not UTF-8" in err and "Traceback" not in err
    assert main(["generate", "--bench", str(bench_copy), "--model", "static", "--quiet",
                 "--out", str(tmp_path / "run"), "--skip-verify"]) == 2
    assert main(["bench", "validate", str(bench_copy)]) == 1


def test_bench_info_streams_the_manifest(small_bench: Benchmark,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "info", str(small_bench.root)]) == 0
    out = capsys.readouterr().out
    assert "4 samples {'single': 2, 'multi': 2}" in out and "hash scheme v2" in out


def wrong_size_mask(root: Path, index: int) -> None:
    """Give the first object of sample `index` a valid 32x32 RLE (the benchmark is 64x64)."""
    import numpy as np

    from ttm_bench.data.masks import encode_rle

    line = json.loads((root / "manifest.jsonl").read_text().splitlines()[index])
    mask = np.zeros((32, 32), bool)
    mask[4:8, 4:8] = True
    line["objects"][0]["mask"] = encode_rle(mask).to_dict()
    edit_manifest_line(root, index, objects=line["objects"])


def test_wrong_size_mask_names_sample_and_line(bench_copy: Path) -> None:
    wrong_size_mask(bench_copy, 2)
    bench = Benchmark.load(bench_copy)  # loading is fine: only that sample is broken
    with pytest.raises(SampleError) as info:
        bench.masks(bench.samples[2])
    assert "manifest.jsonl:3 [objects[0].mask.size]" in str(info.value)
    assert "syn-002" in str(info.value)
    problems = validate_benchmark(bench_copy, check_videos=False).problems
    assert {(p.line, p.field) for p in problems} >= {(3, "objects[0].mask.size")}


def test_wrong_size_mask_fails_only_its_sample_in_generation(bench_copy: Path,
                                                             tmp_path: Path) -> None:
    from ttm_bench.generation.runner import generate_run

    wrong_size_mask(bench_copy, 2)
    summary = generate_run(bench_copy, "static", tmp_path / "run", progress=False, verify=False)
    assert summary.ok == 3 and list(summary.failed) == ["syn-002"]
    assert "manifest.jsonl:3" in summary.failed["syn-002"]


def test_non_utf8_benchmark_json_is_one_message(bench_copy: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = bench_copy / "benchmark.json"
    path.write_bytes(path.read_bytes().replace(b'"licence": "', b'"licence": "\xe9'))
    assert main(["bench", "info", str(bench_copy)]) == 2
    err = capsys.readouterr().err
    assert "benchmark.json" in err and "not UTF-8" in err and "Traceback" not in err


def test_unreadable_benchmark_image_flags_only_its_sample_in_evaluation(
        bench_copy: Path, tmp_path: Path) -> None:
    from ttm_bench.evaluation import VideoEntry, extract_features
    from ttm_bench.generation.runner import generate_run

    generate_run(bench_copy, "static", tmp_path / "run", progress=False)
    bench = Benchmark.load(bench_copy)
    truncate(bench_copy / bench.samples[1].image)

    class NeedsImage:
        requires = frozenset({"image"})

        def __init__(self) -> None:
            self.seen: list[str] = []

        def update(self, item: object) -> None:
            self.seen.append(item.sample_id)  # type: ignore[attr-defined]

    metric = NeedsImage()
    entries = [VideoEntry(s.id, s.split, tmp_path / "run" / "videos" / f"{s.id}.mp4")
               for s in bench.samples]
    invalid = extract_features(entries, [metric], bench, progress=False)  # type: ignore[list-item]
    assert list(invalid) == [bench.samples[1].id]
    assert "manifest.jsonl:2 [image]" in invalid[bench.samples[1].id]
    assert metric.seen == [s.id for s in bench.samples if s is not bench.samples[1]]


def test_bench_info_refuses_unknown_splits(bench_copy: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    edit_manifest_line(bench_copy, 3, split="triple")
    assert main(["bench", "info", str(bench_copy)]) == 2
    assert "manifest.jsonl:4 [split]" in capsys.readouterr().err
