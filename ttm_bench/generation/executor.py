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
    """Runs samples one after another in this process with one loaded model."""

    def __init__(self, progress: bool = True):
        self.progress = progress

    def map(self, job: GenerationJob, sample_ids: Sequence[str]) -> Iterator[SampleRecord]:
        model = job.load_model()
        bar = tqdm(sample_ids, desc=f"generate {job.model}", unit="video",
                   disable=not self.progress)
        failed = 0
        for sample_id in bar:
            record = job.process(model, sample_id)
            failed += not record.ok
            bar.set_postfix(failed=failed)
            yield record
