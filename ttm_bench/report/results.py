"""Read and validate a results directory written by `ttm-bench evaluate`.

Only `results.json` is read: it holds the aggregate rows (the same as `aggregate.parquet`) plus
the presets, metric labels and directions, skipped metrics and provenance a report needs.
Every problem in the file is reported at once, each naming the field and the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttm_bench.errors import Problem, TTMBenchError, ValidationError

RESULTS_FILE = "results.json"
_REWRITE = "rerun `ttm-bench evaluate` to rewrite the results directory"


@dataclass(frozen=True)
class BenchmarkRef:
    """The benchmark a run was evaluated on; `sha256` is its content hash."""

    name: str
    version: str
    sha256: str

    @property
    def tag(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class PresetRecord:
    """The preset that produced a metric's numbers."""

    metric: str
    version: str
    params: Mapping[str, Any]
    hash: str


@dataclass(frozen=True)
class MetricInfo:
    """Display label and direction (True: higher is better, None: no better direction)."""

    label: str
    higher_is_better: bool | None


@dataclass(frozen=True)
class AggregateRow:
    """One metric over one split; NaN value/CI when undefined (e.g. no sample evaluated)."""

    split: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    n_expected: int
    preset_hash: str

    @property
    def complete(self) -> bool:
        return self.n >= self.n_expected


@dataclass(frozen=True)
class Results:
    """One evaluated run. `benchmark` is None for a folder of videos evaluated without one.

    ci_level: the bootstrap confidence level of the intervals, when recorded.
    warnings: metric → warnings raised while computing it (e.g. fewer samples than dimensions).
    """

    directory: Path
    run: str
    model: str | None
    benchmark: BenchmarkRef | None
    code_version: str
    created: str
    complete: bool
    n_expected: int
    presets: Mapping[str, PresetRecord]
    metrics: Mapping[str, MetricInfo]
    skipped_metrics: Mapping[str, str]
    warnings: Mapping[str, tuple[str, ...]]
    ci_level: float | None
    aggregate: tuple[AggregateRow, ...]

    def row(self, split: str, metric: str) -> AggregateRow | None:
        return next((r for r in self.aggregate if r.split == split and r.metric == metric), None)

    @property
    def splits(self) -> list[str]:
        """Split names in the order of the aggregate rows (including `all`)."""
        return list(dict.fromkeys(r.split for r in self.aggregate))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _is_warning_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(w, str) for w in v) for v in value.values())


_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "nonempty": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "opt_str": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "opt_bool": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "count": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "opt_number": (lambda v: v is None or _is_number(v), "a number or null"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "opt_object": (lambda v: v is None or isinstance(v, dict), "an object or null"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "str_map": (_is_str_map, "an object of strings"),
    "warning_map": (_is_warning_map, "an object of lists of strings"),
}


class _Fields:
    """Typed field access that records a `Problem` per missing or mistyped field."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str, fix: str = _REWRITE) -> None:
        self.problems.append(Problem(str(self.path), message, fix, field=where))

    def get(self, obj: Mapping[str, Any], key: str, kind: str, where: str,
            default: Any = ...) -> Any:
        """`obj[key]` if it has `kind`; otherwise record a problem and return None."""
        field = f"{where}.{key}" if where else key
        if key not in obj:
            if default is not ...:
                return default
            self.problem(field, "missing field")
            return None
        check, description = _KINDS[kind]
        if not check(obj[key]):
            self.problem(field, f"must be {description}, got {obj[key]!r}")
            return None
        return obj[key]


def _as_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError([Problem(str(path), f"invalid JSON: {exc.msg}", _REWRITE,
                                       line=exc.lineno)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TTMBenchError(f"cannot read {path}: {exc}") from None


def _parse_benchmark(fields: _Fields, data: Mapping[str, Any]) -> BenchmarkRef | None:
    raw = fields.get(data, "benchmark", "opt_object", "")
    if raw is None:
        return None
    before = len(fields.problems)
    ref = BenchmarkRef(*(fields.get(raw, key, "nonempty", "benchmark")
                         for key in ("name", "version", "sha256")))
    return ref if len(fields.problems) == before else None


def _parse_presets(fields: _Fields, data: Mapping[str, Any]) -> dict[str, PresetRecord]:
    presets = {}
    for key, raw in (fields.get(data, "presets", "object", "") or {}).items():
        where = f"presets.{key}"
        if not isinstance(raw, dict):
            fields.problem(where, f"must be an object, got {raw!r}")
            continue
        before = len(fields.problems)
        preset = PresetRecord(fields.get(raw, "metric", "nonempty", where),
                              fields.get(raw, "version", "nonempty", where),
                              fields.get(raw, "params", "object", where),
                              fields.get(raw, "hash", "nonempty", where))
        if len(fields.problems) == before:
            presets[key] = preset
    return presets


def _parse_metrics(fields: _Fields, data: Mapping[str, Any]) -> dict[str, MetricInfo]:
    metrics = {}
    for key, raw in (fields.get(data, "metrics", "object", "") or {}).items():
        where = f"metrics.{key}"
        if not isinstance(raw, dict):
            fields.problem(where, f"must be an object, got {raw!r}")
            continue
        before = len(fields.problems)
        info = MetricInfo(fields.get(raw, "label", "nonempty", where),
                          fields.get(raw, "higher_is_better", "opt_bool", where))
        if len(fields.problems) == before:
            metrics[key] = info
    return metrics


def _parse_row(fields: _Fields, raw: Any, where: str, run: str | None,
               benchmark_tag: str | None) -> AggregateRow | None:
    if not isinstance(raw, dict):
        fields.problem(where, f"must be an object, got {raw!r}")
        return None
    before = len(fields.problems)
    row_run = fields.get(raw, "run", "str", where)
    row_benchmark = fields.get(raw, "benchmark", "str", where)
    if run is not None and row_run is not None and row_run != run:
        fields.problem(f"{where}.run", f"row of run {row_run!r} in the results of run {run!r}")
    if benchmark_tag is not None and row_benchmark is not None and row_benchmark != benchmark_tag:
        fields.problem(f"{where}.benchmark",
                       f"row of benchmark {row_benchmark!r}, results are for {benchmark_tag!r}")
    row = AggregateRow(
        split=fields.get(raw, "split", "nonempty", where),
        metric=fields.get(raw, "metric", "nonempty", where),
        value=_as_float(fields.get(raw, "value", "opt_number", where)),
        ci_low=_as_float(fields.get(raw, "ci_low", "opt_number", where)),
        ci_high=_as_float(fields.get(raw, "ci_high", "opt_number", where)),
        n=fields.get(raw, "n", "count", where),
        n_expected=fields.get(raw, "n_expected", "count", where),
        preset_hash=fields.get(raw, "preset_hash", "nonempty", where),
    )
    return row if len(fields.problems) == before else None


def _check_rows(fields: _Fields, rows: list[tuple[str, AggregateRow]],
                presets: Mapping[str, PresetRecord], metrics: Mapping[str, MetricInfo]) -> None:
    seen: set[tuple[str, str]] = set()
    for where, row in rows:
        if (row.split, row.metric) in seen:
            fields.problem(where, f"second row for split {row.split!r}, metric {row.metric!r}")
        seen.add((row.split, row.metric))
        if row.metric not in metrics:
            fields.problem(f"{where}.metric", f"metric {row.metric!r} has no entry in `metrics`")
        preset = presets.get(row.metric)
        if preset is None:
            fields.problem(f"{where}.metric", f"metric {row.metric!r} has no entry in `presets`")
        elif preset.hash != row.preset_hash:
            fields.problem(f"{where}.preset_hash", f"{row.preset_hash!r} differs from the "
                           f"preset of {row.metric!r} ({preset.hash!r})")


def load_results(directory: str | os.PathLike[str]) -> Results:
    """Read `directory/results.json`; raise `ValidationError` listing every problem in it."""
    root = Path(directory)
    create = f"create it with `ttm-bench evaluate --run RUN_DIR --bench BENCH_DIR --out {root}`"
    if not root.is_dir():
        raise TTMBenchError(f"results directory {root} does not exist; {create}")
    path = root / RESULTS_FILE
    if not path.is_file():
        raise TTMBenchError(f"{root} has no {RESULTS_FILE}, so it is not a finished results "
                            f"directory; {create}")
    data = _read_json(path)
    fields = _Fields(path)
    if not isinstance(data, dict):
        raise ValidationError([Problem(str(path), "must be a JSON object", _REWRITE)])
    run = fields.get(data, "run", "nonempty", "")
    benchmark = _parse_benchmark(fields, data)
    presets = _parse_presets(fields, data)
    metrics = _parse_metrics(fields, data)
    bootstrap = fields.get(data, "bootstrap", "object", "", default={}) or {}
    level = fields.get(bootstrap, "level", "opt_number", "bootstrap", default=None)
    rows = []
    for i, raw in enumerate(fields.get(data, "aggregate", "list", "") or []):
        row = _parse_row(fields, raw, f"aggregate[{i}]", run,
                         benchmark.tag if benchmark else None)
        if row is not None:
            rows.append((f"aggregate[{i}]", row))
    _check_rows(fields, rows, presets, metrics)
    results = Results(
        directory=root,
        run=run,
        model=fields.get(data, "model", "opt_str", "", default=None),
        benchmark=benchmark,
        code_version=fields.get(data, "code_version", "str", ""),
        created=fields.get(data, "created", "str", ""),
        complete=fields.get(data, "complete", "bool", ""),
        n_expected=fields.get(data, "n_expected", "count", ""),
        presets=presets,
        metrics=metrics,
        skipped_metrics=fields.get(data, "skipped_metrics", "str_map", "", default={}) or {},
        warnings={k: tuple(v) for k, v in
                  (fields.get(data, "warnings", "warning_map", "", default={}) or {}).items()},
        ci_level=None if level is None else float(level),
        aggregate=tuple(row for _, row in rows),
    )
    if fields.problems:
        raise ValidationError(fields.problems)
    return results
