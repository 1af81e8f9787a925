"""SA-V layout discovery and manual-annotation parsing on generated files."""

import json

import pytest

from tests.sav_fixtures import FakeVideo, annotation_of, write_fake_sav
from ttm_bench.data.masks import decode_rle
from ttm_bench.data.sav.source import discover, parse_annotation


def test_discover_pairs_and_reports_orphans(tmp_path):
    write_fake_sav(tmp_path, [FakeVideo("sav_000001"), FakeVideo("sav_000002", subdir="sav_001")])
    write_fake_sav(tmp_path, [FakeVideo("sav_000003")], write_annotations=False)
    write_fake_sav(tmp_path, [FakeVideo("sav_000004")], write_videos=False)
    pairs, problems = discover(tmp_path)
    assert [p.video_id for p in pairs] == ["sav_000001", "sav_000002"]
    assert pairs[1].video == "sav_001/sav_000002.mp4"
    assert pairs[1].annotation == "sav_001/sav_000002_manual.json"
    by_file = {p.file: p for p in problems}
    assert "no manual annotation" in by_file["sav_000/sav_000003.mp4"].message
    assert "annotation for missing video" in by_file["sav_000/sav_000004_manual.json"].message
    assert all(p.fix for p in problems)


def test_duplicate_video_ids_are_reported(tmp_path):
    write_fake_sav(tmp_path, [FakeVideo("sav_000001"), FakeVideo("sav_000001", subdir="x")])
    pairs, problems = discover(tmp_path)
    assert pairs == [] and "more than once" in problems[0].message


def _write(tmp_path, data):
    path = tmp_path / "a_manual.json"
    path.write_text(json.dumps(data))
    return path


def test_parse_keeps_visible_first_frame_objects(tmp_path):
    video = FakeVideo("v", num_objects=2, hidden=1, object_size=8)
    path = _write(tmp_path, annotation_of(video))
    ann, problems = parse_annotation(path, "a.json")
    assert problems == [] and ann.height == 32 and ann.width == 48 and ann.frame_count == 16
    assert [o.masklet_id for o in ann.first_frame_objects] == [0, 1]  # hidden one is empty
    assert [o.area for o in ann.first_frame_objects] == [64, 64]
    assert decode_rle(ann.first_frame_objects[0].mask).sum() == 64


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["masklet"][0][0].update(counts="\x7f\x7f"), "corrupt RLE for masklet 0"),
    (lambda d: d["masklet"][0][0].update(counts="5"), "corrupt RLE for masklet 0"),
    (lambda d: d.update(masklet=[]), "no annotated first frame"),
    (lambda d: d["masklet"][0].clear(), "no annotated first frame"),
    (lambda d: d.pop("masklet_id"), "missing or malformed field"),
])
def test_parse_reports_bad_annotations(tmp_path, edit, message):
    data = annotation_of(FakeVideo("v"))
    edit(data)
    ann, problems = parse_annotation(_write(tmp_path, data), "a.json")
    assert ann is None and message in problems[0].message and problems[0].file == "a.json"


def test_parse_reports_no_visible_first_frame_masklet(tmp_path):
    data = annotation_of(FakeVideo("v", num_objects=0, hidden=2))
    ann, problems = parse_annotation(_write(tmp_path, data), "a.json")
    assert ann is None and "no manual masklet is visible" in problems[0].message


def test_parse_reports_unreadable_json(tmp_path):
    path = tmp_path / "bad_manual.json"
    path.write_text("{not json")
    ann, problems = parse_annotation(path, "bad.json")
    assert ann is None and "cannot read annotation JSON" in problems[0].message
