from typing import Any

import pytest

from ttm_bench.errors import Problem
from ttm_bench.fields import (
    BOOLEAN,
    COUNT,
    INTEGER,
    LIST,
    NONEMPTY_STRING,
    NUMBER,
    OBJECT,
    STRING,
    FieldReader,
    Kind,
)


def _reader(data: dict[str, Any], **kwargs: Any) -> FieldReader:
    return FieldReader(data, "f.json", [], **kwargs)


def test_present_fields_read_without_problems() -> None:
    r = _reader({"s": "x", "i": 3, "f": 0.5, "b": False, "o": {}, "l": [1], "c": 0})
    assert [r.get("s", STRING), r.get("i", INTEGER), r.get("f", NUMBER), r.get("i", NUMBER),
            r.get("b", BOOLEAN), r.get("o", OBJECT), r.get("l", LIST), r.get("c", COUNT)] == \
        ["x", 3, 0.5, 3, False, {}, [1], 0]
    assert r.problems == []


@pytest.mark.parametrize("data", [{}, {"name": None}])
def test_missing_required_field(data: dict[str, Any]) -> None:
    r = _reader(data, line=7)
    assert r.get("name", STRING) is None
    assert r.problems == [Problem("f.json", "missing required field",
                                  "add 'name' (a string)", 7, "name")]
    assert str(r.problems[0]) == \
        "f.json:7 [name]: missing required field (fix: add 'name' (a string))"


def test_wrong_type_names_kind_type_and_value() -> None:
    r = _reader({"n": "3"})
    assert r.get("n", INTEGER) is None
    (p,) = r.problems
    assert (p.field, p.message, p.fix, p.line) == \
        ("n", "expected integer, got str '3'", "make 'n' an integer", None)


@pytest.mark.parametrize("kind", [INTEGER, NUMBER, COUNT])
def test_bool_is_not_a_number(kind: Kind) -> None:
    r = _reader({"n": True})
    assert r.get("n", kind) is None
    assert r.problems[0].message == f"expected {kind.name}, got bool True"


@pytest.mark.parametrize(("kind", "value"), [(COUNT, -1), (NONEMPTY_STRING, ""), (STRING, 1.5)])
def test_value_checks_beyond_the_type(kind: Kind, value: Any) -> None:
    r = _reader({"v": value})
    assert r.get("v", kind) is None
    assert [p.field for p in r.problems] == ["v"]


def test_optional_field_returns_its_default_when_missing_null_or_mistyped() -> None:
    r = _reader({"null": None, "bad": "x"})
    assert r.get("absent", INTEGER, 5) == 5
    assert r.get("null", INTEGER, 5) == 5
    assert r.problems == []
    assert r.get("bad", INTEGER, 5) == 5
    assert [p.field for p in r.problems] == ["bad"]


def test_nullable_field_must_be_present_but_may_be_null() -> None:
    r = _reader({"value": None})
    assert r.get("value", NUMBER, nullable=True) is None
    assert r.problems == []
    assert r.get("other", NUMBER, nullable=True) is None
    assert [(p.field, p.message) for p in r.problems] == [("other", "missing required field")]


def test_union_of_kinds() -> None:
    either = STRING | INTEGER
    r = _reader({"a": "all", "b": 4, "c": 1.5})
    assert (r.get("a", either), r.get("b", either), r.get("c", either)) == ("all", 4, None)
    assert r.problems[0].message == "expected string or integer, got float 1.5"


def test_nested_readers_name_full_paths_and_share_problems() -> None:
    data = {"objects": [{"id": 1, "mask": {}}], "presets": {"fvd16": {"hash": ""}}}
    r = _reader(data, line=3)
    obj = r.nested(data["objects"][0], "objects[0]")
    assert obj.get("id", INTEGER) == 1
    obj.problem("mask", "mask must be a COCO RLE object", "use an RLE")
    preset = r.nested(data["presets"]["fvd16"], "presets.fvd16")
    preset.get("hash", NONEMPTY_STRING)
    preset.nested({}, "params").get("size", INTEGER)
    r.problem("", "not a manifest line", "write one")
    assert [(p.field, p.line) for p in r.problems] == [
        ("objects[0].mask", 3), ("presets.fvd16.hash", 3), ("presets.fvd16.params.size", 3),
        ("", 3)]
    assert preset.problems is r.problems


def test_every_problem_is_collected() -> None:
    r = _reader({"a": 1, "b": "x", "c": None})
    for key in ("a", "b", "c", "d"):
        r.get(key, BOOLEAN)
    assert [p.field for p in r.problems] == ["a", "b", "c", "d"]


def test_reader_fix_replaces_every_fix() -> None:
    r = _reader({"n": "x"}, fix="rerun the tool")
    r.get("n", INTEGER)
    r.get("m", INTEGER)
    r.nested({}, "sub").problem("k", "bad")
    assert [p.fix for p in r.problems] == ["rerun the tool"] * 3


def test_a_problem_without_any_fix_is_refused() -> None:
    with pytest.raises(TypeError, match="needs a fix"):
        _reader({}).problem("k", "bad")
