"""Study specs and study directories: validation, creation, change detection, safe paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.human_study_fixtures import make_benchmark, make_run, make_study, write_spec
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.human.spec import DEFAULT_QUESTIONS, load_spec, parse_spec
from ttm_bench.human.study import Study, VideoRef, create_study


def _fields(problems: ValidationError) -> set[str]:
    return {p.field for p in problems.problems}


def test_defaults_follow_the_paper(tmp_path: Path) -> None:
    spec = parse_spec({"name": "s", "benchmark": "b", "runs": {"x": "rx", "y": "ry"}},
                      "spec.yaml", tmp_path)
    assert spec.questions == DEFAULT_QUESTIONS
    assert [q.label for q in spec.questions] == ["Text align.", "Motion consist.", "Quality"]
    assert spec.raters_per_item == 5 and spec.raters == 5
    assert spec.allow_tie is False and spec.attention_checks is None and spec.samples is None
    assert spec.pairs == (("x", "y"),)
    assert spec.runs["x"] == (tmp_path / "rx").resolve()


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = {"name": "bad name!", "benchmark": "b", "runs": {"x": "rx", "y": "ry"},
            "pairs": [["x", "z"], ["x", "x"]], "raters_per_item": 5, "raters": 3,
            "samples": "some", "colour": "red",
            "attention_checks": {"kind": "identical", "rate": 2.0},
            "questions": [{"id": "q", "text": "one"}, {"id": "r"}, {"id": "q", "text": "two"}]}
    with pytest.raises(ValidationError) as err:
        parse_spec(data, "spec.yaml", tmp_path)
    assert {"name", "pairs[0]", "pairs[1]", "raters", "samples", "colour",
            "attention_checks.kind", "attention_checks.rate", "questions[1].text",
            "questions"} <= _fields(err.value)
    assert "allow_tie" in str(err.value)


def test_spec_round_trips_through_to_dict(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path / "spec.yaml", samples=3, allow_tie=True,
                                attention_checks={"kind": "identical", "rate": 0.5}))
    assert parse_spec(spec.to_dict(), "again", Path("/")) == spec


def test_create_writes_items_tokens_and_assignments(tmp_path: Path) -> None:
    study = make_study(tmp_path, attention_checks={"kind": "broken", "rate": 0.5})
    regular = [i for i in study.items.values() if not i.is_check]
    checks = [i for i in study.items.values() if i.is_check]
    assert len(regular) == 4 and {i.pair for i in regular} == {("base", "ttm")}
    assert checks and all(i.expected == "a" and i.video_b.root == "@study" for i in checks)
    tokens = (study.root / "invitations.txt").read_text().splitlines()[1:]
    assert len(tokens) == 4 and (study.root / "invitations.txt").stat().st_mode & 0o777 == 0o600
    stored = (study.root / "study.json").read_text()
    assert all(line.split("\t")[1] not in stored for line in tokens)  # only digests stored
    token_of = dict(line.split("\t") for line in tokens)
    assert study.who(token_of["r002"]) == "r002" and study.who(token_of["admin"]) == "@admin"
    assert study.who("not-a-token") is None and study.who(None) is None
    store = study.open_store()
    queues = [store.queue(study.name, r) for r in study.raters]
    assert sum(len(q) for q in queues) == 4 * 2 + 3 * len(checks)
    assert Study.load(study.root).items == study.items


def test_sample_subset_is_seeded(tmp_path: Path) -> None:
    a = make_study(tmp_path / "a", samples=2, seed=3)
    b = make_study(tmp_path / "b", samples=2, seed=3)
    assert len(a.items) == 2 and a.items.keys() == b.items.keys()


def test_missing_videos_and_other_benchmark_versions_are_refused(tmp_path: Path) -> None:
    make_benchmark(tmp_path / "bench")
    make_benchmark(tmp_path / "bench2", captions={0: "another caption"})
    make_run(tmp_path / "ttm", tmp_path / "bench", "ttm", 40, skip=("s1",))
    make_run(tmp_path / "base", tmp_path / "bench2", "base", 140)
    spec = load_spec(write_spec(tmp_path / "spec.yaml"))
    with pytest.raises(ValidationError) as err:
        create_study(spec, tmp_path / "study")
    message = str(err.value)
    assert "no finished video for 1 sample(s): s1" in message
    assert "run 'base' was made on benchmark" in message
    assert not (tmp_path / "study").exists()


def test_study_refuses_changed_runs_and_foreign_paths(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    with pytest.raises(TTMBenchError, match="not a video of this study"):
        study.video_path(VideoRef("ttm", "../bench/s0.png"))
    with pytest.raises(TTMBenchError, match="not a video of this study"):
        study.video_path(VideoRef("ttm", "run.json"))
    video = tmp_path / "ttm" / "videos" / "s0.mp4"
    video.write_bytes(video.read_bytes() + b"\0")
    with pytest.raises(TTMBenchError, match="changed since"):
        study.video_path(VideoRef("ttm", "videos/s0.mp4"))
    with pytest.raises(ValidationError, match="changed since the study was created"):
        Study.load(study.root)


def test_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    spec = load_spec(tmp_path / "spec.yaml")
    with pytest.raises(TTMBenchError, match="not empty"):
        create_study(spec, study.root)
    data = json.loads((study.root / "study.json").read_text())
    assert data["spec"]["name"] == yaml.safe_load((tmp_path / "spec.yaml").read_text())["name"]


def test_identical_checks_show_one_video_twice_and_expect_a_tie(tmp_path: Path) -> None:
    study = make_study(tmp_path, allow_tie=True,
                       attention_checks={"kind": "identical", "rate": 0.3})
    checks = [i for i in study.items.values() if i.is_check]
    assert checks and all(i.video_a == i.video_b and i.expected == "tie" for i in checks)
    assert not (study.root / "checks").exists()


def test_broken_copy_is_obviously_worse_and_deterministic() -> None:
    import numpy as np

    from ttm_bench.human.attention import break_video

    t = np.arange(6, dtype=np.uint8)[:, None, None, None]
    x = np.arange(20, dtype=np.uint8)[None, None, :, None]
    video = np.broadcast_to(t * 20 + x * 5, (6, 18, 20, 3)).astype(np.uint8)
    broken = break_video(video, seed=1)
    assert broken.shape == video.shape and broken.dtype == np.uint8
    assert np.abs(broken.astype(float) - video).mean() > 30  # noise of σ = 60 grey levels
    np.testing.assert_array_equal(break_video(video, seed=1), broken)
    assert not np.array_equal(break_video(video, seed=2), broken)


def test_broken_check_video_is_written_beside_the_study(tmp_path: Path) -> None:
    from ttm_bench.video import probe_video

    study = make_study(tmp_path, attention_checks={"kind": "broken", "rate": 0.3})
    check = next(i for i in study.items.values() if i.is_check)
    info = probe_video(study.video_path(check.video_b))
    good = probe_video(study.video_path(check.video_a))
    assert (info.num_frames, info.height, info.width) == (good.num_frames, good.height,
                                                          good.width)


def test_study_refuses_a_changed_benchmark(tmp_path: Path) -> None:
    study = make_study(tmp_path)
    make_benchmark(tmp_path / "bench", captions={0: "a different caption"})  # rewritten
    with pytest.raises(ValidationError, match="the study was made on"):
        Study.load(study.root)


def test_instructions_default_to_the_questions_and_tie_policy(tmp_path: Path) -> None:
    make_benchmark(tmp_path / "bench")
    spec = load_spec(write_spec(tmp_path / "a.yaml"))
    text = "\n".join(spec.instruction_lines())
    assert "Watch both clips to the end" in text and "Ties are not allowed" in text
    assert all(q.text in text for q in DEFAULT_QUESTIONS)
    tie = load_spec(write_spec(tmp_path / "b.yaml", allow_tie=True))
    assert "About the same" in "\n".join(tie.instruction_lines())
    custom = load_spec(write_spec(tmp_path / "c.yaml", instructions="Look closely.\n\nBe fair.\n"))
    assert custom.instruction_lines() == ["Look closely.", "Be fair."]
    assert parse_spec(custom.to_dict(), "x", tmp_path).instructions == custom.instructions
    with pytest.raises(ValidationError, match="instructions"):
        load_spec(write_spec(tmp_path / "d.yaml", instructions=["not", "text"]))
