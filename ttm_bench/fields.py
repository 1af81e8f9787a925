"""Typed fields of parsed JSON/YAML objects, read without raising.

A `FieldReader` checks each field it is asked for against a `Kind` and appends one `Problem`
per missing or mistyped field (file, line when known, field path such as `objects[0].mask` or
`presets.fvd16.hash`, message, fix), so a parser can report every problem of a file at once.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ttm_bench.errors import Problem


@dataclass(frozen=True)
class Kind:
    """What a field must hold; `name` is said in messages (`expected integer, got str '1'`)."""

    name: str
    check: Callable[[Any], bool]

    def __or__(self, other: Kind) -> Kind:
        return Kind(f"{self.name} or {other.name}", lambda v: self.check(v) or other.check(v))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


STRING = Kind("string", lambda v: isinstance(v, str))
NONEMPTY_STRING = Kind("non-empty string", lambda v: isinstance(v, str) and v != "")
INTEGER = Kind("integer", _is_int)
COUNT = Kind("integer >= 0", lambda v: _is_int(v) and v >= 0)
NUMBER = Kind("finite number",
              lambda v: _is_int(v) or (isinstance(v, float) and math.isfinite(v)))
BOOLEAN = Kind("boolean", lambda v: isinstance(v, bool))
OBJECT = Kind("object", lambda v: isinstance(v, dict))
LIST = Kind("list", lambda v: isinstance(v, list))

_REQUIRED: Any = object()


def _a(name: str) -> str:
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class FieldReader:
    """Reads the fields of `data`, one object of `file`, appending `Problem`s to `problems`.

    path: where `data` sits in the file (`objects[0]`); field names in problems start with it.
    line: the line of `file` that `data` is on, when known.
    fix: the fix of every problem this reader records, for files a tool writes (e.g. "rerun the
    tool"); without it, each problem says its own fix.
    """

    def __init__(self, data: Mapping[str, Any], file: str, problems: list[Problem], *,
                 line: int | None = None, path: str = "", fix: str | None = None) -> None:
        self.data, self.file, self.problems = data, file, problems
        self.line, self.path, self.fix = line, path, fix

    def field(self, key: str) -> str:
        """The full name of field `key` of `data`, e.g. `objects[0].id`."""
        return f"{self.path}.{key}" if self.path and key else self.path or key

    def nested(self, data: Mapping[str, Any], key: str) -> FieldReader:
        """A reader of the object `data` found at field `key`, sharing this reader's problems."""
        return FieldReader(data, self.file, self.problems, line=self.line, path=self.field(key),
                           fix=self.fix)

    def problem(self, key: str, message: str, fix: str | None = None) -> None:
        """Record a problem with field `key` (`""`: the object itself)."""
        fix = self.fix or fix
        if fix is None:
            raise TypeError("a problem needs a fix: pass one or give the reader one")
        self.problems.append(Problem(self.file, message, fix, self.line, self.field(key)))

    def get(self, key: str, kind: Kind, default: Any = _REQUIRED, *,
            nullable: bool = False) -> Any:
        """`data[key]` if it is of `kind`; otherwise record a problem and return `default`.

        Without a `default` the field is required (a missing one is a problem, and a mistyped
        one reads as None). A null counts as missing unless `nullable`, where it reads as None.
        """
        required = default is _REQUIRED
        fallback = None if required else default
        value = self.data.get(key)
        if value is None:
            if nullable and key in self.data:
                return None
            if required:
                self.problem(key, "missing required field", f"add {key!r} ({_a(kind.name)})")
            return fallback
        if not kind.check(value):
            self.problem(key, f"expected {kind.name}, got {type(value).__name__} "
                         f"{reprlib.repr(value)}", f"make {key!r} {_a(kind.name)}")
            return fallback
        return value
