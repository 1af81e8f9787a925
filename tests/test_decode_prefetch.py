"""Decode-ahead evaluation: same items and results as the sequential path, one decode per
video, ground truth decoded once and cached across runs, bounded in-flight work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ttm_bench import video as video_io
from ttm_bench.data.benchmark import Benchmark
from ttm_bench.decode_prefetch import REFERENCE_CACHE, ReferenceCache, decode_ahead
from ttm_bench.evaluation import extract_features, inputs_from_run
from ttm_bench.generation.runner import generate_run
from ttm_bench.metrics.base import EvalItem, PerSampleMetric


class Recorder(PerSampleMetric):
    """Keeps every item it sees; scores a float64 fingerprint of all its arrays."""

    name = "recorder"
    higher_is_better = None
    requires = frozenset({"image", "reference"})

    def reset(self) -> None:
        super().reset()
        self.items: list[EvalItem] = []

    def score(self, item: EvalItem) -> float:
        self.items.append(item)
        return float(sum((a.astype(np.float64) * np.arange(a.size).reshape(a.shape)).sum()
                         for a in (item.video, item.image, item.reference)))


@pytest.fixture(scope="module")
def run(small_bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("prefetch") / "static"
    generate_run(small_bench.root, "static", out, progress=False)
    return out


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every path `read_video` decodes (generated videos and ground-truth clips)."""
    calls: list[Path] = []
    real = video_io.read_video

    def counting(path, *args, **kwargs):
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(video_io, "read_video", counting)
    REFERENCE_CACHE.clear()
    return calls


def _extract(run: Path, bench: Benchmark, workers: int) -> Recorder:
    metric = Recorder()
    inputs = inputs_from_run(run, bench.root)
    assert extract_features(inputs.videos, [metric], bench, progress=False,
                            workers=workers) == {}
    return metric


def test_decoding_ahead_gives_the_sequential_items_and_results(run, small_bench, decodes):
    sequential = _extract(run, small_bench, workers=0)
    ahead = _extract(run, small_bench, workers=2)
    assert [i.sample_id for i in ahead.items] == [s.id for s in small_bench.samples]
    for a, b in zip(sequential.items, ahead.items, strict=True):
        assert (a.sample_id, a.split, a.fps, a.caption, a.video_sha256) == (
            b.sample_id, b.split, b.fps, b.caption, b.video_sha256)
        for field in ("video", "image", "reference"):
            x, y = getattr(a, field), getattr(b, field)
            assert x.dtype == y.dtype and np.array_equal(x, y)
    assert sequential.per_sample() == ahead.per_sample()  # bit for bit


def test_each_video_is_decoded_once_and_ground_truth_once_across_runs(run, small_bench,
                                                                      decodes):
    samples = len(small_bench.samples)
    _extract(run, small_bench, workers=2)
    generated = [p for p in decodes if run in p.parents]
    assert len(generated) == samples and len(set(generated)) == samples
    assert len(decodes) == 2 * samples  # plus one ground-truth clip per sample
    decodes.clear()
    _extract(run, small_bench, workers=2)  # a second run of the same benchmark
    assert len(decodes) == samples and all(run in p.parents for p in decodes)


def test_cached_ground_truth_cannot_be_corrupted_by_a_metric(run, small_bench, decodes):
    first = _extract(run, small_bench, workers=2)
    first.items[0].reference[:] = 0  # a metric writing into its input
    again = _extract(run, small_bench, workers=2)
    assert again.per_sample() != {} and again.items[0].reference.any()


def test_decode_ahead_keeps_input_order_and_bounds_work_in_flight():
    lock = threading.Lock()
    started, consumed, most = [0], [0], [0]

    def decode(i: int) -> int:
        with lock:
            started[0] += 1
            most[0] = max(most[0], started[0] - consumed[0])
        time.sleep(0.002 * ((i * 7) % 5))  # finish out of order
        return i

    out = []
    for value in decode_ahead(range(30), decode, workers=3, in_flight=4):
        out.append(value)
        with lock:
            consumed[0] += 1
    assert out == list(range(30))
    assert most[0] <= 4 + 1  # in flight, plus the one being consumed
    with pytest.raises(ValueError, match="in_flight"):
        list(decode_ahead(range(3), decode, workers=1, in_flight=0))


def test_reference_cache_evicts_by_bytes_and_loads_each_key_once_under_contention():
    cache = ReferenceCache(max_bytes=250)
    loads: list[str] = []
    gate = threading.Event()

    def load(key: str) -> np.ndarray:
        loads.append(key)
        gate.wait(5)
        return np.zeros(100, np.uint8)

    threads = [threading.Thread(target=cache.get, args=(("a",), lambda: load("a")))
               for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join()
    assert loads == ["a"]
    cache.get(("b",), lambda: load("b"))
    cache.get(("c",), lambda: load("c"))  # 300 bytes > 250: "a", the least recent, goes
    cache.get(("a",), lambda: load("a"))
    assert loads == ["a", "b", "c", "a"]
    with pytest.raises(OSError):
        cache.get(("d",), lambda: (_ for _ in ()).throw(OSError("unreadable")))
    cache.get(("d",), lambda: load("d"))  # a failed load is not cached
    assert loads[-1] == "d"
