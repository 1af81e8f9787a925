"""The visual HTML report: gallery rows and sort keys, path confinement, escaping, the folder's
self-containment and reproducibility, and the `report` command (browser: test_report_browser)."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.report_fixtures import REPORT_MODELS, make_evaluated_runs
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.hashing import file_sha256
from ttm_bench.report import gallery, plots
from ttm_bench.report.html_report import read_inputs, write_report, write_report_folder
from ttm_bench.report.results import AggregateRow, load_per_sample, load_results


@pytest.fixture(scope="session")
def evaluated(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_evaluated_runs(tmp_path_factory.mktemp("report-runs"), small_bench)


def _row(sid: str, *values: dict[str, float]) -> gallery.GalleryRow:
    return gallery.GalleryRow(sid, "single", None, None,
                              tuple(gallery.GalleryCell(None, v) for v in values))


def _rewritten(source: Path, target: Path, edit: Callable[[dict], None] | None = None,
               tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """A copy of the results directory `source` as a consistent (hostile) writer would leave
    it: `edit` applied to results.json, `tables` written, and the manifest's hashes updated."""
    shutil.copytree(source, target)
    for name, table in (tables or {}).items():
        table.to_parquet(target / name, index=False)
    data = json.loads((target / "results.json").read_text())
    if edit is not None:
        edit(data)
    data["files"] = {name: file_sha256(target / name) for name in data["files"]}
    (target / "results.json").write_text(json.dumps(data))
    return target


def test_sort_by_difference_largest_first_missing_last_ties_stable() -> None:
    rows = [_row("a", {"m": 1.0}, {"m": 1.5}),   # 0.5
            _row("b", {"m": 0.0}, {}),           # missing in run 1
            _row("c", {"m": 3.0}, {"m": 1.0}),   # 2.0
            _row("d", {"m": 2.0}, {"m": 2.5}),   # 0.5, tie with a: keeps a first
            _row("e", {"x": 9.0}, {"m": 0.0})]   # missing in run 0
    order = [r.sample_id for r in gallery.sort_by_difference(rows, 0, 1, "m")]
    assert order == ["c", "a", "d", "b", "e"]
    assert gallery.difference(rows[2], 1, 0, "m") == 2.0  # |A − B| is symmetric
    assert gallery.difference(rows[1], 0, 1, "m") is None


def test_sample_values_keep_finite_values_and_rows_follow_run_order() -> None:
    table = pd.DataFrame({"sample_id": ["s1", "s1", "s2", "s2"], "split": ["single"] * 4,
                          "metric": ["ad", "cf", "ad", "cf"], "value": [1.0, np.nan, 2.0, np.inf]})
    values = gallery.sample_values(table)
    assert values == {"s1": {"ad": 1.0}, "s2": {"ad": 2.0}}
    samples = [gallery.SampleEntry("s2", "multi", "c2"), gallery.SampleEntry("s1", "single")]
    rows = gallery.gallery_rows(samples, [values, {}], {"s1": "assets/media/images/1.png"},
                                [{"s2": "v.mp4"}, {}])
    assert [r.sample_id for r in rows] == ["s2", "s1"]
    assert rows[0].cells[0] == gallery.GalleryCell("v.mp4", {"ad": 2.0})
    assert rows[0].cells[1] == gallery.GalleryCell(None, {})
    assert rows[1].image == "assets/media/images/1.png" and rows[1].caption is None


def test_confined_refuses_paths_outside_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "bench"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"x")
    (tmp_path / "secret.png").write_bytes(b"x")
    assert gallery.confined(root, "images/a.png") == (root / "images" / "a.png").resolve()
    with pytest.raises(TTMBenchError, match="outside"):
        gallery.confined(root, "../secret.png")
    with pytest.raises(TTMBenchError, match="outside"):
        gallery.confined(root, str(tmp_path / "secret.png"))  # absolute paths too
    (root / "images" / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(TTMBenchError, match="outside"):
        gallery.confined(root, "images/link.png")


def test_place_media_copies_when_it_cannot_link(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "a.mp4"
    source.write_bytes(b"video")
    gallery.place_media(source, tmp_path / "linked" / "a.mp4")
    assert (tmp_path / "linked" / "a.mp4").stat().st_ino == source.stat().st_ino

    def refuse(*_: object) -> None:
        raise OSError("cross-device link")

    monkeypatch.setattr(gallery.os, "link", refuse)
    gallery.place_media(source, tmp_path / "copied" / "a.mp4")
    copied = tmp_path / "copied" / "a.mp4"
    assert copied.read_bytes() == b"video" and copied.stat().st_ino != source.stat().st_ino


def test_plot_text_is_literal() -> None:
    assert plots.plain("run $x$ \\alpha") == r"run \$x\$ \\alpha"


def test_per_sample_reader_names_every_problem(evaluated: list[Path], tmp_path: Path) -> None:
    results = load_results(evaluated[0])
    table = load_per_sample(results)
    assert list(table.columns) == ["sample_id", "split", "metric", "value"]
    assert set(table["metric"]) == {"ad_dis"} and table["value"].dtype == np.float64
    bad = pd.concat([table, table.iloc[:1]]).assign(
        metric=lambda t: ["ad_dis"] * (len(t) - 1) + ["nope"])
    bad.iloc[0, bad.columns.get_loc("split")] = "other"
    copy = _rewritten(evaluated[0], tmp_path / "bad", tables={"per_sample.parquet": bad})
    with pytest.raises(ValidationError) as caught:
        load_per_sample(load_results(copy))
    text = str(caught.value)
    assert "['nope']" in text and "more than one split" in text
    assert str(copy / "per_sample.parquet") in text
    copy = _rewritten(evaluated[0], tmp_path / "no-value",
                      tables={"per_sample.parquet": table.drop(columns=["value"])})
    with pytest.raises(ValidationError, match=r"\[value\]: missing column"):
        load_per_sample(load_results(copy))


def test_per_sample_values_come_from_the_state_the_aggregate_was_read_from(
        evaluated: list[Path], tmp_path: Path) -> None:
    copy = _rewritten(evaluated[0], tmp_path / "copy")
    results = load_results(copy)
    table = load_per_sample(results)
    table.assign(value=table["value"] + 1).to_parquet(copy / "per_sample.parquet")
    with pytest.raises(TTMBenchError, match=r"changed after .* was read"):
        load_per_sample(results)


def test_report_folder_is_self_contained(evaluated: list[Path], small_bench: Benchmark,
                                         tmp_path: Path) -> None:
    index = write_report(evaluated, tmp_path / "report")
    html = index.read_text(encoding="utf-8")
    folder = index.parent
    references = re.findall(r'(?:src|href|data-src)="([^"#]+)"', html)
    local = [r for r in references if not r.startswith("data:")]
    assert local and all(not r.startswith(("/", "http:", "https:", "file:")) for r in local)
    for ref in local:
        target = (folder / ref).resolve()
        assert target.is_relative_to(folder.resolve()) and target.is_file(), ref
    n = len(small_bench.samples)
    assert html.count("<video ") == n * len(REPORT_MODELS)
    assert html.count('<article class="sample"') == n
    assert len(list((folder / "assets" / "plots").glob("*.svg"))) == 2  # AD: CIs + spread
    assert "Motion–consistency plane" in html and "Not drawn" in html  # no consistency metric
    for sample in small_bench.samples:
        assert sample.caption in html
    # the per-sample values in the page are those of the parquet files
    values = [gallery.sample_values(load_per_sample(load_results(d))) for d in evaluated]
    first = small_bench.samples[0].id
    row = re.search(rf'data-sample="{first}"[^>]*data-values="([^"]*)"', html).group(1)
    assert json.loads(row.replace("&#34;", '"').replace("&quot;", '"')) == [
        v[first] for v in values]


def test_report_is_reproducible_and_replaces_only_its_own_files(
        evaluated: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "leaderboard.md").write_text("kept")
    write_report(evaluated, out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_report(evaluated, out)
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert first == second
    assert (out / "leaderboard.md").read_text() == "kept"
    assert not list(out.glob(".assets.*"))  # no staging left behind


def test_report_refuses_a_folder_it_did_not_write(evaluated: list[Path], tmp_path: Path) -> None:
    (tmp_path / "site" / "assets").mkdir(parents=True)
    with pytest.raises(TTMBenchError, match="not written by `ttm-bench report`"):
        write_report(evaluated, tmp_path / "site")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "index.html").write_text("<html>my page</html>")
    with pytest.raises(TTMBenchError, match="not written by `ttm-bench report`"):
        write_report(evaluated, tmp_path / "home")
    assert (tmp_path / "home" / "index.html").read_text() == "<html>my page</html>"


def test_names_and_captions_are_escaped(evaluated: list[Path], tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> $\\frac{1}{0}$ & co'

    def rename(data: dict) -> None:
        data["run"] = hostile
        for row in data["aggregate"]:
            row["run"] = hostile

    aggregate = pd.read_parquet(evaluated[1] / "aggregate.parquet").assign(run=hostile)
    copy = _rewritten(evaluated[1], tmp_path / "results", rename,
                      {"aggregate.parquet": aggregate})
    inputs = read_inputs([evaluated[0], copy])
    samples = tuple(dataclasses.replace(s, caption=hostile) for s in inputs.samples)
    index = write_report_folder(dataclasses.replace(inputs, samples=samples), tmp_path / "out")
    html = index.read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert html.count("<script") == 1  # only the report's own script


def test_bench_from_another_benchmark_is_refused(evaluated: list[Path], bench_copy: Path) -> None:
    manifest = bench_copy / "benchmark.json"
    info = json.loads(manifest.read_text())
    info["sha256"] = "0" * 64
    manifest.write_text(json.dumps(info))
    with pytest.raises(TTMBenchError, match="pass the benchmark the runs were evaluated on"):
        read_inputs(evaluated, bench=bench_copy)


def test_missing_sources_leave_videos_out_with_a_note(evaluated: list[Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    gone = tmp_path / "nowhere"
    code = main(["report", *map(str, evaluated), "--out", str(tmp_path / "r"),
                 "--videos", f"static={gone}", "--bench", str(gone)])
    assert code == 0
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert f"video folder {gone} does not exist" in html
    assert "no input images or captions; pass --bench DIR" in html
    assert html.count("<video ") == len(load_per_sample(load_results(evaluated[0]))) * 2
    assert main(["report", str(evaluated[0]), "--out", str(tmp_path / "r2"),
                 "--videos", "nosuchrun=x"]) == 2
    assert "not among the results" in capsys.readouterr().err


def test_one_writer_at_a_time_and_leftovers_of_killed_writers_go(evaluated: list[Path],
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "report"
    (out / ".assets.new-99999" / "plots").mkdir(parents=True)  # a writer killed mid-way
    descriptor = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # another writer holds the folder
        with pytest.raises(TTMBenchError, match="another `ttm-bench report` is writing"):
            write_report(evaluated, out)
    finally:
        os.close(descriptor)
    write_report(evaluated, out)
    assert sorted(p.name for p in out.iterdir()) == ["assets", "index.html"]


def _aggregate(value: float, low: float, high: float) -> AggregateRow:
    return AggregateRow("all", "m", value, low, high, 4, 4, "h")


def test_plane_marks_the_static_floor_and_is_reproducible() -> None:
    runs = ["static", "ttm $1$"]
    xs = [_aggregate(0.0, 0.0, 0.0), _aggregate(2.5, 2.0, 3.0)]
    ys = [_aggregate(0.99, 0.98, 1.0), _aggregate(0.9, 0.85, 0.95)]
    svg = plots.to_svg(plots.plane_figure(runs, xs, ys, "AD", "CLIPFrame"))
    assert "<!-- static floor (AD = 0) -->" in svg and "<!-- ttm $1$ -->" in svg
    assert "<!-- AD (motion) -->" in svg and "<!-- CLIPFrame (consistency) -->" in svg
    assert svg == plots.to_svg(plots.plane_figure(runs, xs, ys, "AD", "CLIPFrame"))
    assert "<dc:date>" not in svg


def test_report_never_writes_inside_what_it_reads(evaluated: list[Path],
                                                  small_bench: Benchmark) -> None:
    run = evaluated[0].parent.parent / "runs" / REPORT_MODELS[0]
    for inside in (small_bench.root, small_bench.root / "report", evaluated[1] / "r", run):
        with pytest.raises(TTMBenchError, match="which the report reads"):
            write_report(evaluated, inside)
    assert not (small_bench.root / "report").exists()
    assert not (small_bench.root / "index.html").exists()


def test_a_missing_input_image_is_named(evaluated: list[Path], bench_copy: Path,
                                        tmp_path: Path) -> None:
    first = Benchmark.load(bench_copy).samples[0]
    (bench_copy / first.image).unlink()
    index = write_report(evaluated, tmp_path / "r", bench=bench_copy)
    html = index.read_text(encoding="utf-8")
    assert ("1 input image(s) missing or not .png/.jpg/.jpeg/.webp, e.g. of sample "
            f"&#39;{first.id}&#39;") in html
    assert html.count('class="input">\n    <img') == len(Benchmark.load(bench_copy).samples) - 1


def test_results_without_recorded_sources_name_the_options(evaluated: list[Path],
                                                           tmp_path: Path) -> None:
    data = json.loads((evaluated[0] / "results.json").read_text())
    # written before results recorded their source
    old = _rewritten(evaluated[0], tmp_path / "old-results", lambda d: d.pop("source"))
    html = write_report([old], tmp_path / "r").read_text(encoding="utf-8")
    assert "record no benchmark folder" in html and "pass --bench DIR (synthetic@" in html
    assert f"pass --videos {data['run']}=DIR" in html
    assert "<video " not in html and html.count('<article class="sample"') == 4


def test_results_record_where_the_evaluation_read(evaluated: list[Path],
                                                  small_bench: Benchmark) -> None:
    results = load_results(evaluated[0])
    run = evaluated[0].parent.parent / "runs" / REPORT_MODELS[0]
    assert results.source == {"run": str(run.resolve()),
                              "benchmark": str(small_bench.root.resolve())}


def test_a_failed_rewrite_keeps_the_previous_report(evaluated: list[Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "report"
    write_report(evaluated, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def unreadable(source: Path, destination: Path) -> None:
        raise PermissionError(13, "Permission denied", str(source))

    monkeypatch.setattr(gallery, "place_media", unreadable)
    with pytest.raises(TTMBenchError, match=r"writing the report to .* failed: .*Permission"):
        write_report(evaluated, out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_videos_changed_since_the_evaluation_are_left_out(evaluated: list[Path],
                                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(evaluated[1].parent.parent / "runs" / REPORT_MODELS[1], run)
    videos = sorted((run / "videos").glob("*.mp4"))
    videos[0].write_bytes(videos[1].read_bytes())  # swapped after generation
    results = _rewritten(evaluated[1], tmp_path / "results",
                         lambda d: d["source"].update(run=str(run)))
    html = write_report([evaluated[0], results], tmp_path / "r").read_text(encoding="utf-8")
    assert (f"1 video(s) changed after they were generated (e.g. of sample "
            f"&#39;{videos[0].stem}&#39;)") in html
    assert html.count("<video ") == 2 * len(videos) - 1

    info = json.loads((run / "run.json").read_text())
    info["config"] = {"zoom": 2.0}  # the folder now holds another run
    (run / "run.json").write_text(json.dumps(info))
    html = write_report([evaluated[0], results], tmp_path / "r").read_text(encoding="utf-8")
    assert "now holds another run than the one evaluated" in html
    assert html.count("<video ") == len(videos)
