"""The issue's "done when": a study from two runs of the synthetic demo benchmark, rated through
the app's session logic, analysed into the paper-style table — all through the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.human.rating import RatingSession
from ttm_bench.human.study import Study


def test_study_of_two_demo_runs(small_bench: Benchmark, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    for model in ("ken-burns", "static"):
        assert main(["generate", "--bench", str(small_bench.root), "--model", model,
                     "--out", str(tmp_path / model), "--quiet"]) == 0
    spec = tmp_path / "study.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "demo", "benchmark": str(small_bench.root),
        "runs": {"ken-burns": "ken-burns", "static": "static"},
        "raters_per_item": 3, "raters": 3,
        "attention_checks": {"kind": "broken", "rate": 0.25}}))
    assert main(["study", "create", str(spec), "--out", str(tmp_path / "study")]) == 0
    study = Study.load(tmp_path / "study")
    store = study.open_store()
    for rater in study.raters:  # raters prefer the moving video, and pass the checks
        session = RatingSession(study, store, rater)
        while (shown := session.next()) is not None:
            side = "left" if shown.slot.a_on_left else "right"  # model A: ken-burns / good
            session.submit(shown, {q.id: side for q in study.questions}, 1.0)
    capsys.readouterr()
    assert main(["study", "analyze", str(study.root), "--out", str(tmp_path / "out")]) == 0
    assert "ken-burns vs. static" in capsys.readouterr().out
    report = (tmp_path / "out" / "report.md").read_text()
    n = len(small_bench.samples)
    assert f"| ken-burns vs. static |{f' 100.0% ({n} of {n} decided) |' * 3}" in report
    prefs = pd.read_csv(tmp_path / "out" / "preferences.csv")
    assert (prefs["items"] == len(small_bench.samples)).all()
    assert (pd.read_csv(tmp_path / "out" / "raters.csv")["failed"] == 0).all()
