"""Evaluation feature extraction on a Ray cluster, with results identical to the local path.

`RayFeatureExecutor.extract` is the executor seam of `evaluation.evaluate`: the videos are cut into
contiguous chunks; each actor receives copies of the driver's metrics (pickled with their options:
checkpoint paths, batch sizes, feature cache, and any model injected with `model=`, but not the
models the driver loaded), sets them up once (weights load once per actor), runs the local
`extract_features` on its chunks, and returns each metric's `state()`. The driver merges the states
in chunk order, so the metrics end up exactly as if this process had seen every video in input
order: same values, same order, same bootstrap confidence intervals. A chunk whose actor dies or
hangs is retried on a new actor up to `max_attempts` times; then the evaluation stops with an error
(there is no partial result).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ttm_bench.errors import TTMBenchError
from ttm_bench.evaluation import EvaluationInputs, VideoEntry, extract_features
from ttm_bench.metrics.base import Metric
from ttm_bench.ray_cluster import ActorPool, connect, ray_module

DEFAULT_CHUNK = 8


class FeatureWorker:
    """The actor body: copies of the driver's metrics, set up once, applied to chunks."""

    def __init__(self, metrics: Sequence[Metric], device: str, benchmark_root: str | None):
        self.metrics, self.device, self.benchmark_root = list(metrics), device, benchmark_root

    def load(self) -> int:
        from ttm_bench.data.benchmark import Benchmark

        self.bench = Benchmark.load(self.benchmark_root) if self.benchmark_root else None
        for metric in self.metrics:
            metric.setup(self.device)
        return len(self.metrics)

    def extract(self, entries: Sequence[VideoEntry]) -> tuple[list[Any], dict[str, str]]:
        for metric in self.metrics:
            metric.reset()
        invalid = extract_features(entries, self.metrics, self.bench, progress=False)
        return [metric.state() for metric in self.metrics], invalid


class RayFeatureExecutor:
    """Distribute `evaluate`'s decoding and metric updates over Ray actors (module docstring).

    address: a cluster address, "auto", or None for a private local instance.
    num_workers: actors; default: as many as the cluster fits. chunk_size: videos per task.
    gpus_per_worker: default 1 when the evaluation device is CUDA, else 0.
    chunk_timeout_s: seconds a worker may spend on one chunk before it is replaced.
    """

    def __init__(self, address: str | None = None, *, num_workers: int | None = None,
                 chunk_size: int = DEFAULT_CHUNK, gpus_per_worker: float | None = None,
                 cpus_per_worker: float = 1.0, max_attempts: int = 3,
                 chunk_timeout_s: float | None = None, local_cpus: int | None = None):
        if chunk_size < 1 or max_attempts < 1:
            raise TTMBenchError("chunk_size and max_attempts must be >= 1")
        self.address, self.num_workers, self.chunk_size = address, num_workers, chunk_size
        self.gpus_per_worker, self.cpus_per_worker = gpus_per_worker, cpus_per_worker
        self.max_attempts, self.chunk_timeout_s = max_attempts, chunk_timeout_s
        self.local_cpus = local_cpus

    def extract(self, inputs: EvaluationInputs, metrics: Sequence[Metric], device: str, *,
                progress: bool = True) -> dict[str, str]:
        """Update `metrics` with every video of `inputs`; returns sample id → why invalid."""
        for metric in metrics:
            metric.state()  # raises now, naming the metric, if it cannot be distributed
        ray = ray_module()
        connect(self.address, self.local_cpus)
        cuda = device.startswith("cuda")
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None else float(cuda)
        root = str(Path(inputs.benchmark.root)) if inputs.benchmark else None
        chunks = [list(inputs.videos[i:i + self.chunk_size])
                  for i in range(0, len(inputs.videos), self.chunk_size)]
        if not chunks:
            return {}
        shipped = ray.put(list(metrics))  # pickled once for every actor, replacements too
        size = self.num_workers or int(max(1, ray.cluster_resources().get(
            "GPU" if gpus else "CPU", 1) // (gpus or self.cpus_per_worker)))
        actor_cls = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=gpus)(FeatureWorker)
        pool = ActorPool(ray, actor_cls, (shipped, "cuda" if cuda else device, root),
                         call=lambda actor, index, attempt: actor.extract.remote(chunks[index]),
                         timeout_of=lambda index: self.chunk_timeout_s)
        pool.grow(min(size, len(chunks)))
        results: dict[int, tuple[list[Any], dict[str, str]]] = {}
        try:
            for index in range(len(chunks)):
                pool.submit(index)
            with tqdm(total=len(inputs.videos), desc=f"evaluate {inputs.name} on ray",
                      unit="video", disable=not progress) as bar:
                for done in pool.completions():
                    if done.lost is None:
                        results[done.item] = done.result
                        bar.update(len(chunks[done.item]))
                    elif done.attempt < self.max_attempts:
                        pool.submit(done.item, done.attempt + 1)
                    else:
                        raise TTMBenchError(
                            f"a Ray worker {done.lost} on each of {done.attempt} attempts at "
                            f"videos {[e.sample_id for e in chunks[done.item]]}; check them "
                            "(or the worker's memory) and rerun")
        finally:
            pool.close()
        invalid: dict[str, str] = {}
        for index in range(len(chunks)):  # input order: identical to the local path
            states, chunk_invalid = results[index]
            for metric, state in zip(metrics, states, strict=True):
                metric.merge_state(state)
            invalid.update(chunk_invalid)
        return invalid
