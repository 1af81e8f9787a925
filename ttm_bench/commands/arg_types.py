"""argparse value types shared by commands."""

from __future__ import annotations

import argparse
import math


def positive_number(text: str) -> float:
    """A finite number > 0 (`float("nan")` and `"inf"` parse as floats, so check)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite positive number")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1] (NaN, which compares false with everything, is refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value
