"""The Ray executor on a private local Ray instance with 2 CPUs: equivalence and faults."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.ray_models import log_counts
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.ray_executor import RayExecutor
from ttm_bench.generation.run import RunDir
from ttm_bench.generation.runner import generate_run
from ttm_bench.hashing import file_sha256
from ttm_bench.ray_cluster import connect
from ttm_bench.video import read_video

ray = pytest.importorskip("ray")
SLOW = pytest.mark.slow  # a Ray instance takes ~15 s to start on a small machine
MODEL = "tests.ray_models:Misbehaving"


@pytest.fixture(scope="module")
def local_ray():
    connect(None, num_cpus=2)
    yield
    ray.shutdown()


def executor(**kwargs) -> RayExecutor:
    return RayExecutor(num_workers=2, progress=False, **kwargs)


def misbehaving(tmp_path: Path, **faults) -> dict:
    poison = tmp_path / "poison"
    poison.touch()
    return {"log": str(tmp_path / "log.txt"), "poison": str(poison), **faults}


def sidecar(run: Path, sample_id: str) -> dict:
    return json.loads((run / "videos" / f"{sample_id}.json").read_text())


def assert_nothing_half_written(run: Path) -> None:
    videos = run / "videos"
    assert not list(videos.glob(".*")), "temporaries left behind"
    for mp4 in videos.glob("*.mp4"):
        assert sidecar(run, mp4.stem)["status"] == "ok"
        read_video(mp4)  # decodes completely


@SLOW
def test_ray_gives_the_same_videos_and_records_as_local(local_ray, small_bench: Benchmark,
                                                        tmp_path):
    local = generate_run(small_bench.root, "ken-burns", tmp_path / "local", progress=False)
    remote = generate_run(small_bench.root, "ken-burns", tmp_path / "ray", progress=False,
                          executor=executor())
    assert (local.ok, remote.ok, remote.failed) == (4, 4, {})
    for sample in small_bench.samples:
        # same frames in; libx264 is not bit-reproducible across processes here (two plain
        # local runs can differ too), so the decoded videos agree up to coding noise
        a = read_video(tmp_path / "local/videos" / f"{sample.id}.mp4").astype(float)
        b = read_video(tmp_path / "ray/videos" / f"{sample.id}.mp4").astype(float)
        assert np.abs(a - b).mean() < 3.0  # another seed or model moves pixels by far more
        a, b = sidecar(tmp_path / "local", sample.id), sidecar(tmp_path / "ray", sample.id)
        for key in ("status", "seed", "frames", "fps", "height", "width", "error"):
            assert a[key] == b[key]
        assert b["extra"]["attempt"] == 1


@SLOW
def test_ray_workers_save_the_same_trajectories_as_local(local_ray, small_bench, tmp_path):
    model = "tests.trajectory_models:OracleWithTrajectory"
    generate_run(small_bench.root, model, tmp_path / "local", progress=False)
    remote = generate_run(small_bench.root, model, tmp_path / "ray", progress=False,
                          executor=executor())
    assert (remote.ok, remote.failed) == (4, {})
    for sample in small_bench.samples:
        a, b = sidecar(tmp_path / "local", sample.id), sidecar(tmp_path / "ray", sample.id)
        assert a["trajectory_sha256"] == b["trajectory_sha256"] is not None
        assert b["trajectory_sha256"] == file_sha256(
            tmp_path / "ray" / "trajectories" / f"{sample.id}.json")
    assert not list((tmp_path / "ray" / "trajectories").glob(".*"))


@SLOW
def test_worker_killed_mid_sample_is_retried_on_a_new_worker(local_ray, small_bench, tmp_path):
    victim = small_bench.samples[1].id
    config = misbehaving(tmp_path, kill_once=victim)
    summary = generate_run(small_bench.root, MODEL, tmp_path / "run", overrides=config,
                           progress=False, executor=executor())
    assert summary.ok == 4 and not summary.failed
    assert sidecar(tmp_path / "run", victim)["extra"]["attempt"] == 2
    pids = [line.split()[1] for line in Path(config["log"]).read_text().splitlines()
            if line.startswith(victim)]
    assert len(set(pids)) == 2  # the retry ran in another process
    assert_nothing_half_written(tmp_path / "run")


@SLOW
def test_faults_end_in_clear_sidecars_and_a_rerun_completes_only_them(local_ray, small_bench,
                                                                      tmp_path):
    ids = [s.id for s in small_bench.samples]
    config = misbehaving(tmp_path, kill=ids[0], wrong_frames=ids[1], crash=ids[2], hang=ids[3])
    run = tmp_path / "run"
    fast = executor(max_attempts=2, sample_timeout_s=4.0)
    summary = generate_run(small_bench.root, MODEL, run, overrides=config, progress=False,
                           executor=fast)
    assert sorted(summary.failed) == sorted(ids)
    died, wrong, crashed, hung = (sidecar(run, i) for i in ids)
    assert "died" in died["error"] and died["extra"]["attempt"] == 2
    assert "expected uint8 [8, 64, 64, 3]" in wrong["error"] and "[7, 64, 64, 3]" in wrong["error"]
    assert "stand-in crash" in crashed["error"]
    assert "time limit" in hung["error"] and hung["extra"]["worker"] == "timed out"
    assert_nothing_half_written(run)
    assert not list((run / "videos").glob("*.mp4"))

    Path(config["poison"]).unlink()
    before = log_counts(Path(config["log"]))
    rerun = generate_run(small_bench.root, MODEL, run, overrides=config, progress=False,
                         executor=fast)
    assert rerun.ok == 4 and rerun.skipped == 0
    after = log_counts(Path(config["log"]))
    assert {i: after[i] - before.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
    assert all(RunDir(run).is_finished(i) for i in ids)
    assert_nothing_half_written(run)


@SLOW
def test_rerun_skips_finished_samples(local_ray, small_bench, tmp_path):
    config = misbehaving(tmp_path, crash=small_bench.samples[0].id)
    run = tmp_path / "run"
    generate_run(small_bench.root, MODEL, run, overrides=config, progress=False,
                 executor=executor())
    Path(config["poison"]).unlink()
    rerun = generate_run(small_bench.root, MODEL, run, overrides=config, progress=False,
                         executor=executor())
    assert (rerun.ok, rerun.skipped) == (1, 3)
    assert log_counts(Path(config["log"]))[small_bench.samples[0].id] == 2


@SLOW
def test_driver_killed_mid_run_then_rerun_generates_exactly_the_missing(local_ray, small_bench,
                                                                         tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    log, run = tmp_path / "log.txt", tmp_path / "run"
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "ttm_bench", "generate", "--bench", str(small_bench.root),
               "--model", MODEL, "--out", str(run), "--set", f"log={log}", "--set", "delay=2.0",
               "--executor", "ray", "--workers", "1", "--quiet"]
    driver = subprocess.Popen(command, cwd=root, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((run / "videos").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        os.kill(driver.pid, signal.SIGKILL)  # the driver dies mid-run
        driver.wait()
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # its private Ray instance goes down with it
    finished = {p.stem for p in (run / "videos").glob("*.mp4")}
    assert 1 <= len(finished) < 4
    started_before = log_counts(log)

    rerun = generate_run(small_bench.root, MODEL, run, overrides={"log": str(log), "delay": 2.0},
                         progress=False, executor=executor())
    assert rerun.skipped == len(finished) and rerun.ok == 4 - len(finished)
    started = log_counts(log)
    for sample in small_bench.samples:
        again = started[sample.id] - started_before.get(sample.id, 0)
        assert again == (0 if sample.id in finished else 1)
    assert_nothing_half_written(run)


@SLOW
def test_a_model_that_cannot_load_stops_the_run_with_its_error(local_ray, small_bench, tmp_path):
    with pytest.raises(TTMBenchError) as info:
        generate_run(small_bench.root, MODEL, tmp_path / "run", progress=False,
                     overrides={"log": str(tmp_path / "log"), "missing_weights": True},
                     executor=executor())
    assert str(info.value) == "misbehaving: checkpoint not found; pass --set weights=PATH"
    assert not list((tmp_path / "run" / "videos").glob("*.json"))  # nothing was attempted
