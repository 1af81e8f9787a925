"""`ttm-bench compare`: paired cells with known answers, pairing, refusals, formats, LaTeX."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttm_bench.cli import main
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.hashing import file_sha256
from ttm_bench.metrics import sample_features
from ttm_bench.metrics.base import Preset
from ttm_bench.metrics.fvd import frechet_distance_of_samples
from ttm_bench.metrics.registry import create_metric
from ttm_bench.metrics.sample_features import SampleFeatures, features_path
from ttm_bench.report.compare import build_comparison
from ttm_bench.report.compare_tables import ablation_table, render_markdown
from ttm_bench.report.latex import latex_escape, render_comparison, render_leaderboard
from ttm_bench.report.leaderboard import build_leaderboard
from ttm_bench.report.results import load_results
from ttm_bench.report.run_samples import load_run_samples

BENCH = {"name": "synthetic", "version": "1", "sha256": "ab" * 32}
#: name → (label, higher_is_better, preset params)
METRICS = {"clipframe": ("CLIPFrame", True, {"pairs": "all"}),
           "ad_dis": ("AD", None, {"backend": "dis"}),
           "fvd16": ("FVD16", False, {"num_frames": 16})}
IDS = [f"s{i:02d}" for i in range(30)]
SPLIT = {sid: ("single" if i % 2 == 0 else "multi") for i, sid in enumerate(IDS)}


def write_run(root: Path, run: str, values: dict[str, dict[str, float]] | None = None,
              features: tuple[np.ndarray, np.ndarray] | None = None, *,
              benchmark: dict | None = None, params: dict[str, dict] | None = None,
              features_preset: str | None = None, features_file: bool = True) -> Path:
    """A results directory as `ttm-bench evaluate` writes it.

    values: per-sample metric → sample id → value; features: (generated, reference) float
    [len(IDS), D] of `fvd16` for the samples IDS, in a features file recording
    `features_preset` (default: the right one) unless not `features_file` (as written before
    evaluation kept features). Aggregates are the means (no CI).
    """
    values = values or {}
    out = root / run.replace("/", "_")
    out.mkdir(parents=True)
    evaluated = [*values, *(["fvd16"] if features is not None else [])]
    presets = {m: Preset(m, (params or {}).get(m, METRICS[m][2])).to_dict() for m in evaluated}
    if "fvd16" in presets:  # compare rebuilds set-level metrics from their real preset
        presets["fvd16"] = create_metric("fvd16").preset.to_dict()
    rows = []
    for metric in evaluated:
        ids = list(values[metric]) if metric in values else IDS
        for split in ("single", "multi", "all"):
            chosen = [s for s in ids if split == "all" or SPLIT[s] == split]
            value = (None if not chosen else 1.0 if metric not in values
                     else float(np.mean([values[metric][s] for s in chosen])))
            rows.append({"run": run, "benchmark": "synthetic@1", "split": split,
                         "metric": metric, "value": value, "ci_low": None, "ci_high": None,
                         "n": len(chosen), "n_expected": len(chosen),
                         "preset_hash": presets[metric]["hash"]})
    results = {
        "run": run, "model": run, "benchmark": benchmark or BENCH, "code_version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00", "complete": True, "n_expected": len(IDS),
        "presets": presets,
        "metrics": {m: {"label": METRICS[m][0], "higher_is_better": METRICS[m][1]}
                    for m in evaluated},
        "skipped_metrics": {}, "warnings": {},
        "bootstrap": {"n_boot": 1000, "level": 0.95, "seed": 0, "method": "percentile"},
        "aggregate": rows,
    }
    per_sample = [{"sample_id": s, "split": SPLIT[s], "metric": m, "value": v}
                  for m, by_id in values.items() for s, v in by_id.items()]
    pd.DataFrame(per_sample, columns=["sample_id", "split", "metric", "value"]).to_parquet(
        out / "per_sample.parquet", index=False)
    pd.DataFrame(rows).to_parquet(out / "aggregate.parquet", index=False)
    if features is not None and features_file:
        sample_features.write(features_path(out, "fvd16"), SampleFeatures(
            "fvd16", features_preset or presets["fvd16"]["hash"], tuple(IDS),
            tuple(SPLIT[s] for s in IDS), *features))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    results.update(format_version=2, files={f: file_sha256(out / f) for f in files})
    (out / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return out


def shifted(seed: int, shift: float, ids: list[str] = IDS) -> dict[str, float]:
    """Per-sample values sharing a per-sample difficulty (seed 0) plus a shift and small noise."""
    difficulty = np.random.default_rng(0).normal(0.0, 1.0, len(IDS))
    noise = np.random.default_rng(seed).normal(0.0, 0.05, len(IDS))
    return {s: float(difficulty[i] + shift + noise[i]) for i, s in enumerate(IDS) if s in ids}


def compare(dirs: list[Path], baseline: str, **kwargs):
    return build_comparison([load_run_samples(d) for d in dirs], baseline, **kwargs)


def test_planted_shift_gives_delta_interval_and_directional_verdicts(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0), "ad_dis": shifted(2, 0.0)})
    better = write_run(tmp_path, "better", {"clipframe": shifted(3, 0.2),
                                            "ad_dis": shifted(4, -0.2)})
    same = write_run(tmp_path, "same", {"clipframe": shifted(5, 0.0), "ad_dis": shifted(6, 0.0)})
    result = compare([base, better, same], "base", n_boot=2000)
    assert result.splits == ("single", "multi", "all")
    assert result.family_size == 2 * 2 * 3
    cell = result.cell("better", "clipframe", "all")
    d = np.array(list(shifted(3, 0.2).values())) - np.array(list(shifted(1, 0.0).values()))
    assert cell.n_paired == 30
    assert cell.delta == pytest.approx(d.mean()) == pytest.approx(cell.run_value -
                                                                  cell.baseline_value)
    assert cell.ci_low < 0.2 < cell.ci_high and cell.ci_high - cell.ci_low < 0.1
    assert cell.p_value == pytest.approx(1 / 2001) and cell.test == "sign-flip permutation"
    assert cell.verdict == "better" and cell.marker == "**"  # Holm: 12 / 2001 < 0.01
    assert result.cell("better", "ad_dis", "single").verdict == "less motion"
    assert result.cell("same", "clipframe", "all").verdict == "no significant difference"
    adjusted = sorted(c.p_adjusted for c in result.cells)
    assert adjusted[0] == pytest.approx(12 / 2001)  # Holm: smallest p times the family size
    assert result.cell("better", "clipframe", "single").n_paired == 15


def test_lower_is_better_metric_reads_a_drop_as_better(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    generated, reference = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    base = write_run(tmp_path, "base", features=(generated + 3.0, reference))
    closer = write_run(tmp_path, "closer", features=(generated, reference))
    cell = compare([base, closer], "base", n_boot=300).cell("closer", "fvd16", "all")
    assert cell.baseline_value == pytest.approx(
        frechet_distance_of_samples(generated + 3.0, reference))
    assert cell.delta < 0 and cell.test == "paired bootstrap"
    assert cell.verdict == "better"


def test_fvd_of_a_run_with_itself_is_exactly_zero(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(30, 8)), rng.normal(size=(30, 8)))
    first = write_run(tmp_path, "first", features=features)
    twin = write_run(tmp_path, "twin", features=features)
    result = compare([first, twin], "first", n_boot=200)
    for split in result.splits:
        cell = result.cell("twin", "fvd16", split)
        assert (cell.delta, cell.ci_low, cell.ci_high, cell.p_value) == (0.0, 0.0, 0.0, 1.0)
        assert cell.verdict == "no significant difference"
    expected = frechet_distance_of_samples(*features)
    assert result.cell("twin", "fvd16", "all").run_value == pytest.approx(expected, abs=0)


def test_only_samples_in_both_runs_are_paired_and_the_rest_named(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0, IDS[:28])})
    run = write_run(tmp_path, "run", {"clipframe": shifted(2, 0.1, IDS[2:])})
    result = compare([base, run], "base")
    assert result.cell("run", "clipframe", "all").n_paired == 26
    gap = result.gaps[0]
    assert gap.only_in_baseline == ("s00", "s01") and gap.only_in_run == ("s28", "s29")
    text = render_markdown(result)
    assert "missing from run: s00, s01" in text and "missing from base: s28, s29" in text
    assert result.baseline_values[("clipframe", "all")] == pytest.approx(
        np.mean(list(shifted(1, 0.0, IDS[:28]).values())))


def test_different_benchmarks_or_presets_are_refused_naming_both(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0)})
    other = write_run(tmp_path, "other", {"clipframe": shifted(2, 0.0)},
                      benchmark={**BENCH, "sha256": "cd" * 32})
    assert main(["compare", str(base), str(other), "--baseline", "base", "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "different benchmarks" in err and "abababababab" in err and "cdcdcdcdcdcd" in err
    preset = write_run(tmp_path, "preset", {"clipframe": shifted(2, 0.0)},
                       params={"clipframe": {"pairs": "consecutive"}})
    with pytest.raises(TTMBenchError, match="different presets") as info:
        compare([base, preset], "base")
    hashes = {load_results(d).presets["clipframe"].hash for d in (base, preset)}
    assert all(h in str(info.value) for h in hashes)


def test_results_without_features_name_the_fix(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0)}, features=features)
    old = write_run(tmp_path, "old", {"clipframe": shifted(2, 0.0)}, features=features,
                    features_file=False)
    out = tmp_path / "out"
    assert main(["compare", str(base), str(old), "--baseline", "base", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "features/fvd16.npz is missing" in err and "re-run `ttm-bench evaluate`" in err
    assert "feature cache makes that cheap" in err
    assert main(["compare", str(base), str(old), "--baseline", "base", "--out", str(out),
                 "--metrics", "clipframe"]) == 0  # leaving FVD out works


def test_features_of_another_preset_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))
    base = write_run(tmp_path, "base", features=features)
    run = write_run(tmp_path, "run", features=features, features_preset="0" * 16)
    with pytest.raises(TTMBenchError, match="edited or mixed"):
        compare([base, run], "base")


def test_features_file_round_trip_and_checks(tmp_path: Path) -> None:
    original = SampleFeatures("fvd16", "ab" * 8, ("a", "b"),
                              ("single", "multi"), np.eye(2), np.ones((2, 2)))
    path = tmp_path / "f.npz"
    sample_features.write(path, original)
    back = sample_features.read(path)
    assert (back.metric, back.preset_hash, back.sample_ids, back.splits) == (
        "fvd16", "ab" * 8, ("a", "b"), ("single", "multi"))
    assert np.array_equal(back.generated, np.eye(2)) and back.generated.dtype == np.float64
    np.savez(path, **{**dict(np.load(path)), "generated": np.full((2, 2), np.nan)})
    with pytest.raises(TTMBenchError, match="NaN or inf"):
        sample_features.read(path)
    with pytest.raises(TTMBenchError, match="does not exist"):
        sample_features.read(tmp_path / "none.npz")
    path.write_bytes(b"not a zip")
    with pytest.raises(TTMBenchError, match="is not a features file"):
        sample_features.read(path)


def test_unknown_baseline_metric_or_split(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0)})
    run = write_run(tmp_path, "run", {"clipframe": shifted(2, 0.0), "ad_dis": shifted(3, 0)})
    with pytest.raises(UnknownNameError, match="baseline run"):
        compare([base, run], "bse")
    with pytest.raises(TTMBenchError, match="not evaluated for base"):
        compare([base, run], "base", metrics=["ad"])
    with pytest.raises(UnknownNameError):
        compare([base, run], "base", splits=["singel"])
    with pytest.raises(TTMBenchError, match="at least one other"):
        compare([base], "base")
    by_directory = compare([base, run], str(base) + "/")
    assert by_directory.baseline == "base" and [m.name for m in by_directory.metrics] == [
        "clipframe"]


def test_cli_writes_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0)})
    run = write_run(tmp_path, "run_a&b", {"clipframe": shifted(2, 0.1)})
    out = tmp_path / "out"
    assert main(["compare", str(base), str(run), "--baseline", "base", "--out", str(out),
                 "--format", "md,html,latex,csv,json", "--n-boot", "200", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "comparison.md").read_text()
    assert "Holm–Bonferroni adjusted over the 3 tests" in printed
    record = json.loads((out / "comparison.json").read_text())
    assert record["settings"]["n_boot"] == 200 and record["settings"]["seed"] == 3
    assert len(record["cells"]) == 3 and record["cells"][0]["run"] == "run_a&b"
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert float(rows[2]["delta"]) == pytest.approx(record["cells"][2]["delta"])
    assert "run\\_a\\&b" in (out / "comparison.tex").read_text()
    assert "run_a&amp;b" in (out / "comparison.html").read_text()


def test_bad_format_and_n_boot_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0)})
    run = write_run(tmp_path, "run", {"clipframe": shifted(2, 0.0)})
    args = ["compare", str(base), str(run), "--baseline", "base", "--out", str(tmp_path)]
    assert main([*args, "--format", "pdf"]) == 2
    assert "unknown format(s) pdf" in capsys.readouterr().err
    assert main([*args, "--n-boot", "0"]) == 2
    assert main([*args, "--seed", "-1"]) == 2
    assert main([*args[:2], *args[1:]]) == 2
    assert "appears in both" in capsys.readouterr().err
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main([*args[:-1], str(blocked)]) == 2
    assert "choose another --out" in capsys.readouterr().err


def test_ablation_layout_rows_cells_and_markers(tmp_path: Path) -> None:
    base = write_run(tmp_path, "ttm", {"clipframe": shifted(1, 0.0)})
    worse = write_run(tmp_path, "ttm-no-masked-attn", {"clipframe": shifted(2, -0.3)})
    table = ablation_table(compare([base, worse], "ttm", splits=["single", "multi"],
                                   n_boot=5000))
    assert table.runs == ("ttm", "ttm-no-masked-attn")
    assert [(c.split, c.metric) for c in table.columns] == [("single", "clipframe"),
                                                            ("multi", "clipframe")]
    baseline_cell, variant_cell = table.cells[0][0], table.cells[1][0]
    assert baseline_cell.bold and baseline_cell.delta is None
    assert variant_cell.delta.startswith("-0.") and variant_cell.marker == "***"
    assert not variant_cell.bold


def test_latex_escaping() -> None:
    assert latex_escape("a_b&c%$#{}~^\\") == (r"a\_b\&c\%\$\#\{\}\textasciitilde{}"
                                               r"\textasciicircum{}\textbackslash{}")
    assert latex_escape("Δ ↑ —") == r"$\Delta$ $\uparrow$ ---"


def _pdflatex(tex: Path) -> None:
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base "
                    "texlive-latex-recommended; .ci/run installs them)")
    done = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", tex.name],
                          cwd=tex.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tex.with_suffix(".pdf")).stat().st_size > 0


def test_latex_tables_compile(tmp_path: Path) -> None:
    runs = [write_run(tmp_path, name, {"clipframe": shifted(i, 0.1 * i), "ad_dis": shifted(
        i + 10, 0.05 * i)}) for i, name in enumerate(["base", "a_b&c %1", "x~y^z{}#$\\"])]
    comparison = compare(runs, "base", n_boot=200)
    board = build_leaderboard([load_results(d) for d in runs])
    tables = [render_comparison(comparison, "ablation", with_ci=True),
              render_comparison(comparison, "pairs", with_ci=True),
              render_comparison(comparison, "ablation"), render_leaderboard(board),
              render_leaderboard(board, with_ci=True)]
    assert r"\textbf{" in tables[0] and r"a\_b\&c \%1" in tables[0]
    assert tables[3].count(r"\toprule") == 1 and "$-$" in tables[1]
    document = tmp_path / "tables.tex"
    document.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n"
                        "\\usepackage[margin=1cm,landscape]{geometry}\n\\begin{document}\n"
                        + "\n".join(tables) + "\\end{document}\n", encoding="utf-8")
    _pdflatex(document)


def test_undefined_cells_stay_undefined(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", {"clipframe": shifted(1, 0.0, IDS[:1])})
    run = write_run(tmp_path, "run", {"clipframe": shifted(2, 0.0, IDS[1:2])})
    result = compare([base, run], "base")
    cell = result.cell("run", "clipframe", "all")
    assert cell.n_paired == 0 and math.isnan(cell.delta) and math.isnan(cell.p_adjusted)
    assert cell.verdict == "no significant difference" and result.family_size == 0
    assert "| — |" in render_markdown(result)


def test_leaderboard_latex_from_the_cli(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    dirs = [write_run(tmp_path, name, {"clipframe": shifted(i, 0.1 * i)})
            for i, name in enumerate(["low", "high_1"])]
    assert main(["leaderboard", *map(str, dirs), "--format", "latex", "--ci"]) == 0
    tex = capsys.readouterr().out
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\cmidrule(lr){2-3}" in tex
    high = next(line for line in tex.splitlines() if line.startswith(r"high\_1"))
    assert high.count(" & ") == 4 and r"\textbf{" in high  # value and CI per split, best bold


def test_a_changed_features_file_is_refused_by_its_manifest_hash(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(size=(30, 4)), rng.normal(size=(30, 4)))
    base = write_run(tmp_path, "base", features=features)
    run = write_run(tmp_path, "run", features=features)
    path = features_path(run, "fvd16")
    stored = sample_features.read(path)
    sample_features.write(path, SampleFeatures(
        "fvd16", stored.preset_hash, stored.sample_ids, stored.splits,
        stored.generated + 1.0, stored.reference))
    with pytest.raises(TTMBenchError, match="does not have the sha256"):
        compare([base, run], "base")


def test_features_keep_only_the_samples_given_splits() -> None:
    state = {"generated": {"a": np.zeros(2), "b": np.ones(2)},
             "reference": {"a": np.ones(2), "b": np.zeros(2)}}
    kept = SampleFeatures.from_state("fvd16", "h", state, {"b": "multi"})
    assert kept.sample_ids == ("b",) and kept.splits == ("multi",)
    assert np.array_equal(kept.generated, np.ones((1, 2)))
