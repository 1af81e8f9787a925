"""User-facing error types.

Every error a user can cause (bad input, missing file, unknown name) is a `TTMBenchError`: the
CLI prints its message and exits with status 2 instead of a traceback. Messages name the thing
that is wrong and how to fix it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass


class TTMBenchError(Exception):
    """An error caused by the user's input or environment, with a message that says the fix."""


@dataclass(frozen=True)
class Problem:
    """One validation finding: where it is, what is wrong, how to fix it."""

    file: str
    message: str
    fix: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message} (fix: {self.fix})"


class ValidationError(TTMBenchError):
    """Raised with every problem found, not only the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) found:\n{lines}")


class UnknownNameError(TTMBenchError):
    """An unknown registry name; suggests the closest known names."""

    def __init__(self, kind: str, name: str, known: list[str]):
        import difflib

        close = difflib.get_close_matches(name, known, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(sorted(known)) or 'none'}."
        )


class MissingDependencyError(TTMBenchError):
    """An optional package (an extra) that the chosen feature needs is not installed."""


TORCH_FIRST = "pip install torch==2.14.1 torchvision==0.29.1"


@contextlib.contextmanager
def optional_dependency(feature: str, extra: str) -> Iterator[None]:
    """Turn a missing third-party module inside the block into `MissingDependencyError`.

    A missing module of ttm_bench itself is a bug and is re-raised unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] == "ttm_bench":
            raise
        raise MissingDependencyError(
            f"{feature} needs the Python package {exc.name!r}, which is not installed; install "
            f"torch first, then the {extra!r} extra: {TORCH_FIRST} && "
            f"pip install 'ttm-bench[{extra}]'"
        ) from exc
