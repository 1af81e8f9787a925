"""Decode ahead: a bounded pool of threads turns video entries into the metrics' inputs while
the metrics consume earlier ones, so decoding overlaps model time (`evaluation.extract_features`
supplies the per-video decode; this module knows nothing of metrics).

- Order: items come out in input order, whatever order the workers finish in.
- Memory bound: at most `in_flight` videos (default 4) are being decoded or wait decoded to
  be consumed, plus the one the metrics hold; each carries its ground-truth clip and image
  when the metrics need them.
- Threads: decoding (PyAV/FFmpeg, Pillow, hashing) releases the GIL, and so do the metric
  networks, so threads overlap without copying frames between processes.
- Ground truth: a sample's reference clip and input image are decoded once per evaluation and
  kept in a process-wide LRU (`REFERENCE_CACHE`, bounded in bytes, default 1 GiB) keyed by
  the benchmark's sha256, so evaluating several runs of one benchmark decodes them once.
  Each item gets its own copy, so a metric that modifies its inputs cannot corrupt the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.data.sample import Sample

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_WORKERS = 2
DEFAULT_IN_FLIGHT = 4


class ReferenceCache:
    """Thread-safe LRU of decoded arrays bounded by `max_bytes`; each key is computed once
    even when several threads ask for it at the same time."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._arrays: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pending: dict[tuple, Future] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], np.ndarray]) -> np.ndarray:
        """A copy of the array for `key`, calling `load()` only when it is not cached."""
        with self._lock:
            if key in self._arrays:
                self._arrays.move_to_end(key)
                return self._arrays[key].copy()
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
        if not owner:
            return pending.result().copy()
        try:
            array = load()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            if array.nbytes <= self.max_bytes:
                self._arrays[key] = array
                self._bytes += array.nbytes
                while self._bytes > self.max_bytes:
                    _, evicted = self._arrays.popitem(last=False)
                    self._bytes -= evicted.nbytes
        pending.set_result(array)
        return array.copy()

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()
            self._bytes = 0


REFERENCE_CACHE = ReferenceCache()


def ground_truth(bench: Benchmark | None, sample: Sample | None, needs: set[str],
                 cache: ReferenceCache = REFERENCE_CACHE,
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(input image, ground-truth clip) of `sample`, each only when `needs` names it, through
    `cache` keyed by the benchmark's sha256."""
    if bench is None or sample is None:
        return None, None
    key = (bench.info.sha256, sample.id)
    image = (cache.get((*key, "image"), lambda: bench.image(sample))
             if "image" in needs else None)
    reference = (cache.get((*key, "reference"), lambda: bench.video(sample))
                 if "reference" in needs else None)
    return image, reference


def decode_ahead(entries: Iterable[T], decode: Callable[[T], R], *,
                 workers: int = DEFAULT_WORKERS, in_flight: int = DEFAULT_IN_FLIGHT,
                 ) -> Iterator[R]:
    """`decode(entry)` for every entry on `workers` threads, at most `in_flight` ahead of the
    consumer; yields in input order. `workers=0` decodes sequentially in the caller's thread."""
    if workers == 0:
        yield from map(decode, entries)
        return
    if workers < 0 or in_flight < 1:
        raise ValueError(f"workers must be >= 0 and in_flight >= 1, got {workers}, {in_flight}")
    pending: deque[Future[R]] = deque()
    upcoming = iter(entries)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        try:
            for entry in upcoming:
                pending.append(pool.submit(decode, entry))
                if len(pending) >= in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # the consumer stopped early (error or close): drop what is not started
            for future in pending:
                future.cancel()
