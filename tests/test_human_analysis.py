"""Analysis: agreement statistics, Bradley–Terry, preference tables, exclusion, outputs."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ttm_bench.errors import TTMBenchError
from ttm_bench.human.agreement import fleiss_kappa, krippendorff_alpha
from ttm_bench.human.analysis import (
    VOTE_COLUMNS,
    analyze,
    majority_choice,
    preference_table,
    rater_checks,
)
from ttm_bench.human.bradley_terry import fit_log_strengths, win_matrix
from ttm_bench.human.outputs import leaderboard_columns, paper_table, write_analysis
from ttm_bench.human.spec import DEFAULT_QUESTIONS
from ttm_bench.metrics.stats import binomial_test_two_sided, wilson_interval

# Fleiss (1971) as reproduced in most textbooks: 10 subjects, 14 raters, 5 categories.
FLEISS_EXAMPLE = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers, 12 units,
# values 1-5, None = missing; nominal alpha = 0.743.
KRIPPENDORFF_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def _counts(reliability: list[list[int | None]], values: range) -> np.ndarray:
    units = zip(*reliability, strict=True)
    return np.array([[sum(v == c for v in unit) for c in values] for unit in units])


def _alpha_by_pairs(reliability: list[list[int | None]]) -> float:
    """Independent reference: α = 1 − D_o / D_e from explicit pairable value pairs."""
    units = [[v for v in unit if v is not None] for unit in zip(*reliability, strict=True)]
    units = [u for u in units if len(u) >= 2]
    pairs_within = [(x, y, 1 / (len(u) - 1)) for u in units
                    for i, x in enumerate(u) for j, y in enumerate(u) if i != j]
    values = [v for u in units for v in u]
    n = len(values)
    d_o = sum(w for x, y, w in pairs_within if x != y) / n
    d_e = sum(x != y for i, x in enumerate(values) for j, y in enumerate(values) if i != j)
    return 1 - d_o / (d_e / (n * (n - 1)))


def test_fleiss_kappa_matches_the_published_example() -> None:
    assert fleiss_kappa(FLEISS_EXAMPLE) == pytest.approx(0.20993, abs=5e-5)


def test_krippendorff_alpha_matches_the_published_example_and_the_pair_definition() -> None:
    counts = _counts(KRIPPENDORFF_EXAMPLE, range(1, 6))
    assert krippendorff_alpha(counts) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(counts) == pytest.approx(_alpha_by_pairs(KRIPPENDORFF_EXAMPLE))


def test_agreement_limits() -> None:
    perfect = np.array([[3, 0], [0, 3], [3, 0]])
    assert fleiss_kappa(perfect) == pytest.approx(1.0)
    assert krippendorff_alpha(perfect) == pytest.approx(1.0)
    assert math.isnan(krippendorff_alpha(np.array([[1, 0], [0, 1]])))  # nothing pairable
    assert math.isnan(fleiss_kappa(np.array([[2, 0], [2, 0]])))  # one category only
    with pytest.raises(TTMBenchError, match="same number"):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))


def test_bradley_terry_two_models_has_the_closed_form() -> None:
    wins = np.array([[0.0, 30.0], [10.0, 0.0]])
    log_s = fit_log_strengths(wins)
    assert log_s[0] - log_s[1] == pytest.approx(math.log(3.0), abs=1e-8)
    assert log_s.sum() == pytest.approx(0.0, abs=1e-12)


def test_bradley_terry_recovers_known_strengths() -> None:
    true = np.array([1.0, 0.0, -1.0, 0.5])
    m = len(true)
    # expected win counts under the model are a fixed point of the MLE
    wins = np.array([[0.0 if i == j else 1000 / (1 + math.exp(true[j] - true[i]))
                      for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(fit_log_strengths(wins), true - true.mean(), atol=1e-6)


def test_bradley_terry_counts_ties_half_and_needs_a_connected_design() -> None:
    wins = win_matrix(np.array([0, 1]), np.array([1, 0]), np.array([False, True]), 2)
    np.testing.assert_array_equal(wins, [[0, 1.5], [0.5, 0]])
    with pytest.raises(TTMBenchError, match="do not exist"):
        fit_log_strengths(np.array([[0.0, 2.0], [0.0, 0.0]]))
    assert np.all(np.isfinite(fit_log_strengths(np.array([[0.0, 2.0], [0.0, 0.0]]), prior=0.5)))
    disconnected = np.zeros((4, 4))
    disconnected[0, 1] = disconnected[1, 0] = disconnected[2, 3] = disconnected[3, 2] = 1
    with pytest.raises(TTMBenchError, match="groups"):
        fit_log_strengths(disconnected)


def _reference_fit(wins: np.ndarray, prior: float) -> np.ndarray:
    """Independent Arena-style fit: the same penalised likelihood as a logistic regression
    over every (winner, loser) cell, minimised by scipy's BFGS, centred."""
    from scipy.optimize import minimize

    wins = wins + prior / 2 * ((wins + wins.T) > 0)
    i, j = np.nonzero(wins)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        margin = theta[i] - theta[j]
        value = float((wins[i, j] * np.logaddexp(0, -margin)).sum())
        weight = wins[i, j] / (1 + np.exp(margin))
        grad = np.zeros_like(theta)
        np.add.at(grad, i, -weight)
        np.add.at(grad, j, weight)
        return value, grad

    theta = minimize(loss, np.zeros(len(wins)), jac=True, method="BFGS",
                     options={"gtol": 1e-12, "maxiter": 10_000}).x
    return theta - theta.mean()


def _lopsided(n_models: int = 6, seed: int = 0) -> np.ndarray:
    """Win counts of a chain of models where the last (a static floor) never wins and one
    linking pair is 29:1 — the designs that stalled the old MM loop."""
    rng = np.random.default_rng(seed)
    wins = np.zeros((n_models, n_models))
    for k in range(n_models - 1):
        a, b = k, k + 1
        wins[a, b], wins[b, a] = rng.integers(8, 20), rng.integers(2, 8)
    wins[0, 2], wins[2, 0] = 29, 1
    wins[n_models - 2, n_models - 1], wins[n_models - 1, n_models - 2] = 30, 0
    return wins


@pytest.mark.parametrize("prior", [0.5, 2.0])
def test_bradley_terry_agrees_with_an_independent_fit_on_lopsided_designs(prior: float) -> None:
    from ttm_bench.human.bradley_terry import ELO_PER_NAT

    for seed in range(3):
        wins = _lopsided(seed=seed)
        ours, reference = fit_log_strengths(wins, prior), _reference_fit(wins, prior)
        np.testing.assert_allclose(ours * ELO_PER_NAT, reference * ELO_PER_NAT, atol=1e-5)


def test_bradley_terry_mle_exists_only_for_a_strongly_connected_design() -> None:
    from ttm_bench.human.bradley_terry import BradleyTerryError

    with pytest.raises(BradleyTerryError, match="do not exist"):  # the floor never wins
        fit_log_strengths(_lopsided(), prior=0.0)
    chain = np.array([[0.0, 3.0, 0.0], [1.0, 0.0, 2.0], [0.0, 0.0, 0.0]])  # 2 never beats 1
    with pytest.raises(BradleyTerryError, match="do not exist"):  # connected, not strongly
        fit_log_strengths(chain, prior=0.0)
    chain[2, 1] = 1.0
    np.testing.assert_allclose(fit_log_strengths(chain), _reference_fit(chain, 0.0), atol=1e-7)


def _votes(rows: list[tuple[str, str, str, str, str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))


def _design(item_choices: dict[str, list[str]], pair: tuple[str, str] = ("ttm", "base"),
            questions: tuple[str, ...] = ("text_alignment",)) -> pd.DataFrame:
    rows = [(f"r{k}", item, q, choice, *pair, None) for item, choices in item_choices.items()
            for k, choice in enumerate(choices) for q in questions]
    return _votes(rows)


def test_preference_table_counts_votes_and_majorities() -> None:
    votes = _design({"i1": ["a", "a", "b"], "i2": ["a", "b", "b"], "i3": ["a", "a", "a"],
                     "i4": ["a", "b", "tie"]})
    row = preference_table(votes, DEFAULT_QUESTIONS).iloc[0]
    assert (row.votes_a, row.votes_b, row.votes_tie) == (7, 4, 1)
    assert row.vote_share_a == pytest.approx(7 / 11)
    assert (row.vote_ci_low, row.vote_ci_high) == pytest.approx(wilson_interval(7, 11))
    assert row.vote_p_value == pytest.approx(binomial_test_two_sided(7, 11))
    assert (row.items_a, row.items_b, row.items_undecided) == (2, 1, 1)
    assert row.item_share_a == pytest.approx(2 / 3)
    assert row.item_p_value == pytest.approx(binomial_test_two_sided(2, 3))


def test_majority_choice() -> None:
    assert majority_choice(pd.Series(["a", "b", "a"])) == "a"
    assert majority_choice(pd.Series(["a", "b"])) == "tie"
    assert majority_choice(pd.Series(["b"])) == "b"


def test_attention_check_failures_exclude_raters() -> None:
    regular = _design({"i1": ["a", "a", "b"]})
    checks = _votes([("r0", "c1", "text_alignment", "a", "ttm", "base", "a"),
                     ("r2", "c1", "text_alignment", "b", "ttm", "base", "a"),
                     ("r2", "c2", "text_alignment", "a", "ttm", "base", "a")])
    votes = pd.concat([regular, checks], ignore_index=True)
    table = rater_checks(votes, 0.0).set_index("rater")
    assert table.loc["r2", "checks"] == 2 and table.loc["r2", "failed"] == 1
    assert table.loc["r2", "excluded"] and not table.loc["r0", "excluded"]
    assert table.loc["r1", "checks"] == 0 and not table.loc["r1", "excluded"]
    assert not rater_checks(votes, 0.5)["excluded"].any()
    result = analyze(votes, DEFAULT_QUESTIONS[:1], max_failed_fraction=0.0)
    assert result.excluded_raters == ["r2"]
    assert result.preferences.iloc[0].votes_b == 0  # r2's vote on i1 is gone
    kept = analyze(votes, DEFAULT_QUESTIONS[:1], max_failed_fraction=None)
    assert kept.preferences.iloc[0].votes_b == 1


def test_analysis_of_many_models_ranks_them_with_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    strength = {"m1": 1.5, "m2": 0.5, "m3": -2.0}
    rows = []
    for a, b in itertools.combinations(strength, 2):
        p_a = 1 / (1 + math.exp(strength[b] - strength[a]))
        for item in range(30):
            for rater in range(3):
                for q in DEFAULT_QUESTIONS:
                    choice = "a" if rng.random() < p_a else "b"
                    rows.append((f"r{rater}", f"{a}-{b}-{item}", q.id, choice, a, b, None))
    result = analyze(_votes(rows), DEFAULT_QUESTIONS, n_boot=50)
    bt = result.bradley_terry
    assert bt is not None and len(bt) == 9
    for _, group in bt.groupby("question"):
        ranked = list(group.sort_values("log_strength", ascending=False)["model"])
        assert ranked == ["m1", "m2", "m3"]
        assert (group["ci_low"] <= group["log_strength"]).all()
        assert (group["log_strength"] <= group["ci_high"]).all()
    paths = write_analysis(result, tmp_path / "out", "demo")
    assert {p.name for p in paths} == {"preferences.csv", "agreement.csv", "raters.csv",
                                       "paper_table.csv", "bradley_terry.csv", "report.md"}
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| Comparison | Text align. | Motion consist. | Quality |" in report
    columns = pd.read_csv(tmp_path / "out" / "paper_table.csv")
    forward = columns[(columns.model == "m1") & (columns.opponent == "m3")].iloc[0]
    backward = columns[(columns.model == "m3") & (columns.opponent == "m1")].iloc[0]
    assert forward.human_text_alignment + backward.human_text_alignment == pytest.approx(100)


def test_paper_table_layout_and_leaderboard_columns() -> None:
    votes = _design({"i1": ["a", "a", "b"], "i2": ["b", "b", "a"], "i3": ["a", "a", "a"],
                     "i4": ["a", "a", "a"]}, questions=tuple(q.id for q in DEFAULT_QUESTIONS))
    result = analyze(votes, DEFAULT_QUESTIONS)
    table = paper_table(result)
    assert list(table.columns) == ["Comparison", "Text align.", "Motion consist.", "Quality"]
    assert table.iloc[0].tolist() == ["ttm vs. base", *["75.0% (4 of 4 decided)"] * 3]
    assert result.bradley_terry is None
    cols = leaderboard_columns(result).set_index("model")
    assert cols.loc["base", "human_visual_quality"] == pytest.approx(25.0)


def test_the_headline_share_states_decided_of_total_items() -> None:
    """A majority share never stands bare: 100% of 1 decided item out of 3 says so."""
    votes = _design({"i1": ["a", "a"], "i2": ["a", "b"], "i3": ["b", "a"]},
                    questions=("text_alignment",))
    (cell,) = paper_table(analyze(votes, DEFAULT_QUESTIONS[:1])).iloc[0].tolist()[1:]
    assert cell == "100.0% (1 of 3 decided)"
    undecided = _design({"i1": ["a", "b"]}, questions=("text_alignment",))
    assert paper_table(analyze(undecided, DEFAULT_QUESTIONS[:1])).iloc[0, 1] == (
        "– (0 of 1 decided)")


def test_no_votes_is_an_error() -> None:
    with pytest.raises(TTMBenchError, match="no votes"):
        analyze(_votes([]), DEFAULT_QUESTIONS)
    with pytest.raises(TTMBenchError, match="lacks column"):
        analyze(_votes([]).drop(columns="expected"), DEFAULT_QUESTIONS)


def test_bradley_terry_on_a_disconnected_design_is_undefined_not_an_error(tmp_path: Path
                                                                         ) -> None:
    votes = pd.concat([_design({"i1": ["a", "b"], "i2": ["a", "a"]}, pair=("m1", "m2")),
                       _design({"i3": ["a", "b"], "i4": ["b", "b"]}, pair=("m3", "m4"))],
                      ignore_index=True)
    result = analyze(votes, DEFAULT_QUESTIONS[:1], n_boot=20)
    assert result.bradley_terry["log_strength"].isna().all()
    assert len(result.preferences) == 2  # the pairwise shares are still reported
    write_analysis(result, tmp_path, "s")
    assert "do not connect all models, so no strengths" in (tmp_path / "report.md").read_text()


def test_resamples_that_disconnect_the_models_are_counted_and_explained(tmp_path: Path) -> None:
    """One item links m2 and m3: every resample without it leaves the design disconnected."""
    votes = pd.concat([_design({f"i{k}": ["a", "b"] for k in range(4)}, pair=("m1", "m2")),
                       _design({"link": ["a", "b"]}, pair=("m2", "m3"))], ignore_index=True)
    result = analyze(votes, DEFAULT_QUESTIONS[:1], n_boot=50)
    bt = result.bradley_terry
    assert bt["log_strength"].notna().all() and bt["ci_low"].isna().all()
    assert 0 < bt["undefined_resamples"].iloc[0] < 50
    write_analysis(result, tmp_path, "s")
    assert "resample(s) left the models disconnected" in (tmp_path / "report.md").read_text()
