"""Read and validate a results directory written by `ttm-bench evaluate`.

The directory is opened through `results_dir.open_results`, which verifies every file against
the hashes in `results.json`. `results.json` holds the aggregate rows plus the presets, metric
labels and directions, skipped metrics and provenance a report needs; its rows must agree with
`aggregate.parquet`, and its `complete` flag with the rows (n == n_expected everywhere, never
n > n_expected). Every problem in the file is reported at once, each naming the field and the
fix.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ttm_bench.errors import Problem, TTMBenchError, ValidationError
from ttm_bench.fields import (
    BOOLEAN,
    COUNT,
    INTEGER,
    LIST,
    NONEMPTY_STRING,
    NUMBER,
    OBJECT,
    STRING,
    FieldReader,
    Kind,
)
from ttm_bench.results_dir import MANIFEST, ResultsSnapshot, open_results

if TYPE_CHECKING:
    import pandas as pd

RESULTS_FILE = MANIFEST
AGGREGATE_FILE = "aggregate.parquet"
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
    """Display label and direction (True: higher is better, None: no better direction);
    can_be_undefined: the metric may be undefined (NaN) on some samples (`n_undefined`)."""

    label: str
    higher_is_better: bool | None
    can_be_undefined: bool = False


@dataclass(frozen=True)
class BootstrapSettings:
    """How the confidence intervals were resampled: resamples, seed, level (e.g. 0.95) and
    method; intervals are comparable across runs only under the same settings."""

    n_boot: int
    seed: int
    level: float
    method: str

    def describe(self) -> str:
        return (f"{self.level:.0%} {self.method}, {self.n_boot} resamples, seed {self.seed}")


@dataclass(frozen=True)
class AggregateRow:
    """One metric over one split; NaN value/CI when undefined (e.g. no sample evaluated).

    n: samples evaluated; n_undefined: those of them on which the metric is undefined, left out
    of the value and interval (0 in results written before it was recorded).
    """

    split: str
    metric: str
    value: float
    ci_low: float
    ci_high: float
    n: int
    n_expected: int
    preset_hash: str
    n_undefined: int = 0

    @property
    def n_defined(self) -> int:
        """The samples the value and interval are over."""
        return self.n - self.n_undefined

    @property
    def complete(self) -> bool:
        return self.n == self.n_expected


@dataclass(frozen=True)
class Results:
    """One evaluated run. `benchmark` is None for a folder of videos evaluated without one.

    bootstrap: the settings of the confidence intervals, when recorded.
    warnings: metric → warnings raised while computing it (e.g. fewer samples than dimensions).
    source: where the evaluation read its inputs (absolute paths as recorded): "run" and
    "benchmark", or "videos" for a plain folder; empty for results written before it was recorded.
    run_sha256: the identity of the run directory evaluated (`RunInfo.identity`), if any.
    snapshot: the verified state of the directory these results were read from.
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
    bootstrap: BootstrapSettings | None
    aggregate: tuple[AggregateRow, ...]
    source: Mapping[str, str] = field(default_factory=dict)
    run_sha256: str | None = None
    snapshot: ResultsSnapshot | None = field(default=None, repr=False, compare=False)

    @property
    def ci_level(self) -> float | None:
        """The confidence level of the intervals, when recorded."""
        return self.bootstrap.level if self.bootstrap else None

    def row(self, split: str, metric: str) -> AggregateRow | None:
        return next((r for r in self.aggregate if r.split == split and r.metric == metric), None)

    @property
    def splits(self) -> list[str]:
        """Split names in the order of the aggregate rows (including `all`)."""
        return list(dict.fromkeys(r.split for r in self.aggregate))


_STRING_MAP = Kind("object of strings", lambda v: isinstance(v, dict) and all(
    isinstance(x, str) for x in v.values()))
_WARNING_MAP = Kind("object of lists of strings", lambda v: isinstance(v, dict) and all(
    isinstance(x, list) and all(isinstance(w, str) for w in x) for x in v.values()))


def _as_float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _parse_benchmark(fields: FieldReader) -> BenchmarkRef | None:
    raw = fields.get("benchmark", OBJECT, nullable=True)
    if raw is None:
        return None
    before = len(fields.problems)
    benchmark = fields.nested(raw, "benchmark")
    ref = BenchmarkRef(*(benchmark.get(key, NONEMPTY_STRING)
                         for key in ("name", "version", "sha256")))
    return ref if len(fields.problems) == before else None


T = TypeVar("T")


def _parse_entries(fields: FieldReader, section: str,
                   build: Callable[[FieldReader], T]) -> dict[str, T]:
    """Each `section.<key>` object read by `build`; entries with problems are left out."""
    entries = {}
    for key, raw in (fields.get(section, OBJECT) or {}).items():
        where = f"{section}.{key}"
        if not isinstance(raw, dict):
            fields.problem(where, f"must be an object, got {raw!r}")
            continue
        before = len(fields.problems)
        entry = build(fields.nested(raw, where))
        if len(fields.problems) == before:
            entries[key] = entry
    return entries


def _parse_bootstrap(fields: FieldReader) -> BootstrapSettings | None:
    raw = fields.get("bootstrap", OBJECT, None)
    if raw is None:
        return None
    before = len(fields.problems)
    bootstrap = fields.nested(raw, "bootstrap")
    settings = BootstrapSettings(bootstrap.get("n_boot", COUNT), bootstrap.get("seed", INTEGER),
                                 bootstrap.get("level", NUMBER), bootstrap.get("method", STRING))
    return settings if len(fields.problems) == before else None


def _preset(preset: FieldReader) -> PresetRecord:
    return PresetRecord(preset.get("metric", NONEMPTY_STRING),
                        preset.get("version", NONEMPTY_STRING),
                        preset.get("params", OBJECT),
                        preset.get("hash", NONEMPTY_STRING))


def _metric(metric: FieldReader) -> MetricInfo:
    return MetricInfo(metric.get("label", NONEMPTY_STRING),
                      metric.get("higher_is_better", BOOLEAN, nullable=True),
                      metric.get("can_be_undefined", BOOLEAN, False))


def _parse_row(fields: FieldReader, raw: Any, where: str, run: str | None,
               benchmark_tag: str | None) -> AggregateRow | None:
    if not isinstance(raw, dict):
        fields.problem(where, f"must be an object, got {raw!r}")
        return None
    before = len(fields.problems)
    row = fields.nested(raw, where)
    row_run = row.get("run", STRING)
    row_benchmark = row.get("benchmark", STRING)
    if run is not None and row_run is not None and row_run != run:
        row.problem("run", f"row of run {row_run!r} in the results of run {run!r}")
    if benchmark_tag is not None and row_benchmark is not None and row_benchmark != benchmark_tag:
        row.problem("benchmark",
                    f"row of benchmark {row_benchmark!r}, results are for {benchmark_tag!r}")
    parsed = AggregateRow(
        split=row.get("split", NONEMPTY_STRING),
        metric=row.get("metric", NONEMPTY_STRING),
        value=_as_float(row.get("value", NUMBER, nullable=True)),
        ci_low=_as_float(row.get("ci_low", NUMBER, nullable=True)),
        ci_high=_as_float(row.get("ci_high", NUMBER, nullable=True)),
        n=row.get("n", COUNT),
        n_expected=row.get("n_expected", COUNT),
        preset_hash=row.get("preset_hash", NONEMPTY_STRING),
        n_undefined=row.get("n_undefined", COUNT, 0),
    )
    return parsed if len(fields.problems) == before else None


def _check_rows(fields: FieldReader, rows: list[tuple[str, AggregateRow]],
                presets: Mapping[str, PresetRecord], metrics: Mapping[str, MetricInfo]) -> None:
    seen: set[tuple[str, str]] = set()
    for where, row in rows:
        if (row.split, row.metric) in seen:
            fields.problem(where, f"second row for split {row.split!r}, metric {row.metric!r}")
        seen.add((row.split, row.metric))
        if row.metric not in metrics:
            fields.problem(f"{where}.metric", f"metric {row.metric!r} has no entry in `metrics`")
        if row.n_undefined > row.n:
            fields.problem(f"{where}.n_undefined", f"{row.n_undefined} samples undefined, more "
                           f"than the {row.n} evaluated")
        elif row.n_undefined and row.metric in metrics and (
                not metrics[row.metric].can_be_undefined):
            fields.problem(f"{where}.n_undefined", f"{row.n_undefined} samples undefined, but "
                           f"`metrics` says {row.metric!r} cannot be undefined")
        preset = presets.get(row.metric)
        if preset is None:
            fields.problem(f"{where}.metric", f"metric {row.metric!r} has no entry in `presets`")
        elif preset.hash != row.preset_hash:
            fields.problem(f"{where}.preset_hash", f"{row.preset_hash!r} differs from the "
                           f"preset of {row.metric!r} ({preset.hash!r})")


def _check_completeness(fields: FieldReader, rows: list[tuple[str, AggregateRow]]) -> None:
    """Counts must be possible, and the `complete` flag must say what the rows say."""
    for where, row in rows:
        if row.n > row.n_expected:
            fields.problem(f"{where}.n", f"{row.n} samples evaluated, more than the "
                           f"{row.n_expected} expected")
    complete = fields.get("complete", BOOLEAN)
    if complete is not None and complete != all(row.complete for _, row in rows):
        fields.problem("complete", f"says {complete}, but its rows say "
                       f"{not complete} (n {'<' if complete else '=='} n_expected)")


def _check_aggregate_table(path: Path, rows: list[AggregateRow], run: str, benchmark: str) -> None:
    """`aggregate.parquet` must hold exactly the rows of `results.json`."""
    import pandas as pd

    def key(values: tuple) -> tuple:
        return tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in values)

    table = pd.read_parquet(path)
    try:
        if "n_undefined" not in table.columns:  # written before it was recorded
            table = table.assign(n_undefined=0)
        on_disk = sorted(key((r.run, r.benchmark, r.split, r.metric, _as_float(r.value),
                              _as_float(r.ci_low), _as_float(r.ci_high), int(r.n),
                              int(r.n_undefined), int(r.n_expected), r.preset_hash))
                         for r in table.itertuples(index=False))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValidationError([Problem(str(path), f"unexpected columns or values ({exc})",
                                       _REWRITE)]) from None
    in_json = sorted(key((run, benchmark, r.split, r.metric, r.value, r.ci_low, r.ci_high, r.n,
                          r.n_undefined, r.n_expected, r.preset_hash)) for r in rows)
    if on_disk != in_json:
        raise ValidationError([Problem(str(path), f"its rows disagree with {RESULTS_FILE}'s "
                                       "`aggregate`", _REWRITE)])


def load_results(directory: str | os.PathLike[str]) -> Results:
    """Read and verify a results directory; raise `ValidationError` listing every problem in
    `results.json`, or `TTMBenchError` naming a file that does not match it."""
    return results_from_snapshot(open_results(directory))


def results_from_snapshot(snapshot: ResultsSnapshot) -> Results:
    """`load_results` of a directory state already opened (and verified) by `open_results`."""
    root = snapshot.root
    data = snapshot.manifest
    path = root / RESULTS_FILE
    fields = FieldReader(data, str(path), [], fix=_REWRITE)
    run = fields.get("run", NONEMPTY_STRING)
    benchmark = _parse_benchmark(fields)
    presets = _parse_entries(fields, "presets", _preset)
    metrics = _parse_entries(fields, "metrics", _metric)
    bootstrap = _parse_bootstrap(fields)
    rows = []
    for i, raw in enumerate(fields.get("aggregate", LIST) or []):
        row = _parse_row(fields, raw, f"aggregate[{i}]", run,
                         benchmark.tag if benchmark else None)
        if row is not None:
            rows.append((f"aggregate[{i}]", row))
    _check_rows(fields, rows, presets, metrics)
    _check_completeness(fields, rows)
    results = Results(
        directory=root,
        run=run,
        model=fields.get("model", STRING, None),
        benchmark=benchmark,
        code_version=fields.get("code_version", STRING),
        created=fields.get("created", STRING),
        complete=all(row.complete for _, row in rows),
        n_expected=fields.get("n_expected", COUNT),
        presets=presets,
        metrics=metrics,
        skipped_metrics=fields.get("skipped_metrics", _STRING_MAP, {}),
        warnings={k: tuple(v) for k, v in fields.get("warnings", _WARNING_MAP, {}).items()},
        bootstrap=bootstrap,
        aggregate=tuple(row for _, row in rows),
        source=fields.get("source", _STRING_MAP, {}),
        run_sha256=fields.get("run_sha256", NONEMPTY_STRING, None, nullable=True),
        snapshot=snapshot,
    )
    if fields.problems:
        raise ValidationError(fields.problems)
    _check_aggregate_table(snapshot.path(AGGREGATE_FILE), list(results.aggregate), run,
                           benchmark.tag if benchmark else "none")
    return results


PER_SAMPLE_FILE = "per_sample.parquet"
PER_SAMPLE_COLUMNS = ("sample_id", "split", "metric", "value")


def load_per_sample(results: Results) -> pd.DataFrame:
    """The per-sample values of `results`, from the same verified state of the directory as its
    aggregate: one row per (sample_id, metric), columns `PER_SAMPLE_COLUMNS` (strings; `value`
    float64). Raise `ValidationError` listing every problem: missing columns, wrong types,
    unknown metrics, duplicate rows, a sample in two splits.
    """
    import hashlib
    import io

    import pandas as pd

    snapshot = results.snapshot or open_results(results.directory)
    path = snapshot.path(PER_SAMPLE_FILE)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise TTMBenchError(f"cannot read {path}: {exc}; {_REWRITE}") from None
    if hashlib.sha256(content).hexdigest() != snapshot.manifest["files"][PER_SAMPLE_FILE]:
        raise TTMBenchError(f"{path} changed after {snapshot.root / RESULTS_FILE} was read (an "
                            "evaluation wrote the directory meanwhile); rerun this command")
    try:
        table = pd.read_parquet(io.BytesIO(content))
    except (OSError, ValueError) as exc:  # pyarrow raises subclasses of both for bad files
        raise TTMBenchError(f"cannot read {path}: {exc}; {_REWRITE}") from None
    problems: list[Problem] = []

    def problem(field_name: str, message: str) -> None:
        problems.append(Problem(str(path), message, _REWRITE, field=field_name))

    missing = [c for c in PER_SAMPLE_COLUMNS if c not in table.columns]
    if missing:
        problem(", ".join(missing), f"missing column(s); columns are {list(table.columns)}")
        raise ValidationError(problems)
    table = table[list(PER_SAMPLE_COLUMNS)].reset_index(drop=True)
    for column in PER_SAMPLE_COLUMNS[:3]:
        bad = ~table[column].map(lambda v: isinstance(v, str) and v != "")
        if bad.any():
            problem(column, f"{int(bad.sum())} row(s) are not non-empty strings, e.g. "
                            f"{table[column][bad].iloc[0]!r}")
    if not pd.api.types.is_numeric_dtype(table["value"]) or pd.api.types.is_bool_dtype(
            table["value"]):
        problem("value", f"must be numeric, got dtype {table['value'].dtype}")
    if problems:
        raise ValidationError(problems)
    unknown = sorted(set(table["metric"]) - set(results.metrics))
    if unknown:
        problem("metric", f"metric(s) {unknown} have no entry in {RESULTS_FILE}")
    duplicated = table.duplicated(["sample_id", "metric"])
    if duplicated.any():
        first = table[duplicated].iloc[0]
        problem("sample_id", f"{int(duplicated.sum())} duplicate (sample_id, metric) row(s), "
                             f"e.g. ({first['sample_id']!r}, {first['metric']!r})")
    splits = table.groupby("sample_id")["split"].nunique()
    if (splits > 1).any():
        problem("split", f"sample {splits[splits > 1].index[0]!r} appears in more than one split")
    if problems:
        raise ValidationError(problems)
    return table.astype({"value": "float64"})
