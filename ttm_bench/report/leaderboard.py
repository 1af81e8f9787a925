"""Leaderboard: several evaluated runs of one benchmark as one table, in Markdown or HTML.

Layout follows the paper's Table 1: one row per run; metric columns grouped by split
("single-object | multi-object", or the benchmark's own split names). `all` is shown by default
only when the benchmark has a single split (it then equals that split); `splits=` picks any.

Conventions:
- a cell is ``value (ci_low–ci_high)`` with the bootstrap confidence interval recorded by the
  evaluation, e.g. ``0.942 (0.930–0.951)``; decimals per metric family (FVD and AD: 2, others,
  e.g. similarities: 3); the interval is left out when undefined; a metric whose expectation
  depends on the number of samples (FVD) shows it: ``45.12 [n=64] (38.40–51.07)``; a value
  that left samples out as undefined (motion locality of static videos) shows the n it is over
  and how many: ``0.421 [n=14, 2 undefined] (0.35–0.48)``, and a note names them;
- ↑/↓ after a label: higher/lower is better; no marker when no direction is better (AD);
- bold: the best value of a column after rounding (ties all bold; the value, not its
  interval), among complete cells, for metrics with a direction and at least two runs; never
  between FVDs at different n (a note says so instead);
- ``—``: no value; a numbered note gives the reason (the evaluation's reason for skipping the
  metric, "not evaluated", or no value because no sample was evaluated);
- a run or cell with fewer evaluated samples than expected carries a note saying so;
- the footer lists each metric's preset (hash, version, parameters): every number says which
  preset made it.

Runs must share the benchmark content hash, the bootstrap settings of their intervals (resamples,
seed, level) and each metric its preset hash; otherwise the columns would not be comparable and
`build_leaderboard` raises.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ttm_bench import __version__
from ttm_bench.data.sample import ALL_SPLIT
from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.metrics import registry
from ttm_bench.report.numbers import decimals_for, format_metric_value
from ttm_bench.report.results import AggregateRow, BenchmarkRef, PresetRecord, Results

SPLIT_TITLES = {"single": "single-object", "multi": "multi-object",
                "one-moves": "one of two moving", ALL_SPLIT: "all samples"}
MISSING = "—"


@dataclass(frozen=True)
class Column:
    split: str
    metric: str
    label: str
    higher_is_better: bool | None

    @property
    def header(self) -> str:
        """The label with ↑/↓ for metrics with a direction."""
        arrow = {True: "↑", False: "↓", None: ""}[self.higher_is_better]
        return self.label + arrow


@dataclass(frozen=True)
class Cell:
    """One cell: the formatted value (or `MISSING`), its interval ("low–high", None when
    undefined), whether the value is bold (best of its column), and its note numbers."""

    value: str
    interval: str | None = None
    bold: bool = False
    notes: tuple[int, ...] = ()


@dataclass(frozen=True)
class BoardRow:
    run: str
    notes: tuple[int, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class MetricPreset:
    """Footer entry: a shown metric and the preset that made its numbers (None: never run)."""

    metric: str
    label: str
    preset: PresetRecord | None


@dataclass(frozen=True)
class Leaderboard:
    """A renderer-independent leaderboard: headers, cells, notes (note k is `notes[k - 1]`)."""

    benchmark: BenchmarkRef | None
    ci_level: float | None
    splits: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[BoardRow, ...]
    notes: tuple[str, ...]
    presets: tuple[MetricPreset, ...]
    #: The optional "objects" section: object-level motion metrics (`registry.GROUPS`), as a
    #: leaderboard of its own with its own notes, when some run computed them.
    objects: Leaderboard | None = None

    @property
    def title(self) -> str:
        return "Leaderboard: " + (self.benchmark.tag if self.benchmark else "videos, no benchmark")


def split_title(split: str) -> str:
    return SPLIT_TITLES.get(split, split)


OBJECTS_TITLE = "Object-level motion"
OBJECTS_LEGEND = ("The benchmark's first-frame masks s(0) tracked through each video (see "
                  "docs/metrics.md): AD object/background in px per frame at short side 256; "
                  "motion locality: share of the motion inside the objects; persistence: "
                  "objects still present at 0.5-2x their first-frame area.")

#: Placeholder in a note's text for the runs it applies to.
RUNS = "{runs}"


class _Notes:
    """Numbered notes; a note keyed (kind, metric, text) collects the runs it applies to."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str, str], list[str]] = {}

    def add(self, kind: str, metric: str, text: str, run: str) -> int:
        """Attach `run` to the note (created if new); return the note's number (from 1)."""
        key = (kind, metric, text)
        runs = self._runs.setdefault(key, [])
        if run not in runs:
            runs.append(run)
        return list(self._runs).index(key) + 1

    def texts(self) -> tuple[str, ...]:
        return tuple(text.replace(RUNS, ", ".join(runs))
                     for (_, _, text), runs in self._runs.items())


def check_benchmarks(results: Sequence[Results]) -> None:
    hashes = {r.benchmark.sha256 if r.benchmark else None for r in results}
    if len(hashes) > 1:
        described = "; ".join(
            f"{r.run}: {r.benchmark.tag} (sha256 {r.benchmark.sha256[:12]}…)" if r.benchmark
            else f"{r.run}: no benchmark (a folder of videos)" for r in results)
        raise TTMBenchError(f"the results come from different benchmarks — {described}. Runs are "
                            "comparable only on the same benchmark content: re-evaluate them on "
                            "one benchmark, or make one leaderboard per benchmark")


def check_runs_unique(results: Sequence[Results]) -> None:
    seen: dict[str, Results] = {}
    for r in results:
        if r.run in seen:
            raise TTMBenchError(f"run name {r.run!r} appears in both {seen[r.run].directory} and "
                                f"{r.directory}; pass each run once (or evaluate one under "
                                "another name)")
        seen[r.run] = r


def _differing(values: Iterable[tuple[str, str]]) -> str | None:
    """For (value, run) pairs, "value (run, run); value (run)" when runs differ, else None."""
    by_value: dict[str, list[str]] = {}
    for value, run in values:
        by_value.setdefault(value, []).append(run)
    if len(by_value) < 2:
        return None
    return "; ".join(f"{value} ({', '.join(runs)})" for value, runs in by_value.items())


def check_presets(results: Sequence[Results], metrics: Sequence[str]) -> None:
    for metric in metrics:
        described = _differing((r.presets[metric].hash, r.run)
                               for r in results if metric in r.presets)
        if described:
            raise TTMBenchError(f"metric {metric!r} was computed with different presets: "
                                f"{described}; its columns would not be comparable. Re-evaluate "
                                "the runs with the same preset, or leave the metric out with "
                                "--metrics")


def _check_bootstrap(results: Sequence[Results]) -> None:
    described = _differing((r.bootstrap.describe() if r.bootstrap else "not recorded", r.run)
                           for r in results)
    if described:
        raise TTMBenchError(f"the runs' confidence intervals were computed with different "
                            f"bootstrap settings: {described}; their intervals would not be "
                            "comparable under one legend. Re-evaluate the runs with the same "
                            "--n-boot and --seed")


def choose(requested: Sequence[str] | None, available: list[str], kind: str) -> list[str]:
    if requested is None:
        return available
    for name in requested:
        if name not in available:
            raise UnknownNameError(kind, name, available)
    return list(dict.fromkeys(requested))


def unalias(metrics: Sequence[str], known: Sequence[str]) -> list[str]:
    """Registry aliases (`ad`) replaced by the metric they stand for (`ad_dis`) unless known."""
    return [m if m in known else registry.ALIASES.get(m, m) for m in metrics]


def metric_order(results: Sequence[Results]) -> list[str]:
    """Every metric any run has (evaluated or skipped): registered ones in registry order (the
    paper's column order), then the others in order of appearance."""
    seen = list(dict.fromkeys(
        m for r in results for m in [*r.metrics, *r.presets, *r.skipped_metrics]))
    return [m for m in registry.METRICS if m in seen] + [m for m in seen
                                                         if m not in registry.METRICS]


def _default_metrics(results: Sequence[Results], known: list[str]) -> list[str]:
    """The paper's metrics (shown even when skipped, with the reason) and every metric that
    some run computed."""
    computed = {m for r in results for m in r.presets}
    return [m for m in known if (m in computed or m in registry.PAPER_METRICS)
            and m not in registry.GROUPS["objects"]]


def _default_splits(available: list[str]) -> list[str]:
    named = [s for s in available if s != ALL_SPLIT]
    if len(named) >= 2:
        return named
    return [ALL_SPLIT] if ALL_SPLIT in available else named


def metric_info(results: Sequence[Results], metric: str) -> tuple[str, bool | None]:
    for r in results:
        if metric in r.metrics:
            return r.metrics[metric].label, r.metrics[metric].higher_is_better
    spec = registry.METRICS.get(metric)
    return (spec.label if spec else metric), None


def _format(row: AggregateRow) -> tuple[str, str | None]:
    """(value, "low–high" or None) with the metric family's decimals (and n for FVD, or when
    undefined samples were left out)."""
    places = decimals_for(row.metric)
    interval = None
    if math.isfinite(row.ci_low) and math.isfinite(row.ci_high):
        interval = f"{row.ci_low:.{places}f}–{row.ci_high:.{places}f}"
    return format_metric_value(row.metric, row.value, row.n, row.n_undefined), interval


def _missing_reason(r: Results, column: Column, row: AggregateRow | None) -> str:
    if column.metric in r.skipped_metrics:
        return f"{column.label} not computed for {RUNS}: {r.skipped_metrics[column.metric]}"
    if row is None:
        return f"{column.label} not evaluated for {RUNS}"
    why = "no sample was evaluated" if row.n == 0 else (
        "; ".join(r.warnings.get(column.metric, ())) or "undefined on every sample")
    return f"{column.label} has no value for {RUNS} on {split_title(column.split)}: {why}"


def _incomplete_note(run: str, rows: Sequence[AggregateRow | None]) -> str | None:
    """Per split, the fewest samples any shown metric was evaluated on, if below expected."""
    short: dict[str, tuple[int, int]] = {}
    for row in rows:
        if row is not None and not row.complete:
            n, expected = short.get(row.split, (row.n, row.n_expected))
            short[row.split] = (min(n, row.n), expected)
    if not short:
        return None
    counts = ", ".join(f"{split_title(s)} {n}/{expected}" for s, (n, expected) in short.items())
    return (f"{run} is incomplete: fewer samples evaluated than expected ({counts}); its marked "
            "numbers are not comparable with complete runs")


def _sample_counts_differ(column: Column, rows: Sequence[AggregateRow | None]) -> bool:
    """Whether the column's metric depends on n and its complete values (those ranked) were
    computed at several n (results of the same benchmark edited or made by other versions)."""
    counts = {r.n for r in rows if r is not None and r.complete and math.isfinite(r.value)}
    return registry.depends_on_n(column.metric) and len(counts) > 1


def _best(column: Column, rows: Sequence[AggregateRow | None]) -> float | None:
    """The best rounded value among complete, finite cells, or None when nothing to bold."""
    if column.higher_is_better is None or len(rows) < 2 or _sample_counts_differ(column, rows):
        return None
    places = decimals_for(column.metric)
    values = [round(r.value, places) for r in rows
              if r is not None and r.complete and math.isfinite(r.value)]
    if not values:
        return None
    return max(values) if column.higher_is_better else min(values)


def _board_row(r: Results, columns: Sequence[Column], cells: Sequence[AggregateRow | None],
               best: Sequence[float | None], mixed_n: Sequence[bool],
               notes: _Notes) -> BoardRow:
    """One run's row: formatted cells, bold best values, and their notes."""
    incomplete = _incomplete_note(r.run, cells)
    run_notes = (notes.add("incomplete", "", incomplete, r.run),) if incomplete else ()
    board_cells = []
    for column, row, best_value, mixed in zip(columns, cells, best, mixed_n, strict=True):
        if row is None or not math.isfinite(row.value):
            missing = notes.add("missing", column.metric, _missing_reason(r, column, row), r.run)
            board_cells.append(Cell(MISSING, notes=(missing,)))
            continue
        cell_notes = (() if row.complete else run_notes) + tuple(
            notes.add("warning", column.metric, f"{column.label} for {RUNS}: {w}", r.run)
            for w in r.warnings.get(column.metric, ()))
        if mixed:
            cell_notes += (notes.add("mixed_n", column.metric, (
                f"{column.label} on {split_title(column.split)} was computed at different numbers "
                f"of videos for {RUNS}; FVD's expectation depends on n, so these values are not "
                "ranked against each other"), r.run),)
        bold = best_value is not None and row.complete and (
            round(row.value, decimals_for(column.metric)) == best_value)
        board_cells.append(Cell(*_format(row), bold=bold, notes=cell_notes))
    return BoardRow(r.run, run_notes, tuple(board_cells))


def build_leaderboard(
    results: Sequence[Results],
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> Leaderboard:
    """Lay out `results` (one per run, same benchmark) as a leaderboard.

    splits/metrics: which column groups and metrics (names or registry aliases) to show, in
    order; by default the paper's metrics and every metric some run computed (registry
    order first) and the splits described in the module docstring.
    """
    if not results:
        raise TTMBenchError("no results given; pass at least one results directory")
    check_runs_unique(results)
    check_benchmarks(results)
    _check_bootstrap(results)
    known_metrics = metric_order(results)
    if metrics is not None:  # accept groups (`objects`) and aliases such as `ad` for `ad_dis`
        metrics = unalias([member for m in metrics for member in registry.GROUPS.get(m, (m,))],
                          known_metrics)
    chosen_metrics = (_default_metrics(results, known_metrics) if metrics is None
                      else choose(metrics, known_metrics, "metric"))
    check_presets(results, chosen_metrics)
    available_splits = list(dict.fromkeys(s for r in results for s in r.splits))
    chosen_splits = (_default_splits(available_splits) if splits is None
                     else choose(splits, available_splits, "split"))
    columns = tuple(Column(split, metric, *metric_info(results, metric))
                    for split in chosen_splits for metric in chosen_metrics)

    table = [[r.row(c.split, c.metric) for c in columns] for r in results]
    best = [_best(c, [cells[j] for cells in table]) for j, c in enumerate(columns)]
    mixed_n = [_sample_counts_differ(c, [cells[j] for cells in table])
               for j, c in enumerate(columns)]
    notes = _Notes()
    rows = tuple(_board_row(r, columns, cells, best, mixed_n, notes)
                 for r, cells in zip(results, table, strict=True))
    presets = tuple(
        MetricPreset(m, metric_info(results, m)[0],
                     next((r.presets[m] for r in results if m in r.presets), None))
        for m in chosen_metrics)
    object_metrics = [m for m in known_metrics if m in registry.GROUPS["objects"]
                      and any(m in r.presets for r in results)]
    objects = (build_leaderboard(results, chosen_splits, object_metrics)
               if metrics is None and object_metrics else None)
    return Leaderboard(
        benchmark=results[0].benchmark,
        ci_level=results[0].ci_level,
        splits=tuple(chosen_splits),
        columns=columns,
        rows=rows,
        notes=notes.texts(),
        presets=presets,
        objects=objects,
    )


def _legend(board: Leaderboard) -> str:
    level = f"{board.ci_level:.0%} " if board.ci_level is not None else ""
    return (f"Each cell: value ({level}bootstrap confidence interval). ↑/↓: higher/lower is "
            "better; bold: best complete value of a column; — : no value (see notes).")


def _benchmark_line(board: Leaderboard) -> str:
    if board.benchmark is None:
        return "Runs evaluated on folders of videos, without a benchmark."
    return f"Benchmark {board.benchmark.tag}, content sha256 {board.benchmark.sha256}."


def _preset_fields(entry: MetricPreset) -> tuple[str, str, str] | None:
    """(hash, version, parameters as JSON) of a footer entry; None when no run computed it."""
    if entry.preset is None:
        return None
    params = json.dumps(dict(entry.preset.params), sort_keys=True)
    return entry.preset.hash, entry.preset.version, params


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell (no markup from run names or reasons)."""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def _md_code(text: str) -> str:
    """A Markdown code span whose fence is longer than any backtick run inside `text`."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if fence != "`" else f"`{text}`"


def _md_preset(entry: MetricPreset) -> str:
    fields = _preset_fields(entry)
    head = f"- {md_escape(entry.label)} ({_md_code(entry.metric)}): "
    if fields is None:
        return head + "not computed by any run"
    preset_hash, version, params = fields
    return head + f"preset {_md_code(preset_hash)} (version {md_escape(version)}), params " + (
        _md_code(params))


def _html_preset(entry: MetricPreset) -> str:
    esc = html.escape
    fields = _preset_fields(entry)
    head = f"<li>{esc(entry.label)} (<code>{esc(entry.metric)}</code>): "
    if fields is None:
        return head + "not computed by any run</li>"
    preset_hash, version, params = fields
    return head + (f"preset <code>{esc(preset_hash)}</code> (version {esc(version)}), params "
                   f"<code>{esc(params)}</code></li>")


def _md_refs(numbers: tuple[int, ...]) -> str:
    return "".join(f" [{n}]" for n in numbers)


def render_markdown(board: Leaderboard) -> str:
    """GitHub-flavoured Markdown; with several splits the first body row holds metric labels."""
    lines = [f"# {md_escape(board.title)}", "", md_escape(_benchmark_line(board)), "",
             md_escape(_legend(board)),
             "", *_markdown_table(board)]
    if board.objects is not None:
        lines += ["", f"## {OBJECTS_TITLE}", "", md_escape(OBJECTS_LEGEND), "",
                  *_markdown_table(board.objects)]
    lines += ["", f"Generated by ttm-bench {__version__}.", ""]
    return "\n".join(lines)


def _markdown_table(board: Leaderboard) -> list[str]:
    """The table, its notes and its presets, as Markdown lines."""
    width = len(board.columns) + 1
    grouped = len(board.splits) > 1
    lines = []
    if grouped:
        per_split = len(board.columns) // len(board.splits)
        groups = [cell for s in board.splits for cell in [md_escape(split_title(s))] + [""] *
                  (per_split - 1)]
        header = ["Run", *groups]
        first = ["", *(f"**{md_escape(c.header)}**" for c in board.columns)]
    else:
        split = f" ({md_escape(split_title(board.splits[0]))})" if board.splits else ""
        header, first = [f"Run{split}", *(md_escape(c.header) for c in board.columns)], None
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (width - 1)) + "|")
    if first is not None:
        lines.append("| " + " | ".join(first) + " |")
    for row in board.rows:
        cells = [md_escape(row.run) + _md_refs(row.notes)]
        for cell in row.cells:
            text = f"**{cell.value}**" if cell.bold else cell.value
            if cell.interval:
                text += f" ({cell.interval})"
            cells.append(text + _md_refs(cell.notes))
        lines.append("| " + " | ".join(cells) + " |")
    if board.notes:
        lines += ["", "Notes:", ""]
        lines += [f"{k}. {md_escape(text)}" for k, text in enumerate(board.notes, start=1)]
    lines += ["", "Presets (every number above was made by the preset of its metric):", ""]
    lines += [_md_preset(p) for p in board.presets]
    return lines


HTML_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .25rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
p.meta { color: #59636e; margin: .2rem 0; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid #d1d9e0; white-space: nowrap; }
thead th { background: #f6f8fa; font-weight: 600; }
th.group { text-align: center; border-left: 2px solid #d1d9e0; }
td.num, th.metric { text-align: right; font-variant-numeric: tabular-nums; }
td.first, th.first { border-left: 2px solid #d1d9e0; }
td.run { font-weight: 600; text-align: left; }
td.best { background: #eef6ee; }
span.ci { color: #59636e; font-size: .88em; }
sup a { color: #59636e; text-decoration: none; } code { font-size: .92em; }
div.scroll { overflow-x: auto; }
ol, ul { padding-left: 1.4rem; } li { margin: .2rem 0; }
footer { color: #59636e; margin-top: 2rem; font-size: .9em; }
""".strip()


def _html_refs(numbers: tuple[int, ...], anchor: str = "note") -> str:
    if not numbers:
        return ""
    links = ",".join(f'<a href="#{anchor}-{n}">{n}</a>' for n in numbers)
    return f"<sup>{links}</sup>"


def render_html_section(board: Leaderboard) -> str:
    """The leaderboard as an HTML fragment (benchmark line, legend, table, notes, presets, and
    the object-level section when there is one), styled by `HTML_CSS`; every text is escaped."""
    esc = html.escape
    parts = [
        f'<p class="meta">{esc(_benchmark_line(board))}</p>',
        f'<p class="meta">{esc(_legend(board))}</p>',
        *_html_table(board, "note"),
    ]
    if board.objects is not None:
        parts += [f"<h2>{esc(OBJECTS_TITLE)}</h2>", f'<p class="meta">{esc(OBJECTS_LEGEND)}</p>',
                  *_html_table(board.objects, "objects-note")]
    return "\n".join(parts)


def _html_table(board: Leaderboard, anchor: str) -> list[str]:
    """The table, its notes (ids `<anchor>-<k>`) and its presets, as HTML lines."""
    esc = html.escape
    per_split = len(board.columns) // max(len(board.splits), 1)
    group_row = "".join(f'<th class="group" colspan="{per_split}">{esc(split_title(s))}</th>'
                        for s in board.splits)
    metric_row = "".join(
        f'<th class="metric{" first" if j % per_split == 0 else ""}">{esc(c.header)}</th>'
        for j, c in enumerate(board.columns))
    body = []
    for row in board.rows:
        cells = [f'<td class="run">{esc(row.run)}{_html_refs(row.notes, anchor)}</td>']
        for j, cell in enumerate(row.cells):
            classes = ["num"] + (["first"] if j % per_split == 0 else []) + (
                ["best"] if cell.bold else [])
            text = f"<strong>{esc(cell.value)}</strong>" if cell.bold else esc(cell.value)
            if cell.interval:
                text += f' <span class="ci">({esc(cell.interval)})</span>'
            cells.append(f'<td class="{" ".join(classes)}">{text}'
                         f'{_html_refs(cell.notes, anchor)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f'<li id="{anchor}-{k}">{esc(text)}</li>'
                    for k, text in enumerate(board.notes, start=1))
    presets = "".join(_html_preset(p) for p in board.presets)
    return [
        '<div class="scroll"><table>',
        f'<thead><tr><th rowspan="2">Run</th>{group_row}</tr><tr>{metric_row}</tr></thead>',
        "<tbody>",
        *body,
        "</tbody></table></div>",
        *([f"<h2>Notes</h2><ol>{notes}</ol>"] if board.notes else []),
        "<h2>Presets</h2>",
        f"<p>Every number above was made by the preset of its metric.</p><ul>{presets}</ul>",
    ]


def render_html(board: Leaderboard) -> str:
    """A self-contained HTML page: inline CSS, no scripts, no external assets."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(board.title)}</title>",
        f"<style>\n{HTML_CSS}\n</style></head>",
        "<body>",
        f"<h1>{esc(board.title)}</h1>",
        render_html_section(board),
        f"<footer>Generated by ttm-bench {esc(__version__)}.</footer>",
        "</body></html>",
        "",
    ]
    return "\n".join(parts)


RENDERERS: dict[str, Callable[[Leaderboard], str]] = {"md": render_markdown,
                                                      "html": render_html}
