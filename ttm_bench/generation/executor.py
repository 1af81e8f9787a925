"""Executors decide where models live and which samples they process.

An executor has one method, `map(job, sample_ids)`, yielding a `SampleRecord` per sample as it
finishes. `LocalExecutor` loads the model once in this process; the Ray executor spreads samples
over an actor pool with the same `GenerationJob.process`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from tqdm import tqdm

from ttm_bench.generation.run import SampleRecord
from ttm_bench.generation.runner import GenerationJob


class Executor(Protocol):
    def map(self, job: GenerationJob, sample_ids: Sequence[str]) -> Iterator[SampleRecord]: ...


class LocalExecutor:
    """Runs samples in this process with one loaded model, `model.batch_size` at a time."""

    def __init__(self, progress: bool = True):
        self.progress = progress

    def map(self, job: GenerationJob, sample_ids: Sequence[str]) -> Iterator[SampleRecord]:
        model = job.load_model()
        size = max(1, model.batch_size)
        failed = 0
        with tqdm(total=len(sample_ids), desc=f"generate {job.model}", unit="video",
                  disable=not self.progress) as bar:
            for start in range(0, len(sample_ids), size):
                for record in job.process_batch(model, sample_ids[start:start + size]):
                    failed += not record.ok
                    bar.update(1)
                    bar.set_postfix(failed=failed)
                    yield record
