"""`bench import`: a generated folder of clips and tables in each documented format."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from ttm_bench.data.importer import ImportConfig, import_benchmark
from ttm_bench.data.masks import decode_rle, encode_rle
from ttm_bench.data.sample import RLE
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.errors import ValidationError
from ttm_bench.video import read_video, write_video


def _clip(path, n=6, size=(16, 24), fps=24.0, value=100):
    video = np.full((n, *size, 3), value, np.uint8)
    video[:, 4:8, 4:12] = 250
    write_video(path, video, fps)


def _write_csv(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=sorted({k for r in rows for k in r}))
        writer.writeheader()
        writer.writerows(rows)


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_import_csv_with_png_and_json_masks(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    _clip(clips / "a.mp4")
    _clip(clips / "b_clip.mp4", n=8)
    labels = np.zeros((16, 24), np.uint8)
    labels[4:8, 4:12] = 1
    labels[10:14, 2:6] = 2
    Image.fromarray(labels).save(clips / "a_masks.png")
    m = np.zeros((16, 24), bool)
    m[0:4, 0:4] = True
    ball = {"id": 3, "label": "ball", "local_prompt": "a red ball",
            "mask": encode_rle(m).to_dict()}
    (clips / "b_masks.json").write_text(json.dumps([ball]))
    _write_csv(tmp_path / "table.csv", [
        {"id": "a", "caption": "a box", "split": "single", "masks": "a_masks.png", "source": "x"},
        {"id": "b", "caption": "a ball", "split": "multi", "video": "b_clip.mp4",
         "masks": "b_masks.json", "motion_prompt": "rolls", "source": "y"},
    ])
    out = tmp_path / "bench"
    info = import_benchmark(ImportConfig(clips, tmp_path / "table.csv", out, "mine",
                                         licence="CC BY 4.0")).info
    assert (info.num_frames, info.fps, info.height, info.width) == (6, 24.0, 16, 24)
    assert info.splits == ("single", "multi") and info.sha256
    assert validate_benchmark(out).problems == []
    a, b = _manifest(out)
    assert [o["id"] for o in a["objects"]] == [1, 2] and a["meta"]["source"] == "x"
    assert decode_rle(RLE(tuple(a["objects"][0]["mask"]["size"]),
                          a["objects"][0]["mask"]["counts"])).sum() == 32
    assert b["objects"][0]["local_prompt"] == "a red ball" and b["motion_prompt"] == "rolls"
    assert read_video(out / b["video"]).shape == (6, 16, 24, 3)


def test_import_jsonl_resamples_and_resizes(tmp_path):
    _clip(tmp_path / "x.mp4", n=12, size=(32, 32), fps=24.0)
    _clip(tmp_path / "y.mp4", n=6, size=(16, 24), fps=12.0)
    table = tmp_path / "t.jsonl"
    table.write_text('{"id": "x", "caption": "c", "split": "s"}\n'
                     '{"id": "y", "caption": "c", "split": "s"}\n')
    info = import_benchmark(ImportConfig(tmp_path, table, tmp_path / "out", "n", fps=12.0,
                                         size=(8, 8))).info
    # x: 12 frames at 24 fps = 6 at 12 fps; y: 6 frames at 12 fps
    assert info.num_frames == 6 and info.height == 8
    assert read_video(tmp_path / "out" / "videos" / "x.mp4").shape == (6, 8, 8, 3)


def test_import_is_deterministic(tmp_path):
    _clip(tmp_path / "a.mp4")
    table = tmp_path / "t.json"
    table.write_text(json.dumps([{"id": "a", "caption": "c", "split": "s"}]))
    h1 = import_benchmark(ImportConfig(tmp_path, table, tmp_path / "o1", "n")).info.sha256
    h2 = import_benchmark(ImportConfig(tmp_path, table, tmp_path / "o2", "n")).info.sha256
    assert h1 == h2


def test_import_reports_every_problem_before_writing(tmp_path):
    _clip(tmp_path / "a.mp4")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    _write_csv(tmp_path / "t.csv", [
        {"id": "a", "caption": "c", "split": "s", "masks": ""},
        {"id": "a", "caption": "c", "split": "s", "masks": ""},
        {"id": "b", "caption": "", "split": "s", "masks": ""},
        {"id": "c", "caption": "c", "split": "s", "masks": ""},
        {"id": "bad id", "caption": "c", "split": "s", "masks": ""},
        {"id": "d", "caption": "c", "split": "all", "masks": ""},
    ])
    with pytest.raises(ValidationError) as err:
        import_benchmark(ImportConfig(tmp_path, tmp_path / "t.csv", tmp_path / "out", "n"))
    text = str(err.value)
    assert "duplicate id 'a'" in text and "missing caption" in text
    assert "c.mp4" in text and "invalid id 'bad id'" in text and "'all' is reserved" in text
    assert all(p.line for p in err.value.problems)
    assert not (tmp_path / "out").exists()


def test_import_reports_format_and_mask_problems(tmp_path):
    _clip(tmp_path / "a.mp4", n=4)
    _clip(tmp_path / "b.mp4", n=8, size=(8, 8))
    (tmp_path / "bad.png").write_bytes(b"not a png")
    _write_csv(tmp_path / "t.csv", [
        {"id": "a", "caption": "c", "split": "s", "masks": "bad.png"},
        {"id": "b", "caption": "c", "split": "s", "masks": "missing.json"},
    ])
    with pytest.raises(ValidationError) as err:
        import_benchmark(ImportConfig(tmp_path, tmp_path / "t.csv", tmp_path / "out", "n",
                                      num_frames=6))
    text = str(err.value)
    assert "different sizes" in text and "--size" in text
    assert "too few for 6 frames" in text
    assert "cannot read mask image" in text and "mask file not found" in text
