"""Study directories: create one from a spec, load it, and refuse it when its inputs changed.

A study directory holds `study.json` (the spec, the items, the sha256 of every video an item
shows, token digests), `invitations.txt` (the plaintext tokens, written once, for the
organiser), `checks/` (broken videos of attention checks) and, by default, `votes.sqlite`.
`submissions.jsonl` is the write-ahead journal of every submission (see
`ttm_bench.human.journal`). `study.json` is written last, so a directory without it is an
unfinished creation.

Every video is named by a root (a run name, or `@study` for the study directory) and a path
inside that root; `Study.video_path` resolves it, refuses anything outside the root, and checks
the file still has the sha256 recorded at creation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ttm_bench.atomic import write_json
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.sample import Sample
from ttm_bench.data.verification import open_benchmark
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.generation.run import RUN_FILE, RunDir
from ttm_bench.hashing import file_sha256
from ttm_bench.human.assignment import Slot, assign, checks_per_rater
from ttm_bench.human.attention import write_broken_copy
from ttm_bench.human.journal import Journal
from ttm_bench.human.spec import Question, StudySpec, parse_spec
from ttm_bench.human.store import VotesStore, sqlite_url
from ttm_bench.human.tokens import find_holder, new_token, token_digest, write_invitations

STUDY_FILE = "study.json"
INVITATIONS_FILE = "invitations.txt"
DATABASE_FILE = "votes.sqlite"
JOURNAL_FILE = "submissions.jsonl"
CHECKS_DIR = "checks"
STUDY_ROOT = "@study"
ADMIN = "@admin"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class VideoRef:
    """A video by root name (a run, or `@study`) and POSIX path inside that root."""

    root: str
    path: str

    @property
    def key(self) -> str:
        return f"{self.root}/{self.path}"


@dataclass(frozen=True)
class Item:
    """One rating item: sample `sample` shown by runs `pair` = (a, b).

    `expected` is set for attention checks only: the right answer ("a" or "tie") on every
    question.
    """

    id: str
    sample: str
    pair: tuple[str, str]
    video_a: VideoRef
    video_b: VideoRef
    expected: str | None = None

    @property
    def is_check(self) -> bool:
        return self.expected is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "sample": self.sample, "pair": list(self.pair),
                "video_a": [self.video_a.root, self.video_a.path],
                "video_b": [self.video_b.root, self.video_b.path], "expected": self.expected}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Item:
        return cls(d["id"], d["sample"], (d["pair"][0], d["pair"][1]), VideoRef(*d["video_a"]),
                   VideoRef(*d["video_b"]), d.get("expected"))


class Study:
    """A loaded study directory."""

    def __init__(self, root: Path, data: dict[str, Any]):
        self.root = root
        self.data = data
        self.spec: StudySpec = parse_spec(data["spec"], str(root / STUDY_FILE), root)
        self.items: dict[str, Item] = {d["id"]: Item.from_dict(d) for d in data["items"]}

    @classmethod
    def load(cls, root: str | Path, *, verify: bool = True) -> Study:
        """Read `study.json`; with `verify`, refuse a study whose runs changed since creation."""
        root = Path(root).resolve()
        path = root / STUDY_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise TTMBenchError(f"{path} not found: {root} is not a study directory (create "
                                "one with `ttm-bench study create SPEC.yaml --out DIR`)") from exc
        except json.JSONDecodeError as exc:
            raise TTMBenchError(f"{path} is corrupt ({exc}); recreate the study") from exc
        if data.get("format") != FORMAT_VERSION:
            raise TTMBenchError(f"{path} has format {data.get('format')!r}, this version reads "
                                f"{FORMAT_VERSION}; recreate the study with this version")
        study = cls(root, data)
        if verify:
            study.verify()
        return study

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def questions(self) -> tuple[Question, ...]:
        return self.spec.questions

    @property
    def database_url(self) -> str:
        return self.spec.database or sqlite_url(self.root / DATABASE_FILE)

    @cached_property
    def benchmark(self) -> Benchmark:
        return Benchmark.load(self.spec.benchmark)

    def sample(self, sample_id: str) -> Sample:
        return self.benchmark.sample(sample_id)

    @property
    def journal(self) -> Journal:
        return Journal(self.root / JOURNAL_FILE)

    def slots(self) -> list[Slot]:
        """Every rater's queue as recorded at creation."""
        return [Slot(rater, pos, item, a_on_left) for rater, queue in self.data["queues"].items()
                for pos, (item, a_on_left) in enumerate(queue)]

    def open_store(self) -> VotesStore:
        """The votes database, holding this study's queues (restored if the database is new)."""
        store = VotesStore(self.database_url)
        store.ensure_assignments(self.name, self.slots())
        return store

    def who(self, token: str | None) -> str | None:
        """The rater id holding `token`, `ADMIN` for the admin token, or None."""
        return find_holder(token, {**self.data["raters"], ADMIN: self.data["admin"]})

    @property
    def raters(self) -> list[str]:
        return sorted(self.data["raters"])

    def _root_dir(self, root: str) -> Path:
        if root == STUDY_ROOT:
            return self.root
        if root not in self.spec.runs:
            raise TTMBenchError(f"{STUDY_FILE} names unknown video root {root!r}; recreate "
                                "the study")
        return self.spec.runs[root]

    def video_path(self, ref: VideoRef, *, check_hash: bool = True) -> Path:
        """The file of `ref`, guaranteed inside its root and unchanged since creation."""
        base = self._root_dir(ref.root).resolve()
        path = (base / ref.path).resolve()
        if not path.is_relative_to(base) or ref.key not in self.data["files"]:
            raise TTMBenchError(f"refusing to serve {ref.key}: not a video of this study")
        if not path.is_file():
            raise TTMBenchError(f"video {path} of study {self.name!r} is missing; restore the "
                                "run or create a new study")
        if check_hash and file_sha256(path) != self.data["files"][ref.key]:
            raise TTMBenchError(f"video {path} changed since study {self.name!r} was created; "
                                "votes on old and new videos must not be mixed: restore the "
                                "run or create a new study")
        return path

    def verify(self) -> None:
        """Raise if the benchmark's recorded sha256, any run's run.json or any study video
        changed since creation."""
        problems: list[Problem] = []
        recorded = self.data["benchmark"]["sha256"]
        if self.benchmark.info.sha256 != recorded:
            problems.append(Problem(str(self.spec.benchmark), f"benchmark is now "
                                    f"{self.benchmark.info.tag} (sha256 "
                                    f"{self.benchmark.info.sha256[:12]}…), the study was made on "
                                    f"sha256 {recorded[:12]}…", "restore the benchmark the "
                                    "runs were made on, or create a new study"))
        for name, expected in self.data["run_files"].items():
            path = self.spec.runs[name] / RUN_FILE
            if not path.is_file() or file_sha256(path) != expected:
                problems.append(Problem(str(path), f"run {name!r} changed since the study was "
                                        "created", "restore the run or create a new study"))
        for key, expected in tqdm(sorted(self.data["files"].items()), desc="verify study videos",
                                  unit="video", leave=False, disable=len(self.data["files"]) < 50):
            root, _, rel = key.partition("/")
            path = self._root_dir(root) / rel
            if not path.is_file() or file_sha256(path) != expected:
                problems.append(Problem(str(path), "video missing or changed since the study "
                                        "was created", "restore it or create a new study"))
        if problems:
            raise ValidationError(problems)


def _check_runs(spec: StudySpec, bench: Benchmark, problems: list[Problem]) -> dict[str, RunDir]:
    runs: dict[str, RunDir] = {}
    for name, root in spec.runs.items():
        run = RunDir(root)
        try:
            info = run.read_info()
        except ValidationError as exc:  # a damaged run.json: its own problems, each with a fix
            problems.extend(exc.problems)
            continue
        except TTMBenchError as exc:
            problems.append(Problem(str(root), str(exc), "point the run to a run directory",
                                    field=f"runs.{name}"))
            continue
        got = info.benchmark
        if got.get("sha256") != bench.info.sha256:
            problems.append(Problem(
                str(run.info_path), f"run {name!r} was made on benchmark "
                f"{got.get('name')}@{got.get('version')} (sha256 {str(got.get('sha256'))[:12]}…), "
                f"the study uses {bench.info.tag} (sha256 {bench.info.sha256[:12]}…)",
                "compare runs of the same benchmark version", field="benchmark"))
            continue
        runs[name] = run
    return runs


def _select_samples(spec: StudySpec, bench: Benchmark, problems: list[Problem]) -> list[str]:
    ids = [s.id for s in bench.samples]
    if spec.samples is None:
        return ids
    if spec.samples > len(ids):
        problems.append(Problem("spec", f"asks for {spec.samples} samples, benchmark "
                                f"{bench.info.tag} has {len(ids)}",
                                f"set samples to at most {len(ids)} or 'all'", field="samples"))
        return ids
    chosen = np.random.default_rng(spec.seed).choice(len(ids), size=spec.samples, replace=False)
    return [ids[i] for i in sorted(chosen)]


def _regular_items(spec: StudySpec, runs: dict[str, RunDir], sample_ids: list[str],
                   problems: list[Problem]) -> list[Item]:
    items: list[Item] = []
    missing: dict[str, list[str]] = {}
    for a, b in spec.pairs:
        for sid in sample_ids:
            for name in (a, b):
                if name in runs and not runs[name].is_finished(sid):
                    missing.setdefault(name, []).append(sid)
            ref_a = VideoRef(a, f"videos/{sid}.mp4")
            ref_b = VideoRef(b, f"videos/{sid}.mp4")
            items.append(Item(f"{a}-vs-{b}:{sid}", sid, (a, b), ref_a, ref_b))
    for name, sids in missing.items():
        unique = sorted(set(sids))
        problems.append(Problem(str(runs[name].videos), f"run {name!r} has no finished video "
                                f"for {len(unique)} sample(s): {', '.join(unique[:5])}"
                                f"{' …' if len(unique) > 5 else ''}",
                                "finish the run with `ttm-bench generate` (it resumes) or "
                                "choose a sample subset", field=f"runs.{name}"))
    return items


def _check_items(spec: StudySpec, regular: list[Item], out: Path, runs: dict[str, RunDir]
                 ) -> list[Item]:
    checks = spec.attention_checks
    if checks is None:
        return []
    count = checks_per_rater(len(regular), spec.raters, spec.raters_per_item, checks.rate)
    rng = np.random.default_rng(spec.seed + 1)
    sources = [regular[i] for i in rng.choice(len(regular), size=count,
                                              replace=count > len(regular))]
    items = []
    for k, src in enumerate(tqdm(sources, desc="attention checks", unit="video")):
        item_id = f"check-{k:03d}"
        good = src.video_a
        if checks.kind == "identical":
            items.append(Item(item_id, src.sample, src.pair, good, good, expected="tie"))
            continue
        broken = VideoRef(STUDY_ROOT, f"{CHECKS_DIR}/{item_id}.mp4")
        write_broken_copy(runs[good.root].root / good.path, out / broken.path,
                          seed=spec.seed * 1000 + k)
        items.append(Item(item_id, src.sample, src.pair, good, broken, expected="a"))
    return items


def create_study(spec: StudySpec, out: str | Path) -> Study:
    """Validate `spec` against its benchmark and runs, and write a new study directory `out`.

    Raises `ValidationError` listing every problem (missing videos, runs of another benchmark
    version, too few samples, ...) before anything is written.
    """
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        raise TTMBenchError(f"study directory {out} is not empty; choose a new --out (a study "
                            "is created once; its tokens and assignments must not change)")
    bench, _ = open_benchmark(spec.benchmark)  # refuse a benchmark whose content changed
    problems: list[Problem] = []
    runs = _check_runs(spec, bench, problems)
    sample_ids = _select_samples(spec, bench, problems)
    regular = _regular_items(spec, runs, sample_ids, problems)
    if problems:
        raise ValidationError(problems)
    out.mkdir(parents=True, exist_ok=True)
    checks = _check_items(spec, regular, out, runs)
    study_dirs = {**{n: r.root for n, r in runs.items()}, STUDY_ROOT: out}
    refs = {ref for item in regular + checks for ref in (item.video_a, item.video_b)}
    files = {ref.key: file_sha256(study_dirs[ref.root] / ref.path)
             for ref in tqdm(sorted(refs, key=lambda r: r.key), desc="hash videos",
                             unit="video", leave=False)}
    raters = [f"r{i:03d}" for i in range(1, spec.raters + 1)]
    tokens = {r: new_token() for r in [*raters, "admin"]}
    data = {
        "format": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec": spec.to_dict(),
        "benchmark": {"name": bench.info.name, "version": bench.info.version,
                      "sha256": bench.info.sha256},
        "run_files": {n: file_sha256(r.info_path) for n, r in runs.items()},
        "items": [item.to_dict() for item in regular + checks],
        "files": files,
        "raters": {r: token_digest(tokens[r]) for r in raters},
        "admin": token_digest(tokens["admin"]),
    }
    slots = assign([i.id for i in regular], raters, spec.raters_per_item, spec.seed,
                   checks=[i.id for i in checks])
    data["queues"] = {r: [[s.item, s.a_on_left] for s in slots if s.rater == r] for r in raters}
    study = Study(out, data)
    store = VotesStore(study.database_url)
    try:
        if store.has_assignments(spec.name):
            raise TTMBenchError(f"database {store.display_url} already holds a study named "
                                f"{spec.name!r}; give the new study another name")
        store.ensure_assignments(spec.name, slots)
    finally:
        store.close()
    write_invitations(out / INVITATIONS_FILE, tokens)
    write_json(out / STUDY_FILE, data)
    return study
