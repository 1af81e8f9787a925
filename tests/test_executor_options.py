"""The shared --executor options of `generate` and `evaluate`."""

from __future__ import annotations

import pytest

from ttm_bench.cli import build_parser, main
from ttm_bench.commands.executor_options import ray_options


@pytest.mark.parametrize("command", [
    ["generate", "--bench", "b", "--model", "static", "--out", "o"],
    ["evaluate", "--bench", "b", "--run", "r", "--out", "o"],
])
def test_ray_only_options_need_the_ray_executor(command, capsys):
    assert main([*command, "--workers", "2"]) == 2
    assert "need --executor ray" in capsys.readouterr().err
    args = build_parser().parse_args([*command, "--executor", "ray", "--address", "auto",
                                      "--workers", "3", "--timeout", "60"])
    assert ray_options(args) == {"address": "auto", "num_workers": 3, "timeout": 60.0}
    assert ray_options(build_parser().parse_args(command)) is None
