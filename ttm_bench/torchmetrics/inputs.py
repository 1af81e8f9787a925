"""The video tensors the torchmetrics classes accept, checked at the edge.

`update` takes a batch of videos in either layout common in training code:

- uint8 `[B, T, H, W, 3]`, RGB 0..255 (what decoders and `ttm-bench evaluate` produce);
- float `[B, T, 3, H, W]` in [0, 1] (what models usually output).

Float videos are quantised to uint8 by round(x·255), as writing them to a lossless video file
would; the suite's metrics then see exactly what `ttm-bench evaluate` would decode from it.

Object masks (the object-level metrics) come as bool tensors, either padded to one object
count L with the true counts beside them (`num_objects`, int [B]) or as a list of one tensor
per video (`object_masks`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ttm_bench.errors import TTMBenchError

LAYOUTS = "uint8 [B, T, H, W, 3] (RGB 0..255) or float [B, T, 3, H, W] in [0, 1]"


def videos_as_uint8(videos: torch.Tensor, argument: str = "videos") -> list[np.ndarray]:
    """A batch in either layout → B uint8 numpy arrays [T, H, W, 3]; raises `TTMBenchError`
    naming `argument`, what it got and the layouts accepted."""
    if not isinstance(videos, torch.Tensor):
        raise TTMBenchError(f"{argument}: expected a torch.Tensor, {LAYOUTS}; got "
                            f"{type(videos).__name__}")
    if videos.ndim != 5:
        raise TTMBenchError(f"{argument}: expected 5 dimensions, {LAYOUTS}; got shape "
                            f"{list(videos.shape)} (add a batch dimension for one video)")
    if videos.dtype == torch.uint8:
        if videos.shape[-1] != 3:
            raise TTMBenchError(f"{argument}: uint8 videos are [B, T, H, W, 3] RGB; got shape "
                                f"{list(videos.shape)} (float videos are [B, T, 3, H, W])")
        frames = videos
    elif videos.is_floating_point():
        if videos.shape[2] != 3:
            raise TTMBenchError(f"{argument}: float videos are [B, T, 3, H, W]; got shape "
                                f"{list(videos.shape)} (uint8 videos are [B, T, H, W, 3])")
        if not bool(torch.isfinite(videos).all()):
            raise TTMBenchError(f"{argument}: contains NaN or inf")
        low, high = float(videos.min()), float(videos.max())
        if low < 0.0 or high > 1.0:
            raise TTMBenchError(f"{argument}: float videos must lie in [0, 1], got values in "
                                f"[{low:.4g}, {high:.4g}]; map [-1, 1] outputs with (x + 1) / 2")
        frames = (videos.detach().float() * 255.0).round().to(torch.uint8).permute(0, 1, 3, 4, 2)
    else:
        raise TTMBenchError(f"{argument}: dtype {videos.dtype} is not supported; {LAYOUTS}")
    if min(frames.shape[1:4]) < 1:
        raise TTMBenchError(f"{argument}: empty videos of shape {list(videos.shape)}")
    return list(frames.detach().cpu().contiguous().numpy())


def check_batch(name: str, values: Sequence[object], batch: int) -> None:
    """Raise unless `values` (captions, reference videos, ids) has one entry per video."""
    if len(values) != batch:
        raise TTMBenchError(f"{name}: {len(values)} given for {batch} videos; pass one per video")


def object_masks(masks: torch.Tensor | Sequence[torch.Tensor], num_objects: torch.Tensor | None,
                 batch: int, argument: str = "masks", frames: int = 0) -> list[np.ndarray]:
    """Per-video bool masks [*lead, L_b, H, W] (lead: (T,) when `frames`, else none) from a
    padded bool tensor [B, *lead, L, H, W] whose first `num_objects[b]` objects are real (all L
    when None), or from a list of B bool tensors [*lead, L_b, H, W]; raises `TTMBenchError`
    naming `argument`, what it got and the fix."""
    lead = 1 if frames else 0
    layout = f"bool [B, {'T, ' if frames else ''}L, H, W]"
    if isinstance(masks, torch.Tensor):
        if masks.ndim != 4 + lead:
            raise TTMBenchError(f"{argument}: expected {layout} (or a list of one bool tensor "
                                f"per video); got shape {list(masks.shape)}")
        per_video = list(masks)
        counts = ([masks.shape[1 + lead]] * len(per_video) if num_objects is None
                  else [int(n) for n in torch.as_tensor(num_objects).reshape(-1)])
        check_batch("num_objects", counts, len(per_video))
        if any(not 1 <= n <= masks.shape[1 + lead] for n in counts):
            raise TTMBenchError(f"num_objects: {counts} must each be between 1 and the "
                                f"{masks.shape[1 + lead]} objects of {argument}")
        per_video = [m[:, :n] if lead else m[:n] for m, n in zip(per_video, counts, strict=True)]
    elif num_objects is not None:
        raise TTMBenchError(f"num_objects: only for a padded {argument} tensor; a list already "
                            "gives each video its own objects")
    else:
        per_video = list(masks)
    check_batch(argument, per_video, batch)
    out = []
    for k, mask in enumerate(per_video):
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            got = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise TTMBenchError(f"{argument}[{k}]: expected a bool tensor (e.g. `probs > 0.5`); "
                                f"got {got}")
        if mask.ndim != 3 + lead or mask.shape[lead] == 0 or (lead and mask.shape[0] != frames):
            want = f"[{frames}, L, H, W] (one mask per frame)" if frames else "[L, H, W]"
            raise TTMBenchError(f"{argument}[{k}]: expected {want} with L ≥ 1 objects; got "
                                f"shape {list(mask.shape)}")
        out.append(mask.detach().cpu().numpy())
    return out
