"""Votes as CSV: export every vote of a study, import votes collected elsewhere.

Schema (one row per answer, header required):

    study, rater, item, sample, pair_a, pair_b, question, choice, a_on_left, submitted_at, source

`choice` is "a", "b" or "tie" relative to (pair_a, pair_b); `a_on_left` is true/false or empty
when unknown; `submitted_at` is ISO 8601 UTC. On import `study`, `rater`, `item`, `question`
and `choice` are required; `item` must be an item of the study (its id fixes the pair, so
`pair_a`/`pair_b`/`sample`, when given, must agree); the rest is optional. Imported answers go
through the same store call as the app's, so re-importing a file records nothing twice.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ttm_bench.atomic import write_text
from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.human.spec import NAME_PATTERN
from ttm_bench.human.store import CHOICES, Answer, VotesStore, votes
from ttm_bench.human.study import Study

CSV_COLUMNS = ("study", "rater", "item", "sample", "pair_a", "pair_b", "question", "choice",
               "a_on_left", "submitted_at", "source")
REQUIRED_COLUMNS = ("study", "rater", "item", "question", "choice")


def study_votes(study: Study, store: VotesStore) -> pd.DataFrame:
    """Every vote of `study` with its item's sample, pair and expected answer (for checks).

    Columns: `CSV_COLUMNS` + `expected`; `submitted_at` as float Unix seconds.
    """
    raw = store.votes(study.name)
    items = [study.items[i] for i in raw["item"]]
    table = raw.assign(sample=[i.sample for i in items], pair_a=[i.pair[0] for i in items],
                       pair_b=[i.pair[1] for i in items], expected=[i.expected for i in items])
    return table[[*CSV_COLUMNS, "expected"]]


def _csv_table(study: Study, store: VotesStore) -> pd.DataFrame:
    table = study_votes(study, store).drop(columns="expected")
    table["submitted_at"] = [datetime.fromtimestamp(t, UTC).isoformat() for t in
                             table["submitted_at"]]
    return table


def votes_csv(study: Study, store: VotesStore) -> str:
    """Every vote of `study` as CSV text in the schema above (what `import_votes` reads back);
    the admin page's download and `study export` both write exactly this."""
    return _csv_table(study, store).to_csv(index=False)


def export_votes(study: Study, store: VotesStore, path: str | Path) -> int:
    """Write every vote of `study` to CSV at `path` (see `votes_csv`); return the row count."""
    table = _csv_table(study, store)
    write_text(path, table.to_csv(index=False))
    return len(table)


def _parse_bool(value: object) -> bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _parse_time(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    stamp = datetime.fromisoformat(str(value))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _check_row(study: Study, row: dict[str, object], file: str, line: int,
               problems: list[Problem]) -> None:
    def add(field: str, message: str, fix: str) -> None:
        problems.append(Problem(file, message, fix, line, field))

    questions = {q.id for q in study.questions}
    if row["study"] != study.name:
        add("study", f"study {row['study']!r} is not {study.name!r}",
            "import only this study's votes")
    if not NAME_PATTERN.match(str(row["rater"])):
        add("rater", f"invalid rater id {row['rater']!r}",
            "use letters, digits, '.', '_' and '-'")
    item = study.items.get(str(row["item"]))
    if item is None:
        add("item", f"unknown item {row['item']!r}", "use item ids from `study export`")
    else:
        for key, value in (("pair_a", item.pair[0]), ("pair_b", item.pair[1]),
                           ("sample", item.sample)):
            given = row.get(key)
            if isinstance(given, str) and given and given != value:
                add(key, f"{key} {given!r} disagrees with item {item.id!r} ({value!r})",
                    "fix the item id or the pair")
    if row["question"] not in questions:
        add("question", f"unknown question {row['question']!r}", f"use one of {sorted(questions)}")
    if row["choice"] not in CHOICES or (row["choice"] == "tie" and not study.spec.allow_tie):
        add("choice", f"invalid choice {row['choice']!r}",
            "use a or b (and tie only when the study allows ties)")
    source = row.get("source")
    if isinstance(source, str) and len(source) > votes.c.source.type.length:
        add("source", f"source {source[:40]!r} is longer than {votes.c.source.type.length} "
            "characters", "shorten it")
    for key, parse in (("a_on_left", _parse_bool), ("submitted_at", _parse_time)):
        try:
            parse(row.get(key))
        except ValueError as exc:
            add(key, str(exc), "leave it empty or fix the value")


def import_votes(study: Study, store: VotesStore, path: str | Path) -> tuple[int, int]:
    """Add the votes of a CSV file to `study`; return (submissions recorded, duplicates skipped).

    The whole file is validated first; nothing is written if any row is invalid. A (rater,
    item) whose answers are already stored is skipped as a duplicate (see `VotesStore.submit`).
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise TTMBenchError(f"votes file {path} not found") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TTMBenchError(f"votes file {path} is not a readable CSV ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise TTMBenchError(f"votes file {path} lacks column(s) {missing}; expected the header "
                            f"{','.join(CSV_COLUMNS)}")
    problems: list[Problem] = []
    rows = table.to_dict("records")
    for line, row in enumerate(rows, start=2):
        _check_row(study, row, str(path), line, problems)
    groups: dict[tuple[str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((str(row["rater"]), str(row["item"])), []).append(row)
    questions = {q.id for q in study.questions}
    for (rater, item), group in groups.items():
        asked = [r["question"] for r in group]
        if sorted(asked) != sorted(questions):
            problems.append(Problem(str(path), f"rater {rater!r} item {item!r} answers "
                                    f"{sorted(asked)}, not each of {sorted(questions)} once",
                                    "give one row per question for every (rater, item)"))
    if problems:
        raise ValidationError(problems)
    recorded = duplicates = 0
    for (rater, item), group in groups.items():
        answers = [Answer(str(r["question"]), str(r["choice"])) for r in group]
        ok = store.submit(study.name, rater, item, answers,
                          shown={a.question: a.choice for a in answers},
                          a_on_left=_parse_bool(group[0].get("a_on_left")), watch_seconds=None,
                          source=str(group[0].get("source") or "import"),
                          submitted_at=_parse_time(group[0].get("submitted_at")))
        recorded += ok
        duplicates += not ok
    return recorded, duplicates
