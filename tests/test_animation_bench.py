"""Image-Animation-Bench loader on a generated I2V-Bench-like folder."""

import json

import numpy as np
import pytest

from ttm_bench.data.animation_bench import (
    AnimationBenchConfig,
    build_animation_bench,
    sample_id_for,
)
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.video import read_video, write_video


def _video(path, n=20, fps=24.0, value=80):
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.full((n, 24, 32, 3), value, np.uint8)
    frames[:, :6] = np.arange(n, dtype=np.uint8)[:, None, None, None] * 10
    write_video(path, frames, fps)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "i2v-bench"
    rows = []
    for i, category in enumerate(["Pets", "Food", "Pets", "Scenery-Nature", "Food"]):
        rel = f"videos/{category}/clip {i}.mp4"
        _video(root / rel, value=40 * i)
        rows.append({"text": f"video {i}", "file": rel})
    _video(root / "videos/Food/short.mp4", n=3)
    rows.append({"text": "too short", "file": "videos/Food/short.mp4"})
    rows.append({"text": "gone", "file": "videos/Pets/missing.mp4"})
    rows.append({"text": "", "file": "videos/Pets/clip 0.mp4"})
    _video(root / "videos/Pets/unlisted.mp4")
    (root / "i2v_bench.json").write_text(json.dumps(rows))
    return root


def _config(root, out, **kw):
    settings = dict(num_frames=4, fps=8.0, size=(16, 16), human_study_size=3, seed=5)
    settings.update(kw)
    return AnimationBenchConfig(root, out, **settings)


def test_builds_with_consisti2v_columns_and_folder_categories(root, tmp_path):
    out = tmp_path / "out"
    info = build_animation_bench(_config(root, out)).info
    assert validate_benchmark(out).problems == []
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [s["id"] for s in manifest] == [f"clip_{i}" for i in range(5)]
    assert [s["split"] for s in manifest] == ["Pets", "Food", "Pets", "Scenery-Nature", "Food"]
    assert info.splits == ("Food", "Pets", "Scenery-Nature") and info.fps == 8.0
    assert sum(s["meta"]["human_study"] for s in manifest) == 3
    clip = read_video(out / manifest[1]["video"])
    assert clip.shape == (4, 16, 16, 3)
    # 24 -> 8 fps keeps source frames 0, 3, 6, 9 (top band encodes the frame index * 10)
    np.testing.assert_allclose(clip[:, 0, 8, 0], [0, 30, 60, 90], atol=6)
    selection = json.loads((out / "selection.json").read_text())
    assert selection["columns"]["video"] == "file" and selection["columns"]["caption"] == "text"
    excluded = {p["file"]: p["message"] for p in selection["excluded"]}
    assert "too few for 4 frames" in excluded["videos/Food/short.mp4"]
    assert "cannot read the video" in excluded["videos/Pets/missing.mp4"]
    assert "no row in the metadata table" in excluded["videos/Pets/unlisted.mp4"]
    assert any("row without caption" in m for m in excluded.values())


def test_human_study_subset_is_seeded_and_deterministic(root, tmp_path):
    a = build_animation_bench(_config(root, tmp_path / "a", subset="human-study")).info
    b = build_animation_bench(_config(root, tmp_path / "b", subset="human-study")).info
    assert a.sha256 == b.sha256 and a.name == "image-animation-bench-human-study"
    lines = (tmp_path / "a" / "manifest.jsonl").read_text().splitlines()
    ids = [json.loads(x)["id"] for x in lines]
    full = json.loads((tmp_path / "a" / "selection.json").read_text())
    assert len(ids) == 3 and ids == full["human_study"]


def test_explicit_columns_and_csv(tmp_path):
    root = tmp_path / "r"
    _video(root / "a.mp4")
    (root / "meta.csv").write_text("name,desc,kind,path\nx1,a cat,Pets,a.mp4\n")
    info = build_animation_bench(_config(root, tmp_path / "out", id_column="name",
                                         caption_column="desc", category_column="kind",
                                         video_column="path", human_study_size=1)).info
    manifest = json.loads((tmp_path / "out" / "manifest.jsonl").read_text())
    assert manifest["id"] == "x1" and manifest["caption"] == "a cat" and info.splits == ("Pets",)


def test_problems_that_stop_the_build(root, tmp_path):
    with pytest.raises(ValidationError, match="human-study subset needs 50"):
        build_animation_bench(_config(root, tmp_path / "o", human_study_size=50))
    (root / "second.csv").write_text("file,text\n")
    with pytest.raises(TTMBenchError, match="--table"):
        build_animation_bench(_config(root, tmp_path / "o"))
    with pytest.raises(TTMBenchError, match="--caption-column"):
        build_animation_bench(_config(root, tmp_path / "o", table=root / "i2v_bench.json",
                                      caption_column="nope"))


def test_sample_id_for():
    assert sample_id_for("clip 0") == "clip_0"
    assert sample_id_for("..x/y") == "x_y"
