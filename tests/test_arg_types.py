"""argparse value types: NaN and infinity never reach a builder."""

from __future__ import annotations

import argparse

import pytest

from ttm_bench.cli import main
from ttm_bench.commands.arg_types import fraction, positive_number


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "0", "-1", "abc"])
def test_positive_number_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_number(text)


@pytest.mark.parametrize("text", ["nan", "1.5", "-0.1", "x"])
def test_fraction_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        fraction(text)


def test_accepted_values() -> None:
    assert positive_number("8") == 8.0 and fraction("0.01") == 0.01


def test_build_with_nan_fps_is_a_usage_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "build", "synthetic", "--out", str(tmp_path / "b"), "--fps", "nan"])
    assert exit_info.value.code == 2
    assert "finite positive" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
