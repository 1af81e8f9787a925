"""Metadata tables: rows with line numbers from CSV, JSON and JSONL; located problems."""

import pytest

from ttm_bench.data.tables import pick_column, read_table
from ttm_bench.errors import TTMBenchError


def test_csv_rows_keep_line_numbers_and_report_ragged_rows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,caption\na,"one, two"\nb,x,extra\nc,y\n')
    rows, problems = read_table(path)
    assert [(r.values, r.line) for r in rows] == [({"id": "a", "caption": "one, two"}, 2),
                                                 ({"id": "c", "caption": "y"}, 4)]
    assert problems[0].line == 3 and "number of cells" in problems[0].message


def test_jsonl_and_json(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"id": 1}\n\nnot json\n[1]\n')
    rows, problems = read_table(tmp_path / "t.jsonl")
    assert [r.line for r in rows] == [1]
    assert [(p.line, p.message[:12]) for p in problems] == [(3, "not valid JS"),
                                                             (4, "row is not a")]
    (tmp_path / "t.json").write_text('[{"id": 1}, 2]')
    rows, problems = read_table(tmp_path / "t.json")
    assert rows[0].values == {"id": 1} and problems[0].line == 2


def test_non_finite_numbers_are_refused_with_the_field(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"id": 1, "fps": NaN}\n{"id": 2, "x": [1e999]}\n')
    rows, problems = read_table(tmp_path / "t.jsonl")
    assert rows == [] and [(p.line, p.field) for p in problems] == [(1, "fps"), (2, "x[0]")]
    (tmp_path / "t.json").write_text('[{"id": 1, "fps": -Infinity}]')
    with pytest.raises(TTMBenchError, match=r"\[\[0\]\.fps\].*NaN or infinity"):
        read_table(tmp_path / "t.json")


@pytest.mark.parametrize("name, text, match", [
    ("t.txt", "", "unsupported table type"),
    ("t.json", "{", "not valid JSON"),
    ("t.json", '{"id": 1}', "JSON list of objects"),
])
def test_unusable_tables(tmp_path, name, text, match):
    (tmp_path / name).write_text(text)
    with pytest.raises(TTMBenchError, match=match):
        read_table(tmp_path / name)


def test_pick_column():
    assert pick_column({"text", "file"}, None, ("caption", "text")) == "text"
    assert pick_column({"text"}, "mine", ("text",)) == "mine"
    assert pick_column({"x"}, None, ("text",)) is None
