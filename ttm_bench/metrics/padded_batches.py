"""Network forward passes over fixed-size batches, the last one padded with zeros.

With the batch shape fixed, a row's output does not depend on the rows that share its batch, so
a metric that batches several videos per forward gives the same bits as one that runs each video
alone, and local and distributed evaluation agree. The batch size is an execution detail chosen
for memory and speed, never part of a preset.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


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
