"""The runner applies the normalisation policy to every output and keeps model records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ttm_bench.generation.model import (
    GeneratedVideo,
    GenerationFailure,
    GenerationRequest,
    VideoModel,
)
from ttm_bench.generation.runner import generate_run
from ttm_bench.video import read_video


class NativeWide(VideoModel):
    """16 frames of 32×48 at 24 fps whatever is asked; frame t is grey 10·t. Fails on `s-fail`
    ids with a record; serves batches of 3."""

    name = "native-wide"
    batch_size = 3
    default_config: Mapping[str, Any] = {"bad": ""}

    def generate(self, request: GenerationRequest) -> GeneratedVideo:
        frames = np.broadcast_to((np.arange(16) * 10).astype(np.uint8)[:, None, None, None],
                                 (16, 32, 48, 3)).copy()
        return GeneratedVideo(frames, 24.0, {"tool": {"calls": 1}})

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list:
        return [GenerationFailure("no", {"tool": {"exit_code": 3}})
                if r.sample_id == self.config["bad"] else self.generate(r) for r in requests]


class Exact(VideoModel):
    """Returns exactly the requested format: the policy must be the identity."""

    name = "exact"

    def generate(self, request: GenerationRequest) -> np.ndarray:
        return np.repeat(request.image[None], request.num_frames, axis=0)


def sidecar(run, sample_id):
    return json.loads((run / "videos" / f"{sample_id}.json").read_text())


def test_native_outputs_are_normalised_and_recorded(small_bench, tmp_path):
    run = tmp_path / "run"
    summary = generate_run(small_bench.root, "tests.test_runner_normalization:NativeWide", run,
                           progress=False)
    assert summary.ok == 4
    for sample in small_bench.samples:
        record = sidecar(run, sample.id)
        norm = record["extra"]["normalization"]
        assert norm["frame_indices"] == [0, 2, 4, 6, 9, 11, 13, 15]  # 16 spread over 8
        assert norm["time_scale"] == (16 / 24) / (8 / 8)
        assert norm["resize"] == "bilinear" and norm["aspect_change"] == 1 / 1.5
        assert record["extra"]["tool"] == {"calls": 1}
        video = read_video(run / "videos" / f"{sample.id}.mp4")
        assert video.shape == (8, 64, 64, 3)
        np.testing.assert_allclose(video.mean(axis=(1, 2, 3)),
                                   10.0 * np.array(norm["frame_indices"]), atol=2.0)


def test_batch_failure_record_reaches_the_sidecar(small_bench, tmp_path):
    from ttm_bench.generation.registry import create_model
    from ttm_bench.generation.runner import GenerationJob

    job = GenerationJob(small_bench.root, tmp_path / "run", "x", {})
    ids = [s.id for s in small_bench.samples[:3]]
    model = create_model("tests.test_runner_normalization:NativeWide", {"bad": ids[1]})
    job.run.videos.mkdir(parents=True)
    records = job.process_batch(model, ids, {"attempt": 2})
    assert [r.status for r in records] == ["ok", "failed", "ok"]
    assert records[1].extra == {"attempt": 2, "tool": {"exit_code": 3}}
    assert not (job.run.videos / f"{ids[1]}.mp4").exists()
    assert records[0].extra["attempt"] == 2


def test_exact_outputs_get_the_identity_record(small_bench, tmp_path):
    run = tmp_path / "run"
    generate_run(small_bench.root, "tests.test_runner_normalization:Exact", run, progress=False)
    norm = sidecar(run, small_bench.samples[0].id)["extra"]["normalization"]
    assert norm["frame_indices"] == list(range(8)) and norm["resize"] is None
    assert norm["time_scale"] == 1.0 and norm["aspect_change"] == 1.0
