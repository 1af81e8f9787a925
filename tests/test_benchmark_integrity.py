"""Provenance of a benchmark: the content hash covers every field that can change a number, is
verified when a benchmark is opened for work, and covers every file a manifest can reach."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ttm_bench.cli import main
from ttm_bench.data import content_hash
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.content_hash import legacy_content_sha256
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.data.verification import SKIPPED, VERIFIED, hash_problem, open_benchmark
from ttm_bench.errors import TTMBenchError, ValidationError


def edit_info(root: Path, **changes: object) -> None:
    """Change fields of benchmark.json, keeping its recorded sha256."""
    path = root / "benchmark.json"
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("change", [
    {"num_frames": 4}, {"fps": 16.0}, {"height": 32}, {"width": 32}, {"version": "2"},
    {"name": "other"}, {"splits": ["single", "multi", "extra"]}, {"licence": "MIT"},
    {"description": "edited"},
])
def test_hash_covers_every_benchmark_json_field(bench_copy: Path, change: dict) -> None:
    assert open_benchmark(bench_copy)[1] == VERIFIED
    edit_info(bench_copy, **change)
    with pytest.raises(ValidationError, match="does not match the content"):
        open_benchmark(bench_copy)


def test_hash_scheme_v1_is_read_but_must_be_rehashed(bench_copy: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    edit_info(bench_copy, hash_scheme=None, sha256=legacy_content_sha256(bench_copy))
    assert Benchmark.load(bench_copy).info.hash_scheme == "v1"  # still readable
    with pytest.raises(ValidationError, match=r"scheme v1.*bench rehash"):
        open_benchmark(bench_copy)
    assert main(["bench", "rehash", str(bench_copy)]) == 0
    assert open_benchmark(bench_copy)[1] == VERIFIED
    assert json.loads((bench_copy / "benchmark.json").read_text())["hash_scheme"] == "v2"


def test_rehash_refuses_content_changed_since_the_old_hash(bench_copy: Path) -> None:
    edit_info(bench_copy, hash_scheme=None, sha256=legacy_content_sha256(bench_copy))
    png = next((bench_copy / "images").glob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")
    assert main(["bench", "rehash", str(bench_copy)]) == 2
    with pytest.raises(ValidationError):
        open_benchmark(bench_copy)
    assert main(["bench", "rehash", str(bench_copy), "--force"]) == 0
    assert open_benchmark(bench_copy)[1] == VERIFIED


def test_unknown_hash_scheme_and_unknown_fields_are_refused(bench_copy: Path) -> None:
    edit_info(bench_copy, hash_scheme="v9", num_frame=3)
    with pytest.raises(ValidationError) as info:
        Benchmark.load(bench_copy)
    fields = {p.field for p in info.value.problems}
    assert fields == {"hash_scheme", "num_frame"}


def test_changed_asset_is_refused_when_opened_for_work(bench_copy: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    bench = Benchmark.load(bench_copy)
    a, b = (bench_copy / s.image for s in bench.samples[:2])
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())  # swapped image
    b.write_bytes(a_bytes)
    with pytest.raises(ValidationError, match="sha256"):
        open_benchmark(bench_copy)
    args = ["generate", "--bench", str(bench_copy), "--model", "static", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert "does not match the content" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main([*args, "--out", str(tmp_path / "run"), "--skip-verify"]) == 0
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["benchmark_verification"] == SKIPPED
    out = tmp_path / "results"
    evaluate = ["evaluate", "--bench", str(bench_copy), "--run", str(tmp_path / "run"),
                "--out", str(out), "--metrics", "ad_dis", "--n-boot", "10", "--quiet"]
    assert main(evaluate) == 2
    assert main([*evaluate, "--skip-verify"]) == 0
    assert json.loads((out / "results.json").read_text())["benchmark_verification"] == SKIPPED


def test_verified_run_and_results_say_so(small_bench: Benchmark, tmp_path: Path) -> None:
    from ttm_bench.evaluation import evaluate, inputs_from_run
    from ttm_bench.generation.runner import generate_run

    generate_run(small_bench.root, "static", tmp_path / "run", progress=False)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["benchmark_verification"] == VERIFIED
    results = evaluate(inputs_from_run(tmp_path / "run", small_bench.root), tmp_path / "res",
                       ["ad_dis"], n_boot=10, progress=False)
    assert results["benchmark_verification"] == VERIFIED


def test_verification_rereads_only_changed_files(bench_copy: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    real = content_hash.file_sha256
    monkeypatch.setattr(content_hash, "file_sha256", lambda p: read.append(str(p)) or real(p))
    open_benchmark(bench_copy)
    assert len(read) == len(content_hash.content_files(bench_copy))
    read.clear()
    open_benchmark(bench_copy)
    assert read == []  # cached by path, size and mtime
    png = next((bench_copy / "images").glob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")
    with pytest.raises(ValidationError):
        open_benchmark(bench_copy)
    assert read == [str(png)]
    read.clear()
    bench = Benchmark.load(bench_copy)
    assert hash_problem(bench, use_cache=False) is not None  # validate re-reads everything
    assert len(read) == len(content_hash.content_files(bench_copy))


def test_edit_with_mtime_set_back_is_caught_even_with_the_cache(bench_copy: Path) -> None:
    open_benchmark(bench_copy)
    png = next((bench_copy / "images").glob("*.png"))
    st = png.stat()
    data = bytearray(png.read_bytes())
    data[-1] ^= 0xFF
    png.write_bytes(bytes(data))
    os.utime(png, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    with pytest.raises(ValidationError, match="does not match the content"):
        open_benchmark(bench_copy)


# Paths: every file a manifest can reach is inside the directory and covered by the hash.


def rewrite_first_sample(root: Path, **changes: object) -> None:
    manifest = root / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), **changes})
    manifest.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("path", ["../outside.png", "/etc/passwd", "images/../../x.png",
                                  ".hidden/x.png", "images\\a.png", "images//a.png", ""])
def test_manifest_paths_outside_the_directory_are_refused(bench_copy: Path, path: str) -> None:
    rewrite_first_sample(bench_copy, image=path)
    with pytest.raises(ValidationError) as info:
        Benchmark.load(bench_copy)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (1, "image")
    assert "manifest.jsonl" in problem.file and "relative path" in problem.fix


def test_symlink_to_outside_is_refused(bench_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.png").write_bytes(next((bench_copy / "images").glob("*.png")).read_bytes())
    (bench_copy / "linked").symlink_to(outside, target_is_directory=True)
    rewrite_first_sample(bench_copy, image="linked/x.png")
    with pytest.raises(ValidationError, match=r"linked.*outside the benchmark directory"):
        open_benchmark(bench_copy)
    bench = Benchmark.load(bench_copy)
    with pytest.raises(TTMBenchError, match=r"manifest.jsonl:1 \[image\].*symbolic link"):
        bench.image(bench.samples[0])  # even with --skip-verify
    problems = [str(p) for p in validate_benchmark(bench_copy, check_videos=False).problems]
    assert any("manifest.jsonl:1 [image]" in p and "symbolic link" in p for p in problems)


def test_symlinked_folder_inside_is_followed_and_hashed(bench_copy: Path) -> None:
    (bench_copy / "alias").symlink_to(bench_copy / "images", target_is_directory=True)
    files = content_hash.content_files(bench_copy)
    assert any(f.startswith("alias/") for f in files)
    assert main(["bench", "rehash", str(bench_copy), "--force"]) == 0
    open_benchmark(bench_copy)
    png = next((bench_copy / "alias").glob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")
    with pytest.raises(ValidationError, match="does not match"):
        open_benchmark(bench_copy)


def test_symlink_loop_is_refused(bench_copy: Path) -> None:
    (bench_copy / "images" / "loop").symlink_to(bench_copy / "images", target_is_directory=True)
    with pytest.raises(ValidationError, match="loop"):
        content_hash.content_files(bench_copy)


def test_study_creation_refuses_a_changed_benchmark(tmp_path: Path) -> None:
    from tests.human_study_fixtures import make_benchmark, make_run, write_spec
    from ttm_bench.human.spec import load_spec
    from ttm_bench.human.study import create_study

    make_benchmark(tmp_path / "bench")
    make_run(tmp_path / "ttm", tmp_path / "bench", "ttm", 40)
    make_run(tmp_path / "base", tmp_path / "bench", "base", 140)
    (tmp_path / "bench" / "s0.png").write_bytes((tmp_path / "bench" / "s1.png").read_bytes())
    with pytest.raises(ValidationError, match="does not match the content"):
        create_study(load_spec(write_spec(tmp_path / "spec.yaml")), tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_link_cycle_is_refused(bench_copy: Path) -> None:
    (bench_copy / "a").symlink_to(bench_copy / "b")
    (bench_copy / "b").symlink_to(bench_copy / "a")
    with pytest.raises(ValidationError, match=r"bench/[ab]: is a symbolic link that never"):
        content_hash.content_files(bench_copy)


def test_unreadable_file_is_one_message(bench_copy: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def denied(path: object) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(content_hash, "file_sha256", denied)
    with pytest.raises(ValidationError, match=r"cannot be read \(Permission denied\)"):
        open_benchmark(bench_copy)
    assert main(["bench", "validate", str(bench_copy), "--no-videos"]) == 1
    assert "Permission denied" in capsys.readouterr().out


def test_byte_order_mark_is_accepted(bench_copy: Path) -> None:
    for name in ("manifest.jsonl", "benchmark.json"):
        path = bench_copy / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(Benchmark.load(bench_copy)) == 4
