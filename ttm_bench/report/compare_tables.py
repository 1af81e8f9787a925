"""Render a `Comparison` as tables: Markdown, HTML, CSV and JSON (LaTeX is in `latex`).

Two layouts for the human-readable formats:
- `pairs` (default): one row per (run, metric, split) with n paired (and the pairs left out
  because a value is undefined, e.g. ``14 (2 undefined)``), both values, Δ, its interval, raw
  and Holm-adjusted p-values and the verdict;
- `ablation`: the paper's ablation-table form — rows are the baseline then each variant,
  columns metric × split as in the leaderboard; a variant's cell is its value and Δ vs the
  baseline with a significance marker (`*`, `**`, `***`: adjusted p < 0.05, 0.01, 0.001);
  bold marks the best value of a column (after rounding; metrics with a direction).
CSV and JSON always hold every cell's numbers (JSON also the settings and the pairing gaps).
Every layout lists the cells that left pairs out as undefined (`undefined_lines`).
"""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from ttm_bench import __version__
from ttm_bench.report.compare import MARKERS, Comparison, PairedCell
from ttm_bench.report.leaderboard import Column, decimals_for, md_escape, split_title

LAYOUTS = ("pairs", "ablation")
MISSING = "—"
UNDEFINED_TITLE = "Pairs left out of Δ because a value is undefined"


def format_value(metric: str, value: float, signed: bool = False) -> str:
    """A value with its metric family's decimals (``+`` sign when `signed`); ``—`` if NaN."""
    if not math.isfinite(value):
        return MISSING
    return f"{value:{'+' if signed else ''}.{decimals_for(metric)}f}"


def format_interval(cell: PairedCell) -> str:
    """The interval of Δ, e.g. ``[-0.010, +0.020]``; ``—`` when undefined."""
    if not (math.isfinite(cell.ci_low) and math.isfinite(cell.ci_high)):
        return MISSING
    low = format_value(cell.metric, cell.ci_low, signed=True)
    return f"[{low}, {format_value(cell.metric, cell.ci_high, signed=True)}]"


def format_p(p: float) -> str:
    if not math.isfinite(p):
        return MISSING
    return "<0.001" if p < 0.001 else f"{p:.3f}"


@dataclass(frozen=True)
class AblationCell:
    """A cell of the ablation layout; `delta`, `marker` and `interval` are None in the
    baseline's row."""

    value: str
    bold: bool
    delta: str | None = None
    marker: str = ""
    interval: str | None = None


@dataclass(frozen=True)
class AblationTable:
    """Rows `runs[0]` (the baseline) then each variant; `cells[i][j]` for run i, column j."""

    columns: tuple[Column, ...]
    splits: tuple[str, ...]
    runs: tuple[str, ...]
    cells: tuple[tuple[AblationCell, ...], ...]


def _best(column: Column, values: list[float]) -> float | None:
    places = decimals_for(column.metric)
    finite = [round(v, places) for v in values if math.isfinite(v)]
    if column.higher_is_better is None or len(finite) < 2:
        return None
    return max(finite) if column.higher_is_better else min(finite)


def ablation_table(comparison: Comparison) -> AblationTable:
    """The comparison in the ablation layout (see the module docstring)."""
    columns = tuple(Column(s, m.name, m.label, m.higher_is_better)
                    for s in comparison.splits for m in comparison.metrics)
    grid: list[list[AblationCell]] = [[] for _ in range(len(comparison.runs) + 1)]
    for column in columns:
        paired = [comparison.cell(run, column.metric, column.split) for run in comparison.runs]
        values = [comparison.baseline_values[(column.metric, column.split)],
                  *(c.run_value for c in paired)]
        best = _best(column, values)
        places = decimals_for(column.metric)

        def bold(value: float, best: float | None = best, places: int = places) -> bool:
            return best is not None and math.isfinite(value) and round(value, places) == best

        grid[0].append(AblationCell(format_value(column.metric, values[0]), bold(values[0])))
        for i, cell in enumerate(paired, start=1):
            grid[i].append(AblationCell(format_value(column.metric, cell.run_value),
                                        bold(cell.run_value),
                                        format_value(cell.metric, cell.delta, signed=True),
                                        cell.marker, format_interval(cell)))
    return AblationTable(columns, comparison.splits, (comparison.baseline, *comparison.runs),
                         tuple(tuple(row) for row in grid))


def legend(comparison: Comparison, layout: str) -> str:
    """What a rendering's numbers mean, including the multiple-comparison statement."""
    level = f"{comparison.level:.0%}"
    markers = ", ".join(f"{m}: p < {limit:g}" for limit, m in reversed(MARKERS))
    common = (f"Δ = run − baseline ({comparison.baseline}) on the samples both evaluated; "
              f"{level} paired bootstrap interval ({comparison.n_boot} resamples, seed "
              f"{comparison.seed}; centred for set-level metrics); p: sign-flip permutation test "
              f"(per-sample metrics) or paired bootstrap (set-level metrics); "
              f"{comparison.adjustment}.")
    if layout == "ablation":
        return (common + f" Cells: value (Δ with marker; {markers}, Holm-adjusted). The "
                "baseline's row is its value over every sample it evaluated; bold: best value "
                "of a column.")
    return common


def gap_lines(comparison: Comparison) -> list[str]:
    """One line per run with unpaired samples, naming them; plain text."""
    lines = []
    for gap in comparison.gaps:
        parts = []
        if gap.only_in_baseline:
            parts.append(f"missing from {gap.run}: {', '.join(gap.only_in_baseline)}")
        if gap.only_in_run:
            parts.append(f"missing from {comparison.baseline}: {', '.join(gap.only_in_run)}")
        if parts:
            lines.append(f"{gap.run} vs {comparison.baseline} — " + "; ".join(parts))
    return lines


def undefined_lines(comparison: Comparison) -> list[str]:
    """One line per cell that left pairs out because the metric is undefined (NaN) on a sample
    of either run (e.g. motion locality of a static video); plain text."""
    labels = {m.name: m.label for m in comparison.metrics}
    return [f"{c.run} vs {comparison.baseline}, {labels[c.metric]} ({split_title(c.split)}): "
            f"{c.n_undefined} pair(s) left out, undefined in either run"
            for c in comparison.cells if c.n_undefined]


def paired_count(cell: PairedCell) -> str:
    """n paired, and the pairs left out as undefined when there are some: ``14 (2 undefined)``."""
    return f"{cell.n_paired} ({cell.n_undefined} undefined)" if cell.n_undefined else (
        str(cell.n_paired))


def _pairs_header(comparison: Comparison) -> list[str]:
    return ["Run", "Metric", "Split", "n paired", f"Baseline ({comparison.baseline})", "Run",
            "Δ", f"{comparison.level:.0%} CI of Δ", "p", "p (Holm)", "Verdict"]


def _pairs_row(comparison: Comparison, cell: PairedCell) -> list[str]:
    label = next(m.label for m in comparison.metrics if m.name == cell.metric)
    return [cell.run, label, split_title(cell.split), paired_count(cell),
            format_value(cell.metric, cell.baseline_value),
            format_value(cell.metric, cell.run_value),
            format_value(cell.metric, cell.delta, signed=True) + cell.marker,
            format_interval(cell), format_p(cell.p_value), format_p(cell.p_adjusted),
            cell.verdict]


def _title(comparison: Comparison) -> str:
    bench = comparison.benchmark.tag if comparison.benchmark else "videos, no benchmark"
    return f"Paired comparison vs {comparison.baseline}: {bench}"


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _md_ablation_cell(cell: AblationCell) -> str:
    text = f"**{cell.value}**" if cell.bold else cell.value
    if cell.delta is None:
        return text
    marker = md_escape(cell.marker)
    interval = f", {cell.interval}" if cell.interval and cell.interval != MISSING else ""
    return f"{text} ({cell.delta}{marker}{interval})"


def render_markdown(comparison: Comparison, layout: str = "pairs") -> str:
    lines = [f"# {md_escape(_title(comparison))}", "", md_escape(legend(comparison, layout)), ""]
    if layout == "ablation":
        table = ablation_table(comparison)
        groups = [md_escape(f"{c.header} ({split_title(c.split)})") for c in table.columns]
        lines.append(_md_row(["Run", *groups]))
        lines.append("|" + "|".join([":---"] + ["---:"] * len(table.columns)) + "|")
        for run, row in zip(table.runs, table.cells, strict=True):
            lines.append(_md_row([md_escape(run), *(_md_ablation_cell(c) for c in row)]))
    else:
        header = _pairs_header(comparison)
        lines.append(_md_row([md_escape(h) for h in header]))
        lines.append("|" + "|".join([":---"] * 3 + ["---:"] * 7 + [":---"]) + "|")
        for cell in comparison.cells:  # numbers are ours; only names and labels need escaping
            row = _pairs_row(comparison, cell)
            lines.append(_md_row([*(md_escape(t) for t in row[:3]), *row[3:6],
                                  row[6].replace("*", r"\*"), *row[7:10], row[10]]))
    gaps = gap_lines(comparison)
    if gaps:
        lines += ["", "Unpaired samples (left out of every Δ):", ""]
        lines += [f"- {md_escape(line)}" for line in gaps]
    undefined = undefined_lines(comparison)
    if undefined:
        lines += ["", f"{UNDEFINED_TITLE}:", ""]
        lines += [f"- {md_escape(line)}" for line in undefined]
    lines += ["", f"Generated by ttm-bench {__version__}.", ""]
    return "\n".join(lines)


def render_html(comparison: Comparison, layout: str = "pairs") -> str:
    """A self-contained HTML page (inline CSS, no scripts) with the same table as Markdown."""
    esc = html.escape
    if layout == "ablation":
        table = ablation_table(comparison)
        head = "".join(f"<th>{esc(c.header)}<br>{esc(split_title(c.split))}</th>"
                       for c in table.columns)
        body = []
        for run, row in zip(table.runs, table.cells, strict=True):
            cells = []
            for cell in row:
                text = f"<strong>{esc(cell.value)}</strong>" if cell.bold else esc(cell.value)
                if cell.delta is not None:
                    text += f' <span class="delta">({esc(cell.delta + cell.marker)})</span>'
                cells.append(f'<td class="num">{text}</td>')
            body.append(f'<tr><td class="run">{esc(run)}</td>{"".join(cells)}</tr>')
        thead = f"<tr><th>Run</th>{head}</tr>"
    else:
        thead = "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in _pairs_header(comparison)) + (
            "</tr>")
        body = ["<tr>" + "".join(f"<td>{esc(t)}</td>" for t in _pairs_row(comparison, c))
                + "</tr>" for c in comparison.cells]
    gaps = "".join(f"<li>{esc(line)}</li>" for line in gap_lines(comparison))
    undefined = "".join(f"<li>{esc(line)}</li>" for line in undefined_lines(comparison))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', '<head><meta charset="utf-8">',
        f"<title>{esc(_title(comparison))}</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}"
        "th,td{padding:.3rem .6rem;border-bottom:1px solid #d1d9e0;white-space:nowrap}"
        "td.num{text-align:right}td.run{font-weight:600}span.delta{color:#59636e}</style>",
        "</head><body>", f"<h1>{esc(_title(comparison))}</h1>",
        f"<p>{esc(legend(comparison, layout))}</p>",
        f"<table><thead>{thead}</thead><tbody>", *body, "</tbody></table>",
        *([f"<h2>Unpaired samples</h2><ul>{gaps}</ul>"] if gaps else []),
        *([f"<h2>{esc(UNDEFINED_TITLE)}</h2><ul>{undefined}</ul>"] if undefined else []),
        f"<footer>Generated by ttm-bench {esc(__version__)}.</footer>", "</body></html>", ""])


_CSV_FIELDS = [f.name for f in dataclasses.fields(PairedCell)] + ["baseline"]


def render_csv(comparison: Comparison, layout: str = "pairs") -> str:
    """One row per cell with every number at full precision (the layout does not apply)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for cell in comparison.cells:
        writer.writerow({**dataclasses.asdict(cell), "baseline": comparison.baseline})
    return out.getvalue()


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def comparison_record(comparison: Comparison) -> dict:
    """The comparison as JSON-ready data (NaN → null)."""
    return {
        "baseline": comparison.baseline,
        "benchmark": (dataclasses.asdict(comparison.benchmark) if comparison.benchmark
                      else None),
        "runs": list(comparison.runs),
        "metrics": [{"name": m.name, "label": m.label, "higher_is_better": m.higher_is_better,
                     "preset_hash": m.preset.hash} for m in comparison.metrics],
        "splits": list(comparison.splits),
        "settings": {"n_boot": comparison.n_boot, "seed": comparison.seed,
                     "level": comparison.level, "alpha": comparison.alpha,
                     "adjustment": "holm", "family_size": comparison.family_size,
                     "statement": comparison.adjustment},
        "baseline_values": [{"metric": m, "split": s, "value": _json_number(v)}
                            for (m, s), v in comparison.baseline_values.items()],
        "cells": [{k: _json_number(v) if isinstance(v, float) else v
                   for k, v in dataclasses.asdict(c).items()} for c in comparison.cells],
        "unpaired": [dataclasses.asdict(g) for g in comparison.gaps],
        "code_version": __version__,
    }


def render_json(comparison: Comparison, layout: str = "pairs") -> str:
    return json.dumps(comparison_record(comparison), indent=2, ensure_ascii=False) + "\n"


Renderer = Callable[[Comparison, str], str]
RENDERERS: dict[str, Renderer] = {"md": render_markdown, "html": render_html, "csv": render_csv,
                                  "json": render_json}
