"""The study spec (YAML): what a pairwise human preference study compares and how.

```yaml
name: ttm-vs-i2v              # letters, digits, '.', '_', '-'
benchmark: ../bench           # paths are relative to the spec file
runs: {ttm: ../runs/ttm, base: ../runs/base}
pairs: [[ttm, base]]          # optional; default every pair of runs, in the order given
questions:                    # optional; default the paper's three
  - {id: text_alignment, label: Text align., text: Which video better matches the caption?}
raters_per_item: 5            # distinct raters per (pair, sample) item
raters: 6                     # personal invitations to create (>= raters_per_item)
samples: all                  # or an integer n: n samples drawn at random with `seed`
seed: 0
allow_tie: false              # the paper offers no tie
attention_checks: {kind: broken, rate: 0.1, max_failed_fraction: 0.0}   # or null
database: null                # SQLAlchemy URL; default SQLite in the study directory
instructions: null            # text of the raters' instructions panel; default from the above
```

Parsing reports every problem at once (`ValidationError`); checks that need the benchmark and the
runs on disk live in `ttm_bench.human.study`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.fields import BOOLEAN, INTEGER, LIST, NUMBER, OBJECT, STRING, FieldReader

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CHECK_KINDS = ("broken", "identical")


@dataclass(frozen=True)
class Question:
    """One question asked about every pair: `id` names it in the database, `label` in tables."""

    id: str
    label: str
    text: str


DEFAULT_QUESTIONS = (
    Question("text_alignment", "Text align.", "Which video better matches the caption?"),
    Question("motion_consistency", "Motion consist.",
             "Which video has more consistent, natural motion?"),
    Question("visual_quality", "Quality", "Which video has better visual quality?"),
)


@dataclass(frozen=True)
class AttentionChecks:
    """Attention-check items mixed into each rater's queue.

    kind: `broken` (a good video against a deliberately corrupted copy; the good one is right on
    every question) or `identical` (the same video twice; the right answer is a tie, so it
    needs `allow_tie`). rate: checks per regular item (0 < rate <= 1). A rater who fails more
    than `max_failed_fraction` of their answered checks is excluded from the analysis.
    """

    kind: str = "broken"
    rate: float = 0.1
    max_failed_fraction: float = 0.0


@dataclass(frozen=True)
class StudySpec:
    """A validated study spec; paths are absolute."""

    name: str
    benchmark: Path
    runs: dict[str, Path]
    pairs: tuple[tuple[str, str], ...]
    questions: tuple[Question, ...] = DEFAULT_QUESTIONS
    raters_per_item: int = 5
    raters: int = 5
    samples: int | None = None  # None: all samples
    seed: int = 0
    allow_tie: bool = False
    attention_checks: AttentionChecks | None = None
    database: str | None = None
    instructions: str | None = None  # None: `default_instructions`

    def instruction_lines(self) -> list[str]:
        """The paragraphs of the raters' instructions panel (plain text)."""
        text = self.instructions if self.instructions is not None else default_instructions(self)
        return [line.strip() for line in text.strip().splitlines() if line.strip()]

    def to_dict(self) -> dict[str, Any]:
        checks = self.attention_checks
        return {
            "name": self.name,
            "benchmark": str(self.benchmark),
            "runs": {k: str(v) for k, v in self.runs.items()},
            "pairs": [list(p) for p in self.pairs],
            "questions": [{"id": q.id, "label": q.label, "text": q.text} for q in self.questions],
            "raters_per_item": self.raters_per_item,
            "raters": self.raters,
            "samples": "all" if self.samples is None else self.samples,
            "seed": self.seed,
            "allow_tie": self.allow_tie,
            "attention_checks": None if checks is None else {
                "kind": checks.kind, "rate": checks.rate,
                "max_failed_fraction": checks.max_failed_fraction},
            "database": self.database,
            "instructions": self.instructions,
        }


def default_instructions(spec: StudySpec) -> str:
    """Instructions naming the study's questions and its tie policy."""
    ties = ("If the two videos are equally good on a question, choose \"About the same\"."
            if spec.allow_tie else "Ties are not allowed: for each question pick the video "
            "that is better, even if the difference is small.")
    criteria = "\n".join(f"• {q.label}: {q.text}" for q in spec.questions)
    return (f"You will compare two videos made from the same input image and caption.\n"
            f"Watch both clips to the end (they play together and loop) before answering.\n"
            f"For each question, choose the better video:\n{criteria}\n{ties}\n"
            f"Press Submit when every question is answered; the next comparison follows.")


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def _parse_questions(r: FieldReader) -> tuple[Question, ...]:
    raw = r.get("questions", LIST, None)
    if raw is None:
        return DEFAULT_QUESTIONS
    questions: list[Question] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            r.problem(f"questions[{i}]", "a question must be a mapping",
                      "write {id: ..., label: ..., text: ...}")
            continue
        q = r.nested(item, f"questions[{i}]")
        qid = q.get("id", STRING)
        text = q.get("text", STRING)
        label = q.get("label", STRING, qid)
        if qid is not None and not NAME_PATTERN.match(qid):
            q.problem("id", f"invalid question id {qid!r}",
                      "use letters, digits, '.', '_' and '-' (it names database rows)")
        if None not in (qid, text, label):
            questions.append(Question(qid, label, text))
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        r.problem("questions", f"duplicate question ids {ids}", "give each question its own id")
    if not raw:
        r.problem("questions", "no questions", "list at least one question or omit the field")
    return tuple(questions)


def _parse_pairs(r: FieldReader, runs: dict[str, Path]) -> tuple[tuple[str, str], ...]:
    raw = r.get("pairs", LIST, None)
    if raw is None:
        return tuple(itertools.combinations(runs, 2))
    pairs: list[tuple[str, str]] = []
    for i, pair in enumerate(raw):
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)):
            r.problem(f"pairs[{i}]", f"invalid pair {pair!r}", "write [run_a, run_b]")
            continue
        a, b = pair
        for name in (a, b):
            if name not in runs:
                r.problem(f"pairs[{i}]", f"unknown run {name!r}",
                          f"use one of the runs: {sorted(runs)}")
        if a == b:
            r.problem(f"pairs[{i}]", f"run {a!r} paired with itself", "pair two different runs")
        elif frozenset(pair) in {frozenset(p) for p in pairs}:
            r.problem(f"pairs[{i}]", f"pair {pair} listed twice", "list each pair once")
        else:
            pairs.append((a, b))
    return tuple(pairs)


def _parse_checks(r: FieldReader, allow_tie: bool) -> AttentionChecks | None:
    raw = r.get("attention_checks", OBJECT, None)
    if raw is None:
        return None
    c = r.nested(raw, "attention_checks")
    kind = c.get("kind", STRING, "broken")
    rate = c.get("rate", NUMBER, 0.1)
    max_failed = c.get("max_failed_fraction", NUMBER, 0.0)
    if kind not in CHECK_KINDS:
        c.problem("kind", f"unknown attention-check kind {kind!r}",
                  f"use one of {list(CHECK_KINDS)}")
    if kind == "identical" and not allow_tie:
        c.problem("kind", "identical-video checks need a tie answer",
                  "set allow_tie: true or use kind: broken")
    if not 0.0 < rate <= 1.0:
        c.problem("rate", f"rate must be in (0, 1], got {rate}", "e.g. 0.1")
    if not 0.0 <= max_failed < 1.0:
        c.problem("max_failed_fraction", f"must be in [0, 1), got {max_failed}",
                  "0 excludes a rater after one failed check")
    return AttentionChecks(kind, float(rate), float(max_failed))


def parse_spec(data: Any, file: str, base: Path) -> StudySpec:
    """Validate a parsed YAML spec; relative paths resolve against `base` (the spec's folder)."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ValidationError([Problem(file, "a study spec must be a YAML mapping",
                                       "see docs/human_study.md for the format")])
    r = FieldReader(data, file, problems)
    known = {"name", "benchmark", "runs", "pairs", "questions", "raters_per_item", "raters",
             "samples", "seed", "allow_tie", "attention_checks", "database", "instructions"}
    for key in sorted(set(data) - known):
        r.problem(str(key), f"unknown field {key!r}", f"remove it; known fields: {sorted(known)}")
    name = r.get("name", STRING)
    if name is not None and not NAME_PATTERN.match(name):
        r.problem("name", f"invalid study name {name!r}",
                  "use 1-64 letters, digits, '.', '_' and '-'")
    benchmark = r.get("benchmark", STRING)
    runs_raw = r.get("runs", OBJECT) or {}
    runs: dict[str, Path] = {}
    for run_name, path in runs_raw.items():
        if not isinstance(run_name, str) or not NAME_PATTERN.match(run_name):
            r.problem("runs", f"invalid run name {run_name!r}",
                      "use letters, digits, '.', '_' and '-'")
        elif not isinstance(path, str):
            r.problem(f"runs.{run_name}", "expected a path string", "give the run directory")
        else:
            runs[run_name] = _resolve(base, path)
    if "runs" in data and len(runs_raw) < 2:
        r.problem("runs", "a pairwise study needs at least two runs", "add another run")
    pairs = _parse_pairs(r, runs)
    if not pairs and len(runs) >= 2:
        r.problem("pairs", "no pairs to compare", "list at least one pair or omit the field")
    questions = _parse_questions(r)
    per_item = r.get("raters_per_item", INTEGER, 5)
    raters = r.get("raters", INTEGER, per_item)
    if per_item < 1:
        r.problem("raters_per_item", f"must be >= 1, got {per_item}", "the paper used 5")
    if raters < per_item:
        r.problem("raters", f"{raters} raters cannot give each item {per_item} distinct raters",
                  f"set raters >= raters_per_item ({per_item})")
    samples_raw = r.get("samples", STRING | INTEGER, "all")
    samples: int | None = None
    if isinstance(samples_raw, int):
        samples = samples_raw
        if samples < 1:
            r.problem("samples", f"must be 'all' or a positive integer, got {samples}",
                      "e.g. samples: 20")
    elif samples_raw != "all":
        r.problem("samples", f"must be 'all' or a positive integer, got {samples_raw!r}",
                  "e.g. samples: 20")
    seed = r.get("seed", INTEGER, 0)
    allow_tie = r.get("allow_tie", BOOLEAN, False)
    checks = _parse_checks(r, allow_tie)
    database = r.get("database", STRING, None)
    instructions = r.get("instructions", STRING, None)
    if problems:
        raise ValidationError(problems)
    return StudySpec(name=name, benchmark=_resolve(base, benchmark), runs=runs, pairs=pairs,
                     questions=questions, raters_per_item=per_item, raters=raters,
                     samples=samples, seed=seed, allow_tie=allow_tie, attention_checks=checks,
                     database=database, instructions=instructions)


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec YAML file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TTMBenchError(f"study spec {path} not found; write one (see "
                            "docs/human_study.md)") from exc
    except yaml.YAMLError as exc:
        raise TTMBenchError(f"study spec {path} is not valid YAML: {exc}") from exc
    return parse_spec(data, str(path), path.resolve().parent)
