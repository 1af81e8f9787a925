"""Generation on a Ray cluster: an actor pool where each actor loads the model once.

`RayExecutor.map(job, sample_ids)` is the executor seam of `runner.generate_run`, like
`LocalExecutor`: samples are cut into batches of the model's `batch_size`, each batch
goes to an idle actor, and records stream back as batches finish. Each actor declares the
resources of one model replica (`gpus_per_worker`, `cpus_per_worker`), so Ray places one replica
per GPU across the cluster.

Faults: an actor that dies mid-batch (killed, out of memory, node lost), or that exceeds
`sample_timeout_s` per sample of its batch (a hung model: the actor is killed), is replaced and
its batch's unfinished samples go back in the queue, one per batch, up to `max_attempts` times
per sample; a sample that keeps killing or hanging workers gets a failed sidecar saying so.
Outputs are still written by `GenerationJob.process` (atomic mp4 and trajectory, then sidecar),
so a dead worker never leaves a visible partial file; its hidden temporaries (for this map's
samples only) are removed when the map ends. A driver that dies leaves finished samples
finished, and rerunning the command generates exactly the missing ones.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from typing import Any

from tqdm import tqdm

from ttm_bench.errors import TTMBenchError
from ttm_bench.generation.run import SampleRecord
from ttm_bench.generation.runner import GenerationJob
from ttm_bench.ray_cluster import ActorPool, Completion, connect, ray_module

DEFAULT_MAX_ATTEMPTS = 3


class GenerationWorker:
    """The actor body: one loaded model serving batches of samples."""

    def __init__(self, job: GenerationJob):
        self.job = job
        self.model: Any = None

    def load(self) -> int:
        """Load the model (once); returns the batch size it prefers."""
        self.model = self.job.load_model()
        return max(1, int(self.model.batch_size))

    def process(self, sample_ids: Sequence[str], attempt: int) -> list[SampleRecord]:
        return self.job.process_batch(self.model, sample_ids, {"attempt": attempt})


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
        pool = ActorPool(ray, actor_cls, (job,),
                         call=lambda actor, batch, attempt: actor.process.remote(batch, attempt),
                         timeout_of=self._timeout)
        batch_size = pool.load_result
        batches = [list(sample_ids[i:i + batch_size])
                   for i in range(0, len(sample_ids), batch_size)]
        pool.grow(min(size, len(batches)))  # no replica loads a model to sit idle
        bar = tqdm(total=len(sample_ids), desc=f"generate {job.model} on ray ×{len(pool.pool)}",
                   unit="video", disable=not self.progress)
        try:
            for batch in batches:
                pool.submit(batch)
            failed, start = 0, time.monotonic()
            for done in pool.completions():
                records = (done.result if done.lost is None
                           else self._after_loss(job, pool, done))
                for record in records:
                    failed += not record.ok
                    bar.update(1)
                    rate = 60 * bar.n / max(time.monotonic() - start, 1e-9)
                    bar.set_postfix(failed=failed, workers_lost=pool.lost, per_min=f"{rate:.1f}")
                    yield record
        finally:
            pool.close()
            bar.close()
            job.run.remove_stale_temporaries(sample_ids)

    def _timeout(self, batch: list[str]) -> float | None:
        return None if self.sample_timeout_s is None else self.sample_timeout_s * len(batch)

    def _after_loss(self, job: GenerationJob, pool: ActorPool,
                    done: Completion) -> list[SampleRecord]:
        """A batch whose worker died or hung: requeue its unfinished samples one per batch (so
        a sample that kills its worker cannot take others down again), give up on those out of
        attempts. Returns the records to report now: samples finished before the worker was
        lost (from their sidecars) and those given up."""
        settled = []
        for sample_id in done.item:
            if job.run.is_finished(sample_id):
                settled.append(job.run.read_record(sample_id))
            elif done.attempt < self.max_attempts:
                pool.submit([sample_id], done.attempt + 1)
            else:
                reason = ("exceeded the time limit" if done.lost == "timed out" else
                          "died (killed, out of memory, or its node was lost)")
                settled.append(job.record_failure(
                    sample_id, f"the Ray worker {reason} on each of {done.attempt} attempt(s) "
                               "at this sample; rerun the command to retry it",
                    {"attempt": done.attempt, "worker": done.lost}))
        return settled
