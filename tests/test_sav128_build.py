"""The whole SA-V-128 build on a generated miniature SA-V: outputs, audit, determinism, resume."""

import json

import numpy as np
import pytest

from tests.sav_fixtures import INVALID_CATEGORY, FakeVideo, write_fake_sav
from tests.sav_fixtures import vlm_answer as answer
from tests.vlm_server import serve_vlm
from ttm_bench.data.masks import decode_rle
from ttm_bench.data.sav.captioning import OpenAICompatibleVLM
from ttm_bench.data.sav.selection import CATEGORIES
from ttm_bench.data.sav128 import Sav128Backends, Sav128Builder, Sav128Config
from ttm_bench.data.validation import validate_benchmark
from ttm_bench.errors import TTMBenchError, ValidationError
from ttm_bench.video import write_video


class Brightness:
    """Aesthetic stand-in: mean pixel value / 25.5 (0-10)."""

    def __init__(self):
        self.calls, self.identity = 0, {"aesthetic": "brightness"}

    def score(self, frames):
        self.calls += 1
        return float(frames.mean() / 25.5)


class FrameDifference:
    """Motion stand-in: mean absolute difference of consecutive frames."""

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = 0, fail_after
        self.identity = {"motion": "frame-difference"}

    def score(self, video):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise TTMBenchError("scorer stopped (simulated crash)")
        self.calls += 1
        return float(np.abs(np.diff(video.astype(np.int16), axis=0)).mean())


@pytest.fixture(scope="module")
def sav_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sav")
    good = [FakeVideo(f"sav_{i:06d}", category=CATEGORIES[i % 5], num_objects=1 + i % 2,
                      speed=i % 4, subdir=f"sav_00{i % 2}") for i in range(1, 13)]
    write_fake_sav(root, good)
    write_fake_sav(root, [FakeVideo("sav_000013")], write_videos=False)
    write_fake_sav(root, [FakeVideo("sav_000014")], write_annotations=False)
    write_fake_sav(root, [FakeVideo("sav_000015"), FakeVideo("sav_000016", num_objects=0,
                                                             hidden=1),
                          FakeVideo("sav_000017", category=INVALID_CATEGORY),
                          FakeVideo("sav_000018", num_frames=4)])
    write_fake_sav(root, [FakeVideo("sav_000019")])
    write_video(root / "sav_000" / "sav_000019.mp4", np.zeros((16, 48, 32, 3), np.uint8), 24.0)
    corrupt = root / "sav_000" / "sav_000015_manual.json"
    data = json.loads(corrupt.read_text())
    data["masklet"][0][0]["counts"] = data["masklet"][0][0]["counts"][:-1] + "~"
    corrupt.write_text(json.dumps(data))
    return root


def _config(sav_root, out, **kw):
    settings = dict(seed=7, keep=8, n_single=2, n_multi=2, num_frames=8, size=(16, 16))
    settings.update(kw)
    return Sav128Config(sav_root, out, **settings)


def _build(config, url, motion=None):
    backends = Sav128Backends(OpenAICompatibleVLM(url, "test-vlm"), Brightness(),
                              motion or FrameDifference())
    return Sav128Builder(config, backends).run().info


def test_build_writes_benchmark_and_audit(sav_root, tmp_path):
    out = tmp_path / "sa-v-128"
    with serve_vlm(answer) as (url, requests):
        info = _build(_config(sav_root, out), url)
    assert validate_benchmark(out).problems == []
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [s["split"] for s in manifest] == ["single"] * 2 + ["multi"] * 2
    assert info.num_frames == 8 and (info.height, info.width) == (16, 16) and info.fps == 24.0
    for sample in manifest:
        assert (out / sample["video"]).is_file() and (out / sample["image"]).is_file()
        n_objects = 1 if sample["split"] == "single" else 2
        assert len(sample["objects"]) == n_objects
        for obj in sample["objects"]:
            mask = decode_rle(_rle(obj["mask"]))
            assert mask.shape == (16, 16) and mask.any()
        assert sample["caption"].startswith("clip of ")
        assert sample["meta"]["category"] in CATEGORIES
    selection = json.loads((out / "selection.json").read_text())
    assert selection == json.loads((tmp_path / "sa-v-128.build" / "selection.json").read_text())
    assert len(selection["kept"]) == 8 and selection["draw"]["seed"] == 7
    assert set(selection["draw"]["single"] + selection["draw"]["multi"]) == {
        s["id"] for s in manifest}
    messages = {vid: p[0]["message"] for vid, p in selection["excluded"].items()}
    assert "corrupt RLE" in messages["sav_000015"]
    assert "no manual masklet is visible" in messages["sav_000016"]
    assert "'Sports' is not one of" in messages["sav_000017"]
    assert "4 frames, a clip needs 8" in messages["sav_000018"]
    assert "the video is 48x32, its annotation 32x48" in messages["sav_000019"]
    sources = {p["file"]: p["message"] for p in selection["source_problems"]}
    assert "annotation for missing video" in sources["sav_000/sav_000013_manual.json"]
    assert "no manual annotation" in sources["sav_000/sav_000014.mp4"]
    assert all(c["category"] for c in selection["candidates"].values() if "category" in c)
    # 13 captioned candidates (12 good + 1 invalid answer), 4 short captions
    assert len(requests) == 13 + 4


def _rle(d):
    from ttm_bench.data.sample import RLE
    return RLE(tuple(d["size"]), d["counts"])


def test_same_seed_same_hash_and_rerun_resumes_everything(sav_root, tmp_path):
    with serve_vlm(answer) as (url, requests):
        first = _build(_config(sav_root, tmp_path / "a"), url)
        second = _build(_config(sav_root, tmp_path / "b"), url)
        n = len(requests)
        # a third build reusing the first one's stage caches asks the VLM nothing
        again = _build(_config(sav_root, tmp_path / "c", work=tmp_path / "a.build"), url)
        assert len(requests) == n
    assert first.sha256 == second.sha256 == again.sha256 and first.sha256


def test_caption_stage_resumes_after_a_crash(sav_root, tmp_path):
    config = _config(sav_root, tmp_path / "out")
    calls = {"n": 0}

    def flaky(prompt, image):
        calls["n"] += 1
        if calls["n"] > 5:
            raise ConnectionError("server died")
        return answer(prompt, image)

    with serve_vlm(flaky) as (url, _), pytest.raises(TTMBenchError, match="VLM server"):
        _build(config, url)
    cached = (tmp_path / "out.build" / "captions.jsonl").read_text().splitlines()
    assert len(cached) == 1 + 5  # header + the five answered candidates
    with serve_vlm(answer) as (url, requests):
        _build(config, url)
    assert len(requests) == 13 - 5 + 4


def test_score_stage_resumes_after_a_crash(sav_root, tmp_path):
    config = _config(sav_root, tmp_path / "out")
    with serve_vlm(answer) as (url, _):
        with pytest.raises(TTMBenchError, match="simulated crash"):
            _build(config, url, motion=FrameDifference(fail_after=3))
        resumed = FrameDifference()
        _build(config, url, motion=resumed)
    assert resumed.calls == 12 - 3


def test_changed_setting_recomputes_only_affected_stages(sav_root, tmp_path):
    with serve_vlm(answer) as (url, requests):
        _build(_config(sav_root, tmp_path / "out"), url)
        n = len(requests)
        _build(_config(sav_root, tmp_path / "out2", work=tmp_path / "out.build", seed=8), url)
        # captions and scores are reused; only new drawn videos need short captions
        assert len(requests) - n <= 4


def test_too_few_candidates_fails_and_records_why(sav_root, tmp_path):
    config = _config(sav_root, tmp_path / "out", keep=100)
    with serve_vlm(answer) as (url, _), pytest.raises(ValidationError, match="--keep"):
        _build(config, url)
    selection = json.loads((tmp_path / "out.build" / "selection.json").read_text())
    assert selection["draw"]["single"] == [] and selection["problems"]
    assert "only 12 valid candidates" in selection["problems"][0]["message"]
    assert not (tmp_path / "out" / "manifest.jsonl").exists()


def test_index_stage_resumes_after_a_crash(sav_root, tmp_path, monkeypatch):
    import ttm_bench.data.sav128 as sav128

    real = sav128.parse_annotation
    calls = []

    def counted(path, file):
        calls.append(file)
        if len(calls) == 4 and not hasattr(counted, "crashed"):
            counted.crashed = True
            raise KeyboardInterrupt  # the user stops the build
        return real(path, file)

    monkeypatch.setattr(sav128, "parse_annotation", counted)
    config = _config(sav_root, tmp_path / "out")
    with serve_vlm(answer) as (url, _):
        with pytest.raises(KeyboardInterrupt):
            _build(config, url)
        _build(config, url)
    # 17 annotated videos with a video: 3 indexed before the crash, the rest after it
    assert len(calls) == 4 + 14 and len(set(calls)) == 17


def test_existing_output_is_refused_before_any_work(sav_root, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("x")
    with serve_vlm(answer) as (url, requests), pytest.raises(TTMBenchError, match="not empty"):
        _build(_config(sav_root, tmp_path / "out"), url)
    assert requests == [] and not (tmp_path / "out.build").exists()


def test_max_candidates_is_a_seeded_recorded_subsample(sav_root, tmp_path):
    config = _config(sav_root, tmp_path / "out", max_candidates=6, keep=4, n_single=1,
                     n_multi=1)
    with serve_vlm(answer) as (url, requests):
        _build(config, url)
    selection = json.loads((tmp_path / "out" / "selection.json").read_text())
    assert len(selection["candidates"]) == 6 and selection["protocol"]["max_candidates"] == 6
    assert len(requests) == 6 + 2
    with serve_vlm(answer) as (url, _):
        _build(_config(sav_root, tmp_path / "again", max_candidates=6, keep=4, n_single=1,
                       n_multi=1), url)
    again = json.loads((tmp_path / "again" / "selection.json").read_text())
    assert set(again["candidates"]) == set(selection["candidates"])
