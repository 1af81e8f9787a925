"""Generation on a Ray cluster: an actor pool where each actor loads the model once.

`RayExecutor.map(job, sample_ids)` is the executor seam of `runner.generate_run`, like
`LocalExecutor`: samples are cut into batches (the model's `batch_size`, else 1), each batch
goes to an idle actor, and records stream back as batches finish. Each actor declares the
resources of one model replica (`gpus_per_worker`, `cpus_per_worker`), so Ray places one replica
per GPU across the cluster.

Faults: an actor that dies mid-batch (killed, out of memory, node lost), or that exceeds
`sample_timeout_s` per sample of its batch (a hung model: the actor is killed), is replaced and
its batch's unfinished samples go back in the queue, one per batch, up to `max_attempts` times
per sample; a sample that keeps killing or hanging workers gets a failed sidecar saying so.
Outputs are still written by `GenerationJob.process` (atomic mp4, then sidecar), so a dead
worker never leaves a visible partial file; its hidden temporaries are removed when the map
ends. A driver that dies leaves finished samples finished, and rerunning the command generates
exactly the missing ones.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ttm_bench.atomic import remove_stale_temporaries
from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.run import SampleRecord
from ttm_bench.generation.runner import GenerationJob

DEFAULT_MAX_ATTEMPTS = 3


class GenerationWorker:
    """The actor body: one loaded model serving batches of samples."""

    def __init__(self, job: GenerationJob):
        self.job = job
        self.model: Any = None

    def load(self) -> int:
        """Load the model (once); returns the batch size it prefers."""
        self.model = self.job.load_model()
        return max(1, int(getattr(self.model, "batch_size", 1)))

    def process(self, sample_ids: Sequence[str], attempt: int) -> list[SampleRecord]:
        return self.job.process_batch(self.model, sample_ids, {"attempt": attempt})


def ray_module() -> Any:
    """Import ray, or say how to install it."""
    try:
        import ray
    except ModuleNotFoundError as exc:
        raise TTMBenchError("--executor ray needs Ray: pip install 'ttm-bench[ray]'") from exc
    return ray


def _code_paths() -> list[str]:
    """Directories from which this process imported `ttm_bench` and the model packages."""
    roots = {Path(sys.modules[name].__file__).resolve().parent.parent
             for name in ("ttm_bench", "baselines", "reference_impl")
             if getattr(sys.modules.get(name), "__file__", None)}
    return sorted(str(r) for r in roots)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ("auto": the one `ray start` made on this machine), or
    start a private local instance when `address` is None."""
    ray = ray_module()
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=True)
        return
    # A local instance runs this process's code in its workers, whatever is installed.
    python_path = os.pathsep.join([*_code_paths(), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=True,
             runtime_env={"env_vars": {"PYTHONPATH": python_path.rstrip(os.pathsep)}})


@dataclasses.dataclass
class _Batch:
    sample_ids: list[str]
    attempt: int


@dataclasses.dataclass
class _Task:
    actor: Any
    batch: _Batch
    deadline: float


class RayExecutor:
    """Spread a run's samples over a pool of Ray actors (see the module docstring).

    address: a cluster address, "auto", or None for a private local instance.
    num_workers: actors in the pool; default: as many as the cluster's resources allow.
    gpus_per_worker: default 1 when the job's device is CUDA, else 0.
    sample_timeout_s: seconds a worker may spend per sample before it is killed (None: no limit).
    local_cpus: CPUs of the private local instance (None: all of this machine's).
    """

    def __init__(self, address: str | None = None, *, num_workers: int | None = None,
                 gpus_per_worker: float | None = None, cpus_per_worker: float = 1.0,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, sample_timeout_s: float | None = None,
                 local_cpus: int | None = None, progress: bool = True):
        if max_attempts < 1:
            raise TTMBenchError(f"max_attempts must be >= 1, got {max_attempts}")
        self.address = address
        self.num_workers = num_workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.max_attempts = max_attempts
        self.sample_timeout_s = sample_timeout_s
        self.local_cpus = local_cpus
        self.progress = progress

    def _pool_size(self, ray: Any, gpus: float, samples: int) -> int:
        if self.num_workers is not None:
            return max(1, min(self.num_workers, samples))
        resources = ray.cluster_resources()
        fit = (resources.get("GPU", 0) // gpus if gpus else
               resources.get("CPU", 1) // self.cpus_per_worker)
        if fit < 1:
            raise TTMBenchError(f"the Ray cluster has {resources.get('GPU', 0):g} GPUs and "
                                f"{resources.get('CPU', 0):g} CPUs: not enough for one worker "
                                f"({gpus:g} GPU, {self.cpus_per_worker:g} CPU)")
        return int(max(1, min(fit, samples)))

    def map(self, job: GenerationJob, sample_ids: Sequence[str]) -> Iterator[SampleRecord]:
        ray = ray_module()
        connect(self.address, self.local_cpus)
        cuda = job.device.startswith("cuda")
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None else float(cuda)
        # Ray gives each actor its own GPUs as CUDA_VISIBLE_DEVICES: inside, it is "cuda".
        job = dataclasses.replace(job, device="cuda" if cuda else job.device)
        actor_cls = ray.remote(num_cpus=self.cpus_per_worker, num_gpus=gpus)(GenerationWorker)
        size = self._pool_size(ray, gpus, len(sample_ids))
        bar = tqdm(total=len(sample_ids), desc=f"generate {job.model} on ray ×{size}",
                   unit="video", disable=not self.progress)
        try:
            yield from self._run_pool(ray, actor_cls, job, list(sample_ids), size, bar)
        finally:
            bar.close()
            remove_stale_temporaries(job.run.videos)

    def _start(self, ray: Any, actor_cls: Any, job: GenerationJob) -> tuple[Any, int]:
        actor = actor_cls.remote(job)
        try:
            return actor, ray.get(actor.load.remote())
        except ray.exceptions.RayActorError as exc:
            raise TTMBenchError(f"a Ray worker died while loading {job.model!r}: {exc}") from exc

    def _run_pool(self, ray: Any, actor_cls: Any, job: GenerationJob, sample_ids: list[str],
                  size: int, bar: tqdm) -> Iterator[SampleRecord]:
        first, batch_size = self._start(ray, actor_cls, job)  # a load error stops here, once
        pool = [first] + [actor_cls.remote(job) for _ in range(size - 1)]
        ready = {a.load.remote(): a for a in pool[1:]}
        queue = deque(_Batch(sample_ids[i:i + batch_size], 1)
                      for i in range(0, len(sample_ids), batch_size))
        idle = [first]
        running: dict[Any, _Task] = {}
        failed = lost = 0
        start = time.monotonic()
        while queue or running:
            while idle and queue:
                actor, batch = idle.pop(), queue.popleft()
                ref = actor.process.remote(batch.sample_ids, batch.attempt)
                running[ref] = _Task(actor, batch, self._deadline(len(batch.sample_ids)))
            done, _ = ray.wait([*running, *ready], num_returns=1,
                               timeout=self._wait_s(running.values()))
            if not done:  # a deadline passed: the worker hangs
                now = time.monotonic()
                for ref in [r for r, t in running.items() if t.deadline <= now]:
                    lost += 1
                    task = running.pop(ref)
                    yield from self._replace(ray, actor_cls, job, task, pool, ready, queue,
                                             "timed out", bar)
                continue
            (ref,) = done
            if ref in ready:  # an actor finished loading
                actor = ready.pop(ref)
                try:
                    ray.get(ref)
                    idle.append(actor)
                except ray.exceptions.RayError:
                    lost += 1  # a replica that cannot load: the pool shrinks
                    if not (idle or running or ready):
                        raise
                continue
            task = running.pop(ref)
            try:
                records = ray.get(ref)
            except ray.exceptions.RayActorError:
                lost += 1
                yield from self._replace(ray, actor_cls, job, task, pool, ready, queue, "died",
                                         bar)
                continue
            idle.append(task.actor)
            for record in records:
                failed += not record.ok
                bar.update(1)
                elapsed = max(time.monotonic() - start, 1e-9)
                bar.set_postfix(failed=failed, workers_lost=lost,
                                per_min=f"{60 * bar.n / elapsed:.1f}")
                yield record
        for actor in pool:
            ray.kill(actor, no_restart=True)

    def _deadline(self, samples: int) -> float:
        if self.sample_timeout_s is None:
            return float("inf")
        return time.monotonic() + self.sample_timeout_s * samples

    @staticmethod
    def _wait_s(tasks: Any) -> float | None:
        nearest = min((t.deadline for t in tasks), default=float("inf"))
        return None if nearest == float("inf") else max(0.0, nearest - time.monotonic())

    def _replace(self, ray: Any, actor_cls: Any, job: GenerationJob, task: _Task,
                 pool: list[Any], ready: dict[Any, Any], queue: deque[_Batch], how: str,
                 bar: tqdm) -> Iterator[SampleRecord]:
        """Kill a lost or hung actor, start a replacement, requeue or settle its batch."""
        ray.kill(task.actor, no_restart=True)
        replacement = actor_cls.remote(job)
        pool.append(replacement)
        ready[replacement.load.remote()] = replacement
        for record in self._requeue(job, task.batch, queue, how):
            bar.update(1)
            yield record

    def _requeue(self, job: GenerationJob, batch: _Batch, queue: deque[_Batch],
                 how: str) -> list[SampleRecord]:
        """Put a lost batch's unfinished samples back, one per batch (so a sample that kills
        its worker cannot take others down again); give up on those out of attempts.

        Returns the records to report now: samples the worker finished before it died (read
        from their sidecars) and those given up."""
        settled = []
        for sample_id in batch.sample_ids:
            if job.run.is_finished(sample_id):
                settled.append(job.run.read_record(sample_id))
                continue
            if batch.attempt < self.max_attempts:
                queue.append(_Batch([sample_id], batch.attempt + 1))
                continue
            reason = ("exceeded the time limit" if how == "timed out" else
                      "died (killed, out of memory, or its node was lost)")
            settled.append(job.record_failure(
                sample_id, f"the Ray worker {reason} on each of {batch.attempt} attempt(s) at "
                           "this sample; rerun the command to retry it",
                {"attempt": batch.attempt, "worker": how}))
        return settled
