"""The benchmark contract: parsing, validation with located problems, hashing, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.content_hash import content_sha256
from ttm_bench.data.sample import parse_sample
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.errors import Problem, TTMBenchError, ValidationError

GOOD = {"id": "a-1", "image": "images/a.png", "caption": "a cat", "split": "single"}


def test_parse_sample_round_trip(small_bench: Benchmark) -> None:
    for sample in small_bench.samples:
        problems: list[Problem] = []
        again = parse_sample(json.loads(json.dumps(sample.to_dict())), "m", 1, problems)
        assert problems == []
        assert again == sample


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"id": None}, "id", "missing required field"),
        ({"id": "bad id/../x"}, "id", "invalid sample id"),
        ({"caption": 3}, "caption", "expected string"),
        ({"objects": [{"id": 1, "label": "x", "local_prompt": "x", "mask": [1]}]},
         "objects[0].mask", "COCO RLE"),
        ({"objects": [{"id": "1", "label": "x", "local_prompt": "x",
                       "mask": {"size": [2, 2], "counts": "04"}}]}, "objects[0].id", "integer"),
    ],
)
def test_parse_sample_reports_field(change: dict, field: str, message: str) -> None:
    problems: list[Problem] = []
    assert parse_sample({**GOOD, **change}, "manifest.jsonl", 5, problems) is None
    assert len(problems) == 1
    p = problems[0]
    assert (p.file, p.line, p.field) == ("manifest.jsonl", 5, field)
    assert message in p.message
    assert p.fix  # every problem says how to fix it
    assert "manifest.jsonl:5" in str(p)


def test_load_and_assets(small_bench: Benchmark) -> None:
    assert len(small_bench) == 4
    assert [s.split for s in small_bench.samples] == ["single", "single", "multi", "multi"]
    sample = small_bench.samples[2]
    image = small_bench.image(sample)
    assert image.dtype == np.uint8 and image.shape == (64, 64, 3)
    video = small_bench.video(sample)
    assert video.shape == (8, 64, 64, 3)
    np.testing.assert_array_equal(video[0], image)  # x(0) is the clip's first frame, exactly
    masks = small_bench.masks(sample)
    assert masks.shape == (len(sample.objects), 64, 64) and masks.dtype == bool
    assert all(m.any() for m in masks)


def test_hash_is_content_addressed(bench_copy: Path) -> None:
    info = Benchmark.load(bench_copy).info
    before = info.sha256
    assert content_sha256(bench_copy, info.to_dict()) == before
    (bench_copy / ".half-written.tmp-x").write_bytes(b"junk")  # hidden temporaries ignored
    assert content_sha256(bench_copy, info.to_dict()) == before
    png = next((bench_copy / "images").glob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")
    assert content_sha256(bench_copy, info.to_dict()) != before
    problems = validate_benchmark(bench_copy).problems
    assert any(p.field == "sha256" for p in problems)


def test_validate_clean(small_bench: Benchmark) -> None:
    assert validate_benchmark(small_bench.root).problems == []


def test_validate_reports_every_problem(bench_copy: Path) -> None:
    manifest = bench_copy / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    first = json.loads(lines[0])
    first["split"] = "triple"
    lines[0] = json.dumps(first)
    lines[1] = "{not json"
    manifest.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as info:
        Benchmark.load(bench_copy)
    text = str(info.value)
    assert "manifest.jsonl:2" in text and "not valid JSON" in text
    assert "triple" in text and "single" in text


def test_validate_missing_assets_and_wrong_video(bench_copy: Path) -> None:
    from ttm_bench.video import write_video

    bench = Benchmark.load(bench_copy)
    (bench_copy / bench.samples[0].image).unlink()
    write_video(bench_copy / bench.samples[1].video, np.zeros((3, 32, 32, 3), np.uint8), fps=8)
    problems = validate_benchmark(bench_copy).problems
    messages = [str(p) for p in problems]
    assert any("image" in m and "not found" in m for m in messages)
    assert any("32x32" in m for m in messages)
    assert any("3 frames" in m for m in messages)
    assert all(p.line is not None for p in problems if p.field != "sha256")


def test_validate_cli_exit_codes(small_bench: Benchmark, bench_copy: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "validate", str(small_bench.root)]) == 0
    (bench_copy / "benchmark.json").write_text("{}")
    assert main(["bench", "validate", str(bench_copy)]) == 1
    out = capsys.readouterr().out
    assert "benchmark.json" in out and "missing required field" in out and "name" in out


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TTMBenchError, match="does not exist"):
        Benchmark.load(tmp_path / "nope")
    assert main(["bench", "info", str(tmp_path / "nope")]) == 2
