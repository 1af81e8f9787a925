"""User-facing error types.

Every error a user can cause (bad input, missing file, unknown name) is a `TTMBenchError`: the
CLI prints its message and exits with status 2 instead of a traceback. Messages name the thing
that is wrong and how to fix it.
"""

from __future__ import annotations

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
