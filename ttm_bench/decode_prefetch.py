"""Decode ahead: a bounded pool of threads turns video entries into `EvalItem`s while the
metrics consume earlier ones, so decoding overlaps model time.

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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ttm_bench.data.benchmark import Benchmark
from ttm_bench.hashing import file_sha256
from ttm_bench.metrics.base import EvalItem

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


@dataclass(frozen=True)
class Decoded:
    """One entry after decoding: the item for the metrics, or why it cannot be evaluated."""

    entry: Any  # evaluation.VideoEntry (sample_id, split, path)
    item: EvalItem | None
    problem: str | None


def decode_entry(entry: Any, bench: Benchmark | None, needs: set[str],
                 check: Callable[[np.ndarray, Any, Benchmark | None], str | None],
                 cache: ReferenceCache = REFERENCE_CACHE) -> Decoded:
    """Decode one generated video (and the ground truth the metrics need) into an EvalItem."""
    from ttm_bench import video as video_io

    try:
        video = video_io.read_video(entry.path)
    except video_io.VideoDecodeError as exc:  # one unreadable file: flagged, the rest evaluated
        return Decoded(entry, None, str(exc))
    problem = check(video, entry, bench)
    if problem:
        return Decoded(entry, None, problem)
    sample = bench.sample(entry.sample_id) if bench else None
    image = reference = None
    if sample is not None:
        key = (bench.info.sha256, sample.id)
        if "image" in needs:
            image = cache.get((*key, "image"), lambda: bench.image(sample))
        if "reference" in needs:
            reference = cache.get((*key, "reference"), lambda: bench.video(sample))
    return Decoded(entry, EvalItem(
        sample_id=entry.sample_id,
        split=entry.split,
        video=video,
        fps=bench.info.fps if bench else 0.0,
        caption=sample.caption if sample else None,
        image=image,
        reference=reference,
        video_sha256=file_sha256(entry.path),
    ), None)


def decode_ahead(entries: Sequence[Any], decode: Callable[[Any], Decoded], *,
                 workers: int = DEFAULT_WORKERS, in_flight: int = DEFAULT_IN_FLIGHT,
                 ) -> Iterator[Decoded]:
    """`decode(entry)` for every entry on `workers` threads, at most `in_flight` ahead of the
    consumer; yields in input order. `workers=0` decodes sequentially in the caller's thread."""
    if workers == 0:
        yield from map(decode, entries)
        return
    if workers < 0 or in_flight < 1:
        raise ValueError(f"workers must be >= 0 and in_flight >= 1, got {workers}, {in_flight}")
    pending: deque[Future[Decoded]] = deque()
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
