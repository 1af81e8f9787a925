"""The paper's ablation tables from real runs of the registered TTM variants (tiny random
checkpoints: the numbers are meaningless; the layout and the statistics are what is tested)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from reference_impl.ttm.config import VARIANTS
from tests.ttm_fixtures import write_tiny_checkpoint
from ttm_bench.cli import main
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.generation.registry import register_model, resolve_model

pytestmark = pytest.mark.slow

MASKED_ATTENTION = ("ttm", "ttm-no-masked-attn", "ttm-masked-cross", "ttm-masked-self")
TRAJECTORY = ("ttm", "ttm-flow")


@pytest.fixture(scope="module")
def results(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results directories of every ablation run, named after the model, evaluated for AD."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    for name, target in pyproject["project"]["entry-points"]["ttm_bench.models"].items():
        if name in VARIANTS:
            register_model(name)(resolve_model(target))
    root = tmp_path_factory.mktemp("ablations")
    for model in dict.fromkeys(MASKED_ATTENTION + TRAJECTORY):
        checkpoint = write_tiny_checkpoint(root / "checkpoints", "unet-tiny", model)
        assert main(["generate", "--bench", str(small_bench.root), "--model", model, "--out",
                     str(root / "runs" / model), "--set", f"checkpoint={checkpoint}",
                     "--set", "steps=1", "--quiet"]) == 0
        assert main(["evaluate", "--run", str(root / "runs" / model), "--bench",
                     str(small_bench.root), "--metrics", "ad", "--out",
                     str(root / "results" / model), "--quiet"]) == 0
    return root / "results"


@pytest.mark.parametrize("models", [MASKED_ATTENTION, TRAJECTORY],
                         ids=["masked-attention", "trajectory"])
def test_ablation_table_has_the_papers_layout(results: Path, tmp_path: Path, models: tuple,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "table"
    assert main(["compare", *(str(results / m) for m in models), "--baseline", "ttm",
                 "--layout", "ablation", "--splits", "single,multi", "--out", str(out),
                 "--format", "md,latex,json", "--n-boot", "200"]) == 0
    table = (out / "comparison.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0] == "| Run | AD (single-object) | AD (multi-object) |"
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]] == list(models)
    baseline_cells = rows[1].split(" | ")[1:]
    assert all("(" not in cell for cell in baseline_cells)  # the baseline: values only
    for row in rows[2:]:  # each variant: value (Δ, interval)
        assert all(" (" in cell and "[" in cell for cell in row.split(" | ")[1:])
    record = json.loads((out / "comparison.json").read_text())
    assert record["baseline"] == "ttm" and record["runs"] == list(models[1:])
    assert record["settings"]["family_size"] == 2 * (len(models) - 1)
    assert all(c["n_paired"] == 2 and c["test"] == "sign-flip permutation"
               for c in record["cells"])
    tex = (out / "comparison.tex").read_text()
    assert tex.count(r"\midrule") == 1 and all(m in tex for m in models)
    capsys.readouterr()
