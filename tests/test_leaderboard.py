"""Results reader and leaderboard: layout, best values, notes, errors, escaping, CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ttm_bench.cli import main
from ttm_bench.errors import TTMBenchError, UnknownNameError, ValidationError
from ttm_bench.metrics import registry
from ttm_bench.metrics.base import Preset
from ttm_bench.report.leaderboard import build_leaderboard, render_html, render_markdown
from ttm_bench.report.results import load_results
from ttm_bench.results_dir import ResultsWriter

BENCH = {"name": "synthetic", "version": "1", "sha256": "ab" * 32}
METRICS = {
    "fvd16": ("FVD16", False, {"frames": 16}),
    "clipframe": ("CF", True, {"model": "ViT-L-14"}),
    "ad_dis": ("AD", None, {"backend": "dis"}),
    "psnr": ("PSNR", True, {"data_range": 255}),  # not registered
}
SPLITS = {"single": 8, "multi": 8, "all": 16}


@pytest.fixture(autouse=True)
def paper_order_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registered metrics in the paper's column order, whatever the real registry holds."""
    spec = registry.METRICS["ad_dis"]
    monkeypatch.setattr(registry, "METRICS", {"fvd16": registry.METRICS["fvd16"],
                                              "clipframe": spec, "ad_dis": spec})


def write_results(root: Path, run: str, values: dict[tuple[str, str], float], *,
                  benchmark: dict | None = None, skipped: dict[str, str] | None = None,
                  n: dict[str, int] | None = None, params: dict[str, dict] | None = None,
                  warnings: dict[str, list[str]] | None = None,
                  bootstrap: dict[str, Any] | None = None) -> Path:
    """A results directory as `ttm-bench evaluate` writes it; values: (split, metric) → value.

    benchmark: None for the default one, {} for a folder of videos evaluated without one.
    Metrics absent from `values` and `skipped` are not evaluated at all. The CI is value ± 1%.
    """
    benchmark = BENCH if benchmark is None else benchmark or None
    tag = f"{benchmark['name']}@{benchmark['version']}" if benchmark else "none"
    evaluated = list(dict.fromkeys(m for _, m in values))
    presets = {m: Preset(m, (params or {}).get(m, METRICS[m][2])).to_dict() for m in evaluated}
    rows: list[dict[str, Any]] = []
    for (split, metric), value in values.items():
        count = (n or {}).get(split, SPLITS[split])
        rows.append({
            "run": run, "benchmark": tag,
            "split": split, "metric": metric, "value": value,
            "ci_low": None if value is None else value * 0.99,
            "ci_high": None if value is None else value * 1.01,
            "n": count, "n_expected": SPLITS[split], "preset_hash": presets[metric]["hash"],
        })
    results = {
        "run": run, "model": run, "benchmark": benchmark, "code_version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00",
        "complete": all(r["n"] == r["n_expected"] for r in rows), "n_expected": 16,
        "presets": presets,
        "metrics": {m: {"label": METRICS[m][0], "higher_is_better": METRICS[m][1]}
                    for m in evaluated},
        "skipped_metrics": skipped or {},
        "warnings": warnings or {},
        "bootstrap": {"n_boot": 1000, "level": 0.95, "seed": 0, "method": "percentile",
                      **(bootstrap or {})},
        "aggregate": rows,
    }
    out = root / run.replace("/", "_").replace("<", "_").replace(">", "_")
    with ResultsWriter(out) as writer:
        writer.commit(results, {
            "aggregate.parquet": pd.DataFrame(rows).to_parquet,
            "per_sample.parquet": pd.DataFrame(
                columns=["sample_id", "split", "metric", "value"]).to_parquet,
        })
    return out


def full(fvd: float, cf: float, ad: float, splits=("single", "multi", "all")) -> dict:
    """The same three values on every split (offset per split so columns differ)."""
    values = {}
    for k, split in enumerate(splits):
        values[(split, "fvd16")] = fvd + k
        values[(split, "clipframe")] = cf
        values[(split, "ad_dis")] = ad + k
    return values


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    return [
        write_results(tmp_path, "ttm", full(925.391, 0.969, 4.7)),
        write_results(tmp_path, "static", full(1484.18, 0.9421, 0.01)),
        write_results(tmp_path, "ken-burns", full(1206.6, 0.951, 9.3)),
    ]


def markdown_table(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split(" | ")]
            for line in text.splitlines() if line.startswith("| ")]


def test_load_results_reads_typed_fields(tmp_path: Path) -> None:
    values = full(10.0, 0.5, 1.0)
    values[("multi", "clipframe")] = None
    results = load_results(write_results(tmp_path, "ttm", values, n={"multi": 0}))
    assert results.run == "ttm" and results.benchmark.tag == "synthetic@1"
    assert results.metrics["fvd16"].higher_is_better is False
    assert results.metrics["ad_dis"].higher_is_better is None
    assert results.splits == ["single", "multi", "all"]
    row = results.row("single", "fvd16")
    assert (row.value, row.n, row.n_expected, row.complete) == (10.0, 8, 8, True)
    assert row.preset_hash == results.presets["fvd16"].hash
    missing = results.row("multi", "clipframe")
    assert math.isnan(missing.value) and math.isnan(missing.ci_low) and not missing.complete
    assert results.ci_level == 0.95 and results.complete is False


def test_load_results_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(TTMBenchError, match=r"does not exist.*ttm-bench evaluate"):
        load_results(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TTMBenchError, match=r"no results\.json.*ttm-bench evaluate"):
        load_results(tmp_path / "empty")


def test_load_results_reports_every_problem(tmp_path: Path) -> None:
    out = write_results(tmp_path, "ttm", full(10.0, 0.5, 1.0))
    data = json.loads((out / "results.json").read_text())
    data["aggregate"][0]["n"] = -1
    data["aggregate"][1]["preset_hash"] = "0" * 16
    data["aggregate"][2]["metric"] = "psnr"
    data["metrics"]["clipframe"]["higher_is_better"] = "yes"
    data["bootstrap"] = [0.95]
    del data["complete"]
    (out / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValidationError) as info:
        load_results(out)
    fields = {p.field for p in info.value.problems}
    assert {"aggregate[0].n", "aggregate[1].preset_hash", "aggregate[2].metric",
            "metrics.clipframe.higher_is_better", "complete", "bootstrap"} <= fields
    assert all(p.file == str(out / "results.json") for p in info.value.problems)
    assert "ttm-bench evaluate" in str(info.value)


def test_load_results_recomputes_completeness(tmp_path: Path) -> None:
    """More samples than expected, or a `complete` flag its rows contradict, are refused."""
    out = write_results(tmp_path, "over", full(10.0, 0.5, 1.0), n={"single": 9})
    with pytest.raises(ValidationError, match=r"aggregate\[0\]\.n\]: 9 samples evaluated, "
                                              "more than the 8 expected"):
        load_results(out)
    out = write_results(tmp_path, "flag", full(10.0, 0.5, 1.0), n={"multi": 7})
    data = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**data, "complete": True}))
    with pytest.raises(ValidationError, match=r"\[complete\]: says True, but its rows say False"):
        load_results(out)


def test_load_results_cross_checks_the_aggregate_table(tmp_path: Path) -> None:
    out = write_results(tmp_path, "ttm", full(10.0, 0.5, 1.0))
    data = json.loads((out / "results.json").read_text())
    data["aggregate"][0]["value"] = 11.0
    (out / "results.json").write_text(json.dumps(data))
    with pytest.raises(ValidationError, match=r"aggregate\.parquet: its rows disagree with "
                                              r"results\.json"):
        load_results(out)


def test_load_results_invalid_json_names_the_line(tmp_path: Path) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "results.json").write_text('{\n"run": "x",\n oops\n}')
    with pytest.raises(ValidationError, match=r"results.json:3: invalid JSON"):
        load_results(out)


def test_layout_groups_splits_with_direction_markers(three_runs: list[Path]) -> None:
    text = render_markdown(build_leaderboard([load_results(p) for p in three_runs]))
    header, labels, *body = markdown_table(text)
    assert header == ["Run", "single-object", "", "", "multi-object", "", ""]
    assert labels == ["", *["**FVD16↓**", "**CF↑**", "**AD**"] * 2]
    assert [row[0] for row in body] == ["ttm", "static", "ken-burns"]
    assert "all samples" not in text
    # Decimals: FVD and AD 2, similarities 3; CI in parentheses.
    assert body[1][1] == "1484.18 [n=8] (1469.34–1499.02)"
    assert body[1][2] == "0.942 (0.933–0.952)"
    assert body[1][3] == "0.01 (0.01–0.01)"


def test_best_value_per_column_is_bold_only_with_a_direction(three_runs: list[Path]) -> None:
    board = build_leaderboard([load_results(p) for p in three_runs])
    bold = {(row.run, col.split, col.metric) for row in board.rows
            for col, cell in zip(board.columns, row.cells, strict=True) if cell.bold}
    assert bold == {("ttm", s, m) for s in ("single", "multi") for m in ("fvd16", "clipframe")}
    body = markdown_table(render_markdown(board))[2:]
    assert body[0][1] == "**925.39 [n=8]** (916.14–934.64)"
    assert not any("**" in cell for row in body for cell in (row[3], row[6]))  # AD columns


def test_ties_after_rounding_are_all_bold(tmp_path: Path) -> None:
    dirs = [write_results(tmp_path, "a", full(100.001, 0.9, 1.0)),
            write_results(tmp_path, "b", full(100.004, 0.8, 1.0))]
    board = build_leaderboard([load_results(p) for p in dirs], splits=["single"])
    assert [row.cells[0].bold for row in board.rows] == [True, True]
    assert [row.cells[1].bold for row in board.rows] == [True, False]


def test_skipped_and_unevaluated_metrics_get_notes(tmp_path: Path) -> None:
    reason = "weights not installed: run `ttm-bench weights fetch i3d`"
    values = {k: v for k, v in full(0, 0.95, 3.0).items() if k[1] != "fvd16"}
    no_ad = {k: v for k, v in full(1000, 0.9, 0).items() if k[1] != "ad_dis"}
    dirs = [write_results(tmp_path, "ttm", full(900, 0.97, 5.0)),
            write_results(tmp_path, "static", values, skipped={"fvd16": reason}),
            write_results(tmp_path, "floor", no_ad)]
    board = build_leaderboard([load_results(p) for p in dirs])
    static, floor = board.rows[1], board.rows[2]
    skipped_cell, unevaluated_cell = static.cells[0], floor.cells[2]
    assert skipped_cell.value == "—" and unevaluated_cell.value == "—"
    assert board.notes[skipped_cell.notes[0] - 1] == f"FVD16 not computed for static: {reason}"
    assert board.notes[unevaluated_cell.notes[0] - 1] == "AD not evaluated for floor"
    assert static.cells[3].notes == skipped_cell.notes  # one note for both splits
    text = render_markdown(board)
    assert "| static | — [1] |" in text
    assert "1. FVD16 not computed for static: weights not installed: run \\`ttm-bench" in text


def test_incomplete_runs_are_flagged_and_never_best(tmp_path: Path) -> None:
    dirs = [write_results(tmp_path, "partial", full(500, 0.99, 1.0), n={"multi": 5, "all": 13}),
            write_results(tmp_path, "done", full(900, 0.95, 1.0))]
    board = build_leaderboard([load_results(p) for p in dirs])
    partial, done = board.rows
    assert len(partial.notes) == 1
    note = board.notes[partial.notes[0] - 1]
    assert note.startswith("partial is incomplete") and "multi-object 5/8" in note
    assert [c.notes for c in partial.cells[:3]] == [(), (), ()]
    assert all(c.notes == partial.notes for c in partial.cells[3:])
    assert not any(c.bold for c in partial.cells[3:]) and done.cells[3].bold
    assert partial.cells[0].bold  # the complete single split still competes
    assert f"| partial [{partial.notes[0]}] |" in render_markdown(board)


def test_metric_warnings_become_notes(tmp_path: Path) -> None:
    warning = "only 8 videos for 400-d features"
    d = write_results(tmp_path, "ttm", full(900, 0.97, 5.0), warnings={"fvd16": [warning]})
    board = build_leaderboard([load_results(d)])
    assert board.notes == (f"FVD16 for ttm: {warning}",)
    assert board.rows[0].cells[0].notes == (1,) and board.rows[0].cells[1].notes == ()


def test_different_benchmarks_are_refused(tmp_path: Path) -> None:
    other = {"name": "sav128", "version": "1", "sha256": "cd" * 32}
    dirs = [write_results(tmp_path, "ttm", full(1, 1, 1)),
            write_results(tmp_path, "static", full(1, 1, 1), benchmark=other)]
    with pytest.raises(TTMBenchError, match="different benchmarks") as info:
        build_leaderboard([load_results(p) for p in dirs])
    message = str(info.value)
    assert "ttm: synthetic@1 (sha256 abababababab" in message
    assert "static: sav128@1 (sha256 cdcdcdcdcdcd" in message
    assert "one leaderboard per benchmark" in message


def test_folders_without_benchmark_compare_only_with_each_other(tmp_path: Path) -> None:
    folder_a = write_results(tmp_path, "a", full(1, 1, 1, splits=("all",)), benchmark={})
    folder_b = write_results(tmp_path, "b", full(2, 1, 1, splits=("all",)), benchmark={})
    board = build_leaderboard([load_results(folder_a), load_results(folder_b)])
    assert board.benchmark is None and board.splits == ("all",)
    assert "without a benchmark" in render_markdown(board)
    on_bench = write_results(tmp_path, "c", full(1, 1, 1))
    with pytest.raises(TTMBenchError, match=r"a: no benchmark.*c: synthetic@1"):
        build_leaderboard([load_results(folder_a), load_results(on_bench)])


def test_different_presets_are_refused_unless_left_out(tmp_path: Path) -> None:
    dirs = [write_results(tmp_path, "ttm", full(1, 1, 1)),
            write_results(tmp_path, "static", full(1, 1, 1),
                          params={"ad_dis": {"backend": "raft"}})]
    results = [load_results(p) for p in dirs]
    with pytest.raises(TTMBenchError, match=r"metric 'ad_dis'.*different presets.*static"):
        build_leaderboard(results)
    board = build_leaderboard(results, metrics=["clipframe", "fvd16"])
    assert [c.metric for c in board.columns[:2]] == ["clipframe", "fvd16"]


@pytest.mark.parametrize("setting", [{"n_boot": 200}, {"seed": 1}, {"level": 0.9}])
def test_different_bootstrap_settings_are_refused(tmp_path: Path,
                                                  setting: dict[str, Any]) -> None:
    a = write_results(tmp_path, "a", full(10.0, 0.5, 1.0))
    b = write_results(tmp_path, "b", full(11.0, 0.6, 2.0), bootstrap=setting)
    with pytest.raises(TTMBenchError, match=r"different bootstrap settings: 95% percentile, "
                                            r"1000 resamples, seed 0 \(a\);.*--n-boot and --seed"):
        build_leaderboard([load_results(a), load_results(b)])


def test_split_and_metric_selection(three_runs: list[Path]) -> None:
    results = [load_results(p) for p in three_runs]
    board = build_leaderboard(results, splits=["all"], metrics=["ad_dis"])
    assert [(c.split, c.metric) for c in board.columns] == [("all", "ad_dis")]
    table = markdown_table(render_markdown(board))
    assert table[0] == ["Run (all samples)", "AD"]
    with pytest.raises(UnknownNameError, match="unknown split 'train'"):
        build_leaderboard(results, splits=["train"])
    with pytest.raises(UnknownNameError, match="Did you mean 'fvd16'"):
        build_leaderboard(results, metrics=["fvd"])


def test_default_metric_order_follows_the_registry(tmp_path: Path) -> None:
    values = {(s, m): 1.0 for s in SPLITS for m in ("ad_dis", "psnr", "clipframe", "fvd16")}
    board = build_leaderboard([load_results(write_results(tmp_path, "ttm", values))],
                              splits=["all"])
    assert [c.metric for c in board.columns] == ["fvd16", "clipframe", "ad_dis", "psnr"]
    board = build_leaderboard([load_results(write_results(tmp_path, "x", values))],
                              splits=["all"], metrics=["ad", "psnr"])
    assert [c.metric for c in board.columns] == ["ad_dis", "psnr"]


def test_single_split_benchmark_shows_all(tmp_path: Path) -> None:
    d = write_results(tmp_path, "ttm", full(1, 1, 1, splits=("single", "all")))
    board = build_leaderboard([load_results(d)])
    assert board.splits == ("all",)


def test_footer_names_each_metric_preset(three_runs: list[Path]) -> None:
    results = [load_results(p) for p in three_runs]
    text = render_markdown(build_leaderboard(results))
    for metric in ("fvd16", "clipframe", "ad_dis"):
        label, _, params = METRICS[metric]
        preset = Preset(metric, params)
        assert (f"- {label} (`{metric}`): preset `{preset.hash}` (version 1), params "
                f"`{json.dumps(params)}`") in text


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    dirs = [write_results(tmp_path, evil, full(1, 0.5, 1)),
            write_results(tmp_path, "ttm", full(2, 0.6, 1), skipped={})]
    page = render_html(build_leaderboard([load_results(p) for p in dirs]))
    assert "<script" not in page
    assert html_escaped(evil) in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<link" not in page and "<style>" in page
    assert '<th class="group" colspan="3">single-object</th>' in page
    assert '<strong>0.600</strong> <span class="ci">(0.594–0.606)</span>' in page


def html_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_markdown_escapes_run_names(tmp_path: Path) -> None:
    d = write_results(tmp_path, "a|b*c", full(1, 1, 1))
    text = render_markdown(build_leaderboard([load_results(d)]))
    assert "| a\\|b\\*c |" in text


def test_cli_writes_html_and_markdown(three_runs: list[Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "board.html"
    args = ["leaderboard", *map(str, three_runs), "--format", "html", "--out", str(out)]
    assert main(args) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["leaderboard", *map(str, three_runs), "--splits", "multi",
                 "--metrics", "clipframe,fvd16", "--out", "-"]) == 0
    table = markdown_table(capsys.readouterr().out)
    assert table[0] == ["Run (multi-object)", "CF↑", "FVD16↓"]


def test_cli_reports_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2
    assert "ttm-bench evaluate" in capsys.readouterr().err


def test_fvd_shows_its_n_and_is_not_ranked_across_different_n(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write_results(tmp_path, "a", full(500, 0.99, 1.0))
    monkeypatch.setitem(SPLITS, "multi", 6)  # another protocol's count, e.g. an edited file
    second = write_results(tmp_path, "b", full(400, 0.95, 1.0), n={"multi": 6})
    board = build_leaderboard([load_results(first), load_results(second)])
    a, b = board.rows
    assert a.cells[0].value == "500.00 [n=8]" and b.cells[3].value == "401.00 [n=6]"
    assert b.cells[0].bold and not a.cells[0].bold  # same n on single: ranked
    assert not a.cells[3].bold and not b.cells[3].bold  # n = 8 vs 6 on multi: not ranked
    note = board.notes[b.cells[3].notes[-1] - 1]
    assert note.startswith("FVD16 on multi-object was computed at different numbers of videos "
                           "for a, b")
    assert a.cells[4].bold  # other metrics on that split are still ranked
    assert "401.00 [n=6]" in render_html(board) and "500.00 [n=8]" in render_markdown(board)
