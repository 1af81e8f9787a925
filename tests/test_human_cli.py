"""`ttm-bench study ...` end to end on a tiny study: create, rate, analyse, export, import."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.human_study_fixtures import make_benchmark, make_run, write_spec
from ttm_bench import cli
from ttm_bench.errors import TTMBenchError
from ttm_bench.human.rating import RatingSession
from ttm_bench.human.study import Study
from ttm_bench.human.votes_csv import export_votes, import_votes


@pytest.fixture(autouse=True)
def _study_commands_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parse with the study command group alone, independent of the other groups."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("ttm_bench.commands.study",))


def main(argv: list[str]) -> int:
    return cli.main(argv)


def _created(tmp_path: Path, capsys: pytest.CaptureFixture[str], **fields: object) -> Study:
    make_benchmark(tmp_path / "bench")
    make_run(tmp_path / "ttm", tmp_path / "bench", "ttm", 40)
    make_run(tmp_path / "base", tmp_path / "bench", "base", 140)
    spec = write_spec(tmp_path / "spec.yaml", pairs=[["ttm", "base"]], **fields)
    assert main(["study", "create", str(spec), "--out", str(tmp_path / "study")]) == 0
    assert "4 items" in capsys.readouterr().out
    return Study.load(tmp_path / "study")


def _rate_everything(study: Study, prefer: str = "a", check_answer: str | None = None) -> None:
    store = study.open_store()
    for rater in study.raters:
        session = RatingSession(study, store, rater)
        while (shown := session.next()) is not None:
            want = check_answer if shown.item.is_check and check_answer else prefer
            side = "left" if (want == "a") == shown.slot.a_on_left else "right"
            session.submit(shown, {q.id: side for q in study.questions}, 1.0)


def test_create_rate_analyze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = _created(tmp_path, capsys)
    _rate_everything(study, prefer="a")
    assert main(["study", "analyze", str(study.root), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "ttm vs. base" in out and "100.0%" in out
    prefs = pd.read_csv(tmp_path / "out" / "preferences.csv")
    assert (prefs["votes_a"] == 8).all() and (prefs["items_a"] == 4).all()


def test_export_import_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = _created(tmp_path, capsys)
    _rate_everything(study, prefer="b")
    csv = tmp_path / "votes.csv"
    assert main(["study", "export", str(study.root), "--out", str(csv)]) == 0
    exported = pd.read_csv(csv)
    assert len(exported) == 4 * 2 * 3 and set(exported["choice"]) == {"b"}
    # a fresh study directory (same runs) receives the votes collected elsewhere
    fresh = tmp_path / "fresh"
    assert main(["study", "create", str(tmp_path / "spec.yaml"), "--out", str(fresh)]) == 0
    assert main(["study", "import", str(fresh), str(csv)]) == 0
    assert "imported 8 submissions; skipped 0" in capsys.readouterr().out
    assert main(["study", "import", str(fresh), str(csv)]) == 0  # idempotent
    assert "imported 0 submissions; skipped 8" in capsys.readouterr().out
    again = tmp_path / "again.csv"
    fresh_study = Study.load(fresh)
    export_votes(fresh_study, fresh_study.open_store(), again)
    columns = ["rater", "item", "question", "choice", "a_on_left", "submitted_at"]
    pd.testing.assert_frame_equal(
        pd.read_csv(again)[columns].sort_values(columns).reset_index(drop=True),
        exported[columns].sort_values(columns).reset_index(drop=True))


def test_import_validates_the_whole_file_first(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    study = _created(tmp_path, capsys)
    item = next(iter(study.items))
    good = [("tiny-study", "crowd1", item, q.id, "a") for q in study.questions]
    bad = [("tiny-study", "crowd2", "nope", "text_alignment", "maybe")]
    path = tmp_path / "crowd.csv"
    pd.DataFrame(good + bad, columns=["study", "rater", "item", "question", "choice"]
                 ).to_csv(path, index=False)
    with pytest.raises(TTMBenchError) as err:
        import_votes(study, study.open_store(), path)
    assert "unknown item 'nope'" in str(err.value) and "invalid choice 'maybe'" in str(err.value)
    assert study.open_store().votes(study.name).empty
    pd.DataFrame(good, columns=["study", "rater", "item", "question", "choice"]
                 ).to_csv(path, index=False)
    assert import_votes(study, study.open_store(), path) == (1, 0)


def test_attention_checks_flow_into_exclusion(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    study = _created(tmp_path, capsys, attention_checks={"kind": "broken", "rate": 0.5})
    _rate_everything(study, prefer="a", check_answer="b")  # everyone fails every check
    assert main(["study", "analyze", str(study.root), "--out", str(tmp_path / "o")]) == 2
    assert "no votes to analyse" in capsys.readouterr().err
    assert main(["study", "analyze", str(study.root), "--out", str(tmp_path / "o"),
                 "--keep-all"]) == 0
    raters = pd.read_csv(tmp_path / "o" / "raters.csv")
    assert (raters["failed"] == raters["checks"]).all() and (raters["checks"] > 0).all()


def test_cli_reports_spec_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path / "spec.yaml", raters=1)
    assert main(["study", "create", str(spec), "--out", str(tmp_path / "s")]) == 2
    assert "raters_per_item" in capsys.readouterr().err
