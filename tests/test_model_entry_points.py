"""Every model registered in pyproject.toml resolves to a class of that name."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ttm_bench.generation.registry import ENTRY_POINT_GROUP, resolve_model

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def test_entry_points_resolve_to_models_of_their_name():
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    entry_points = project["entry-points"][ENTRY_POINT_GROUP]
    for baseline in ("videocrafter1-i2v", "dynamicrafter-256", "dynamicrafter-512",
                     "dynamicrafter-1024", "motion-i2v", "consisti2v", "svd", "i2vgen-xl",
                     "cogvideox-i2v"):
        assert baseline in entry_points
    for name, target in entry_points.items():
        assert resolve_model(target).name == name
