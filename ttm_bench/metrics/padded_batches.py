"""Network forward passes over fixed-size batches, the last one padded with zeros, and the base
of per-sample metrics that batch several videos per forward.

With the batch shape fixed, a row's output does not depend on the rows that share its batch, so
a metric that batches several videos per forward gives the same bits as one that runs each video
alone, and local and distributed evaluation agree. The batch size is an execution detail chosen
for memory and speed, never part of a preset.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence

import torch

from ttm_bench.metrics.base import PerSampleMetric


def padded_forward(forward: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor,
                   batch_size: int, device: str) -> torch.Tensor:
    """inputs [N, ...] (any device) → float64 CPU [N, D]: `forward` on exactly `batch_size` rows
    per call, on `device`, under `torch.inference_mode`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(inputs), batch_size):
            batch = inputs[start:start + batch_size]
            padding = batch.new_zeros(batch_size - len(batch), *batch.shape[1:])
            output = forward(torch.cat([batch, padding]).to(device))
            chunks.append(output[:len(batch)].double().cpu())
    return torch.cat(chunks)


class BatchedPerSampleMetric(PerSampleMetric):
    """A per-sample metric whose `update` may queue a video until a batch fills; `flush` embeds
    what waits and records every queued value, in update order. Reading values flushes first."""

    @abstractmethod
    def flush(self) -> None:
        """Embed every queued video (the last batch padded) and record every queued value."""

    @property
    def sample_ids(self) -> list[str]:
        self.flush()
        return super().sample_ids

    def per_sample(self) -> dict[str, float]:
        self.flush()
        return super().per_sample()

    def compute_on(self, sample_ids: Sequence[str]) -> float:
        self.flush()
        return super().compute_on(sample_ids)

    def state(self) -> dict[str, float]:
        """Every value so far: queued videos are embedded here first (never shipped)."""
        self.flush()
        return super().state()

    def merge_state(self, state: dict[str, float]) -> None:
        self.flush()  # videos queued here were updated before the merged ones
        super().merge_state(state)
