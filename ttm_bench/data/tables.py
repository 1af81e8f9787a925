"""Reading metadata tables (CSV, JSON, JSON Lines) into rows with their line numbers.

Builders and the importer accept a table of one row per video. Rows come back as dicts of
strings-or-JSON-values with the line (CSV, JSONL) or item index (JSON) they came from, so
problems can point at them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttm_bench import strict_json
from ttm_bench.errors import Problem, TTMBenchError, ValidationError

TABLE_SUFFIXES = (".csv", ".json", ".jsonl")


@dataclass(frozen=True)
class Row:
    """One table row; `line` is the 1-based line (CSV/JSONL) or item number (JSON)."""

    values: dict[str, Any]
    line: int


def read_table(path: Path) -> tuple[list[Row], list[Problem]]:
    """Rows of a `.csv` (header row), `.json` (list of objects) or `.jsonl` file.

    Raises `TTMBenchError` when the file cannot be read or has another suffix; returns a
    `Problem` per malformed row (invalid JSON, NaN or infinity).
    """
    file = str(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise TTMBenchError(f"{path}: unsupported table type; use one of "
                            f"{', '.join(TABLE_SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TTMBenchError(f"cannot read table {path}: {exc}; pass a UTF-8 table file") from exc
    rows: list[Row] = []
    problems: list[Problem] = []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            if None in row or None in row.values():
                problems.append(Problem(file, "row has a different number of cells than the "
                                        "header", "quote cells that contain commas",
                                        reader.line_num))
                continue
            rows.append(Row({k.strip(): v for k, v in row.items()}, reader.line_num))
    elif suffix == ".jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                _append_json_row(rows, problems, line, file, number)
    else:
        data = strict_json.loads(text, file, problems, fix="give a list of objects, one per video")
        if data is None:
            raise ValidationError(problems)
        if not isinstance(data, list):
            raise TTMBenchError(f"{path} must hold a JSON list of objects, one per video")
        for number, item in enumerate(data, start=1):
            _check_object(rows, problems, item, file, number)
    return rows, problems


def _append_json_row(rows: list[Row], problems: list[Problem], line: str, file: str,
                     number: int) -> None:
    item = strict_json.loads(line, file, problems, number, "write one JSON object per line")
    if item is None:
        return
    _check_object(rows, problems, item, file, number)


def _check_object(rows: list[Row], problems: list[Problem], item: Any, file: str,
                  number: int) -> None:
    if isinstance(item, dict):
        rows.append(Row(item, number))
    else:
        problems.append(Problem(file, "row is not a JSON object", "give one object per video",
                                number))


def pick_column(columns: set[str], explicit: str | None, candidates: tuple[str, ...]
                ) -> str | None:
    """The column to use: `explicit` if given (even when absent), else the first candidate
    present in `columns`, else None."""
    if explicit is not None:
        return explicit
    return next((c for c in candidates if c in columns), None)
