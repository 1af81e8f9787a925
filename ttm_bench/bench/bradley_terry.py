"""Bradley–Terry bootstrap benchmark (a script, not a test).

Run: `python -m ttm_bench.bench.bradley_terry`.

Builds the votes of a lopsided 6-model study — a chain of pairs with one 29:1 linking pair and
a static floor that never wins, 16 samples per pair, 5 raters per item, 3 questions, the
designs that made the old minorise–maximise loop crawl — and times `bradley_terry_table` (the
`study analyze` step) with the default 1000 item-level resamples. Prints the seconds in total,
per question and per resample, and the spread of the strengths. Target: < 10 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from ttm_bench.human.analysis import bradley_terry_table
from ttm_bench.human.bradley_terry import ELO_PER_NAT


def lopsided_votes(n_models: int = 6, samples: int = 16, raters: int = 5,
                   questions: int = 3, seed: int = 0) -> pd.DataFrame:
    """Votes (columns of `ttm_bench.human.analysis.VOTE_COLUMNS`) of the study above."""
    rng = np.random.default_rng(seed)
    names = [f"m{k}" for k in range(n_models - 1)] + ["static"]
    pairs = [(names[k], names[k + 1], 0.7) for k in range(n_models - 2)]
    pairs += [(names[0], names[2], 29 / 30), (names[-2], names[-1], 1.0)]
    rows = []
    for a, b, p_a in pairs:
        for s in range(samples):
            item = f"{a}-vs-{b}:s{s}"
            for r in range(raters):
                for q in range(questions):
                    choice = "a" if rng.random() < p_a else "b"
                    rows.append((f"r{r}", item, f"q{q}", choice, a, b, None))
    return pd.DataFrame(rows, columns=["rater", "item", "question", "choice", "pair_a",
                                       "pair_b", "expected"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--models", type=int, default=6)
    args = parser.parse_args(argv)
    votes = lopsided_votes(args.models)
    questions = votes["question"].nunique()
    start = time.perf_counter()
    table = bradley_terry_table(votes, n_boot=args.n_boot)
    seconds = time.perf_counter() - start
    print(f"{args.models} models, {votes['item'].nunique()} items, {len(votes)} votes, "
          f"{questions} questions, {args.n_boot} resamples")
    print(f"bradley_terry_table: {seconds:.2f} s total, {seconds / questions:.2f} s per "
          f"question, {1000 * seconds / (questions * args.n_boot):.2f} ms per resample fit")
    spread = table.groupby("question")["log_strength"].agg(lambda s: s.max() - s.min())
    print(f"strongest − weakest: {spread.mean():.2f} nats = {spread.mean() * ELO_PER_NAT:.0f} "
          f"Elo (mean over questions); undefined resamples: "
          f"{int(table['undefined_resamples'].max())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
