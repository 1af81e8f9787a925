"""The report's plots, drawn with matplotlib and returned as SVG text.

- `metric_figure`: one metric, its value and confidence interval per run (colour) per split;
- `plane_figure`: the motion–consistency plane, AD on x against a consistency metric on y, one
  point per run with both intervals as error bars; a static video has AD 0, so the floor sits
  on the y axis and motion must be read together with consistency;
- `distribution_figure`: one metric's per-sample values per run, a box over the points.

Output is byte-reproducible: a fixed `svg.hashsalt`, no date in the metadata, text as paths (no
fonts needed by the viewer) and seeded jitter. Figures are built with `Figure` directly (no
pyplot state), so concurrent reports cannot mix them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ttm_bench.report.results import AggregateRow

_STYLE = {
    "svg.hashsalt": "ttm-bench-report",
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
#: Points jitter sideways by up to this fraction of the gap between runs.
_JITTER = 0.12


def plain(text: str) -> str:
    """`text` shown literally by matplotlib (a `$` would otherwise start mathtext)."""
    return text.replace("\\", "\\\\").replace("$", r"\$")


def run_colour(k: int) -> str:
    """The colour of the k-th run, the same in every plot (tab10, cycling)."""
    return matplotlib.colormaps["tab10"](k % 10)


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_STYLE):
        yield


def to_svg(figure: Figure) -> str:
    """The figure as SVG text, identical for identical inputs."""
    buffer = io.StringIO()
    with _style():
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buffer.getvalue()


def _half_widths(rows: Sequence[AggregateRow | None]) -> np.ndarray:
    """[2, n] distances from each value to its interval's ends (NaN when undefined)."""
    low = [r.value - r.ci_low if r else math.nan for r in rows]
    high = [r.ci_high - r.value if r else math.nan for r in rows]
    return np.array([low, high], dtype=float)


def _values(rows: Sequence[AggregateRow | None]) -> np.ndarray:
    return np.array([r.value if r else math.nan for r in rows], dtype=float)


def metric_figure(runs: Sequence[str], splits: Sequence[str], split_titles: Sequence[str],
                  rows: Sequence[Sequence[AggregateRow | None]], label: str) -> Figure:
    """rows[k][j]: run k's aggregate on split j (None when missing)."""
    with _style():
        figure = Figure(figsize=(1.6 + 1.3 * len(splits) * max(1, len(runs)) ** 0.5, 3.0))
        axes = figure.add_subplot()
        width = 0.7 / max(len(runs), 1)
        positions = np.arange(len(splits), dtype=float)
        for k, (run, run_rows) in enumerate(zip(runs, rows, strict=True)):
            x = positions - 0.35 + width * (k + 0.5)
            axes.errorbar(x, _values(run_rows), yerr=_half_widths(run_rows), fmt="o",
                          capsize=3, color=run_colour(k), label=plain(run))
        axes.set_xticks(positions, [plain(t) for t in split_titles])
        axes.set_ylabel(plain(label))
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plane_figure(runs: Sequence[str], x_rows: Sequence[AggregateRow | None],
                 y_rows: Sequence[AggregateRow | None], x_label: str, y_label: str) -> Figure:
    """One point per run at (motion, consistency) with both intervals; a dashed line marks the
    static floor at x = 0."""
    with _style():
        figure = Figure(figsize=(5.0, 3.6))
        axes = figure.add_subplot()
        for k, (run, x, y) in enumerate(zip(runs, x_rows, y_rows, strict=True)):
            if x is None or y is None:
                continue
            axes.errorbar([x.value], [y.value], xerr=_half_widths([x]), yerr=_half_widths([y]),
                          fmt="o", capsize=3, color=run_colour(k), label=plain(run))
        axes.axvline(0.0, color="0.4", linestyle="--", linewidth=1)
        axes.annotate("static floor (AD = 0)", xy=(0.0, 1.0), xycoords=("data", "axes fraction"),
                      xytext=(4, -4), textcoords="offset points", va="top", fontsize=8,
                      color="0.3")
        axes.set_xlim(left=min(0.0, *(x.ci_low for x in x_rows if x and math.isfinite(x.ci_low)))
                      - 0.05 * _span(x_rows))
        axes.set_xlabel(plain(x_label) + " (motion)")
        axes.set_ylabel(plain(y_label) + " (consistency)")
        axes.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def _span(rows: Sequence[AggregateRow | None]) -> float:
    ends = [e for r in rows if r for e in (r.ci_low, r.ci_high, r.value) if math.isfinite(e)]
    return (max(ends) - min(ends) if ends else 0.0) or 1.0


def distribution_figure(runs: Sequence[str], values: Sequence[np.ndarray], label: str,
                        seed: int = 0) -> Figure:
    """values[k]: run k's per-sample values (finite). A box per run, each sample a point."""
    rng = np.random.default_rng(seed)
    with _style():
        figure = Figure(figsize=(1.6 + 1.1 * len(runs), 3.0))
        axes = figure.add_subplot()
        positions = np.arange(len(runs), dtype=float)
        filled = [k for k, v in enumerate(values) if len(v)]
        if filled:
            axes.boxplot([values[k] for k in filled], positions=positions[filled], widths=0.5,
                         showfliers=False, medianprops={"color": "0.2"})
        for k in filled:
            jitter = rng.uniform(-_JITTER, _JITTER, size=len(values[k]))
            axes.scatter(positions[k] + jitter, values[k], s=12, alpha=0.75,
                         color=run_colour(k), zorder=3)
        axes.set_xticks(positions, [plain(r) for r in runs])
        axes.set_xlim(-0.6, len(runs) - 0.4)
        axes.set_ylabel(plain(label))
    return figure


def per_run_values(tables: Sequence[Mapping[str, Mapping[str, float]]], metric: str,
                   samples: Sequence[str]) -> list[np.ndarray]:
    """Run k's values of `metric` over `samples` (in that order, missing ones left out)."""
    return [np.array([t[s][metric] for s in samples if metric in t.get(s, {})], dtype=float)
            for t in tables]
