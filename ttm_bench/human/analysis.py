"""Analysis of pairwise votes: preference shares with CIs and tests, agreement, exclusion, ranking.

Input: a votes table (pandas) with one row per answer and columns `rater`, `item`,
`question`, `choice` ("a", "b" or "tie", relative to the item's pair), `pair_a`, `pair_b` and
`expected` (the right answer of an attention check; None/NaN on regular items).

Conventions:
- Vote share: votes for A among decisive votes (ties excluded from the denominator and counted
  separately), with a Wilson interval and an exact two-sided binomial test against 50 %.
- Majority vote (the paper's protocol): per item, the answer most raters gave; an item whose
  top answer is shared, or is "tie", is undecided. Item share: items won by A among decided
  items, with the same interval and test.
- A rater fails an attention check when any answer differs from the expected one; raters who
  failed more than `max_failed_fraction` of their checks are excluded from everything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.agreement import fleiss_kappa, krippendorff_alpha
from ttm_bench.human.bradley_terry import BradleyTerryError, fit_log_strengths
from ttm_bench.human.spec import Question
from ttm_bench.metrics.stats import binomial_test_two_sided, bootstrap_ci, wilson_interval

VOTE_COLUMNS = ("rater", "item", "question", "choice", "pair_a", "pair_b", "expected")
CATEGORIES = ("a", "b", "tie")


@dataclass(frozen=True)
class Analysis:
    """Everything `analyze` computes, as tables (see each function for the columns)."""

    preferences: pd.DataFrame
    agreement: pd.DataFrame
    raters: pd.DataFrame
    bradley_terry: pd.DataFrame | None
    questions: tuple[Question, ...]
    level: float

    @property
    def excluded_raters(self) -> list[str]:
        return sorted(self.raters.loc[self.raters["excluded"], "rater"])


def _share(successes: int, n: int, level: float) -> dict[str, float]:
    low, high = wilson_interval(successes, n, level)
    return {"share": successes / n if n else math.nan, "ci_low": low, "ci_high": high,
            "p_value": binomial_test_two_sided(successes, n) if n else math.nan}


def majority_choice(choices: pd.Series) -> str:
    """The most common answer of one item; "tie" when the top count is shared."""
    counts = choices.value_counts()
    if len(counts) > 1 and counts.iloc[0] == counts.iloc[1]:
        return "tie"
    return str(counts.index[0])


def rater_checks(votes: pd.DataFrame, max_failed_fraction: float | None) -> pd.DataFrame:
    """Per rater: `checks` answered, `failed`, `failed_fraction`, `excluded`.

    `max_failed_fraction` None disables exclusion.
    """
    raters = sorted(votes["rater"].unique())
    checks = votes[votes["expected"].notna()]
    failed_item = (checks.assign(wrong=checks["choice"] != checks["expected"])
                   .groupby(["rater", "item"])["wrong"].any())
    per_rater = failed_item.groupby(level="rater").agg(["size", "sum"])
    table = pd.DataFrame({"rater": raters})
    table["checks"] = [int(per_rater["size"].get(r, 0)) for r in raters]
    table["failed"] = [int(per_rater["sum"].get(r, 0)) for r in raters]
    table["failed_fraction"] = np.where(table["checks"] > 0,
                                        table["failed"] / table["checks"].clip(lower=1), np.nan)
    table["excluded"] = (False if max_failed_fraction is None
                         else table["failed_fraction"].fillna(0.0) > max_failed_fraction)
    return table


def preference_table(votes: pd.DataFrame, questions: tuple[Question, ...], level: float = 0.95
                     ) -> pd.DataFrame:
    """Per (pair_a, pair_b, question): vote and majority-vote shares preferring A.

    Columns: pair_a, pair_b, question, votes_a, votes_b, votes_tie, vote_share_a,
    vote_ci_low, vote_ci_high, vote_p_value, items, items_a, items_b, items_undecided,
    item_share_a, item_ci_low, item_ci_high, item_p_value.
    """
    rows = []
    order = {q.id: i for i, q in enumerate(questions)}
    for (a, b, question), group in votes.groupby(["pair_a", "pair_b", "question"], sort=True):
        counts = group["choice"].value_counts()
        va, vb, vt = (int(counts.get(c, 0)) for c in CATEGORIES)
        majority = group.groupby("item")["choice"].agg(majority_choice)
        ia, ib = int((majority == "a").sum()), int((majority == "b").sum())
        vote = _share(va, va + vb, level)
        item = _share(ia, ia + ib, level)
        rows.append({
            "pair_a": a, "pair_b": b, "question": question,
            "votes_a": va, "votes_b": vb, "votes_tie": vt,
            "vote_share_a": vote["share"], "vote_ci_low": vote["ci_low"],
            "vote_ci_high": vote["ci_high"], "vote_p_value": vote["p_value"],
            "items": len(majority), "items_a": ia, "items_b": ib,
            "items_undecided": len(majority) - ia - ib,
            "item_share_a": item["share"], "item_ci_low": item["ci_low"],
            "item_ci_high": item["ci_high"], "item_p_value": item["p_value"],
        })
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["_order"] = table["question"].map(order)
    return table.sort_values(["pair_a", "pair_b", "_order"]).drop(columns="_order"
                                                                  ).reset_index(drop=True)


def agreement_table(votes: pd.DataFrame) -> pd.DataFrame:
    """Per (pair_a, pair_b, question): items, raters_per_item (or NaN if unequal),
    krippendorff_alpha and fleiss_kappa (NaN unless every item has the same number of raters).
    """
    rows = []
    for (a, b, question), group in votes.groupby(["pair_a", "pair_b", "question"], sort=True):
        counts = (group.groupby("item")["choice"].value_counts().unstack(fill_value=0)
                  .reindex(columns=list(CATEGORIES), fill_value=0).to_numpy())
        per_item = counts.sum(axis=1)
        equal = bool(len(per_item)) and bool(np.all(per_item == per_item[0])) and per_item[0] > 1
        rows.append({"pair_a": a, "pair_b": b, "question": question, "items": len(counts),
                     "raters_per_item": float(per_item[0]) if equal else math.nan,
                     "krippendorff_alpha": krippendorff_alpha(counts),
                     "fleiss_kappa": fleiss_kappa(counts) if equal else math.nan})
    return pd.DataFrame(rows)


def bradley_terry_table(votes: pd.DataFrame, *, n_boot: int = 1000, level: float = 0.95,
                        seed: int = 0, prior: float = 0.5) -> pd.DataFrame:
    """Per (question, model): centred Bradley–Terry log-strength with a bootstrap CI.

    The bootstrap resamples items (with all their votes), since votes on one item are not
    independent. Strengths are NaN when the compared pairs do not connect all models, and an
    interval is NaN when some resample does not (the `bootstrap_ci` convention); the column
    `undefined_resamples` counts those resamples so reports can say why. Columns: question,
    model, log_strength, ci_low, ci_high, votes, undefined_resamples. Ties count half; see
    `ttm_bench.human.bradley_terry` for units and `prior`.
    """
    models = sorted(set(votes["pair_a"]) | set(votes["pair_b"]))
    index = {m: i for i, m in enumerate(models)}
    rows = []
    for question, group in votes.groupby("question", sort=True):
        a = group["pair_a"].map(index).to_numpy()
        b = group["pair_b"].map(index).to_numpy()
        choice = group["choice"].to_numpy()
        winners, losers = np.where(choice == "b", b, a), np.where(choice == "b", a, b)
        ties = choice == "tie"
        item_codes, items = pd.factorize(group["item"])
        item_wins = np.zeros((len(items), len(models), len(models)))  # float64 [items, m, m]
        np.add.at(item_wins, (item_codes, winners, losers), np.where(ties, 0.5, 1.0))
        np.add.at(item_wins, (item_codes[ties], losers[ties], winners[ties]), 0.5)
        fits: dict[bytes, np.ndarray] = {}  # every model's interval reuses the same resamples

        def fit(idx: np.ndarray, wins: np.ndarray = item_wins,
                cache: dict[bytes, np.ndarray] = fits) -> np.ndarray:
            key = idx.tobytes()
            if key not in cache:
                try:
                    cache[key] = fit_log_strengths(wins[idx].sum(axis=0), prior)
                except BradleyTerryError:  # models not connected by comparisons: undefined
                    cache[key] = np.full(len(models), np.nan)
            return cache[key]

        everything = fit(np.arange(len(items)))
        fits.clear()
        appearances = np.bincount(np.concatenate([a, b]), minlength=len(models))
        for m, name in enumerate(models):
            low, high = bootstrap_ci(lambda idx, m=m: float(fit(idx)[m]), len(items),
                                     n_boot=n_boot, level=level, seed=seed)
            rows.append({"question": question, "model": name, "log_strength": everything[m],
                         "ci_low": low, "ci_high": high, "votes": int(appearances[m]),
                         "undefined_resamples": sum(np.isnan(f[0]) for f in fits.values())})
    return pd.DataFrame(rows)


def analyze(votes: pd.DataFrame, questions: tuple[Question, ...], *, level: float = 0.95,
            max_failed_fraction: float | None = 0.0, n_boot: int = 1000, seed: int = 0
            ) -> Analysis:
    """The full analysis of a votes table (columns `VOTE_COLUMNS`); see the module docstring.

    Bradley–Terry is fitted only when the votes involve more than two models.
    """
    missing = [c for c in VOTE_COLUMNS if c not in votes.columns]
    if missing:
        raise TTMBenchError(f"votes table lacks column(s) {missing}; it needs {list(VOTE_COLUMNS)}")
    raters = rater_checks(votes, max_failed_fraction)
    excluded = set(raters.loc[raters["excluded"], "rater"])
    regular = votes[votes["expected"].isna() & ~votes["rater"].isin(excluded)]
    if regular.empty:
        raise TTMBenchError(f"no votes to analyse ({len(votes)} answers in total, "
                            f"{len(excluded)} rater(s) excluded); collect votes first, or relax "
                            "the attention-check exclusion")
    models = set(regular["pair_a"]) | set(regular["pair_b"])
    bt = (bradley_terry_table(regular, n_boot=n_boot, level=level, seed=seed)
          if len(models) > 2 else None)
    return Analysis(preference_table(regular, questions, level), agreement_table(regular),
                    raters, bt, questions, level)
