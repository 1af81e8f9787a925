"""Write an `Analysis` to a folder: CSV tables, a Markdown report and the paper-layout table.

Files: `preferences.csv`, `agreement.csv`, `raters.csv`, `bradley_terry.csv` (more than two
models only), `paper_table.csv` (one row per model and opponent, one column per question: the
percentage of majority-voted items preferring the model, for the leaderboard to merge) and
`report.md` (the paper-layout table first: Comparison | Text align. | Motion consist. |
Quality, then the details).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ttm_bench.atomic import atomic_path, write_text
from ttm_bench.human.analysis import Analysis


def _percent(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.1f}%"


def format_share(share: float, decided: int, total: int) -> str:
    """"56.2% (9 of 16 decided)"; "– (0 of 16 decided)" when no item is decided."""
    percent = "–" if decided == 0 else f"{100 * share:.1f}%"
    return f"{percent} ({decided} of {total} decided)"


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *body]) + "\n"


def paper_table(analysis: Analysis) -> pd.DataFrame:
    """Rows "A vs. B", one column per question label: % of decided items preferring A, with
    the decided and total item counts ("56.2% (9 of 16 decided)")."""
    prefs = analysis.preferences
    rows = []
    for (a, b), group in prefs.groupby(["pair_a", "pair_b"], sort=False):
        cells = {r.question: format_share(r.item_share_a, r.items_a + r.items_b, r.items)
                 for r in group.itertuples()}
        row = {"Comparison": f"{a} vs. {b}"}
        row.update({q.label: cells.get(q.id, "–") for q in analysis.questions})
        rows.append(row)
    return pd.DataFrame(rows, columns=["Comparison", *[q.label for q in analysis.questions]])


def leaderboard_columns(analysis: Analysis) -> pd.DataFrame:
    """Columns model, opponent, human_<question id>...: % of decided items preferring `model`."""
    rows = []
    for (a, b), group in analysis.preferences.groupby(["pair_a", "pair_b"], sort=False):
        shares = dict(zip(group["question"], group["item_share_a"], strict=True))
        for model, opponent, flip in ((a, b, False), (b, a, True)):
            row = {"model": model, "opponent": opponent}
            for q in analysis.questions:
                share = shares.get(q.id, math.nan)
                row[f"human_{q.id}"] = 100 * (1 - share if flip else share)
            rows.append(row)
    return pd.DataFrame(rows)


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def _report(analysis: Analysis, study_name: str) -> str:
    level = f"{100 * analysis.level:g}%"
    prefs = analysis.preferences
    detail = pd.DataFrame({
        "A": prefs["pair_a"], "B": prefs["pair_b"], "question": prefs["question"],
        "votes A/B/tie": [f"{a}/{b}/{t}" for a, b, t in
                          zip(prefs["votes_a"], prefs["votes_b"], prefs["votes_tie"], strict=True)],
        "vote share A": [f"{_percent(s)} [{_percent(lo)}, {_percent(hi)}]" for s, lo, hi in
                         zip(prefs["vote_share_a"], prefs["vote_ci_low"], prefs["vote_ci_high"],
                             strict=True)],
        "vote p": [f"{p:.3g}" for p in prefs["vote_p_value"]],
        "items A/B/undecided": [f"{a}/{b}/{u}" for a, b, u in zip(
            prefs["items_a"], prefs["items_b"], prefs["items_undecided"], strict=True)],
        "item share A": [f"{_percent(s)} [{_percent(lo)}, {_percent(hi)}]" for s, lo, hi in
                         zip(prefs["item_share_a"], prefs["item_ci_low"], prefs["item_ci_high"],
                             strict=True)],
        "item p": [f"{p:.3g}" for p in prefs["item_p_value"]],
    })
    parts = [
        f"# Human preference study `{study_name}`\n",
        "Share of majority-voted items preferring the first model of each comparison "
        "(ties and undecided items excluded):\n",
        _markdown(paper_table(analysis)),
        f"\n## Details ({level} Wilson intervals, exact two-sided binomial test vs. 50%)\n",
        _markdown(detail),
        "\n## Inter-rater agreement\n",
        _markdown(analysis.agreement.round(3)),
        "\n## Attention checks\n",
        f"Excluded raters: {', '.join(analysis.excluded_raters) or 'none'}.\n\n",
        _markdown(analysis.raters.round(3)),
    ]
    if analysis.bradley_terry is not None:
        parts += [f"\n## Bradley–Terry log-strengths ({level} bootstrap intervals)\n",
                  "Natural-log strengths centred to mean 0 (a difference d means P(win) = "
                  "1 / (1 + e^−d); × 173.7 for Elo points), fitted with 0.5 virtual ties per "
                  "compared pair; intervals resample items.\n",
                  _markdown(analysis.bradley_terry.round(3)), *_undefined_notes(analysis)]
    return "\n".join(parts)


def _undefined_notes(analysis: Analysis) -> list[str]:
    """Sentences explaining undefined strengths or intervals, per question."""
    notes = []
    for question, group in analysis.bradley_terry.groupby("question", sort=False):
        undefined = int(group["undefined_resamples"].max())
        if group["log_strength"].isna().all():
            notes.append(f"\n{question}: the compared pairs do not connect all models, so no "
                         "strengths are defined; add pairs linking the groups.\n")
        elif undefined:
            notes.append(f"\n{question}: {undefined} bootstrap resample(s) left the models "
                         "disconnected, so the intervals are undefined (shown as NaN); collect "
                         "more items per pair.\n")
    return notes


def write_analysis(analysis: Analysis, out: str | Path, study_name: str) -> list[Path]:
    """Write every output file into `out`; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"preferences.csv": analysis.preferences, "agreement.csv": analysis.agreement,
              "raters.csv": analysis.raters, "paper_table.csv": leaderboard_columns(analysis)}
    if analysis.bradley_terry is not None:
        tables["bradley_terry.csv"] = analysis.bradley_terry
    for name, table in tables.items():
        _write_csv(out / name, table)
    write_text(out / "report.md", _report(analysis, study_name))
    return [out / name for name in [*tables, "report.md"]]
