"""Training clips: a video with its per-frame object masks (masklets) and its prompts.

On disk a clip set is a directory with `clips.jsonl` (one record per line: `id`, `caption`,
`motion_prompt`, `local_prompts`) and one `<id>.npz` per clip holding `video` (uint8
[T, H, W, 3]) and `masks` (bool [T, L, H, W], object l aligned with `local_prompts[l]`).
Converters from other sources (SA-V masklets, the synthetic benchmark) write this format with
`write_clip`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from ttm_bench.atomic import atomic_path
from ttm_bench.errors import TTMBenchError

INDEX = "clips.jsonl"


@dataclass(frozen=True)
class TrainingClip:
    """video: uint8 [T, H, W, 3]; masks: bool [T, L, H, W]; one local prompt per object."""

    id: str
    video: np.ndarray
    masks: np.ndarray
    caption: str
    motion_prompt: str
    local_prompts: tuple[str, ...]


def write_clip(root: str | Path, clip: TrainingClip) -> None:
    """Add `clip` to the clip set at `root` (its arrays first, then its index line)."""
    if clip.masks.shape[1] != len(clip.local_prompts):
        raise TTMBenchError(f"clip {clip.id}: {clip.masks.shape[1]} masks but "
                            f"{len(clip.local_prompts)} local prompts")
    directory = Path(root)
    with atomic_path(directory / f"{clip.id}.npz") as tmp:
        np.savez_compressed(tmp, video=clip.video, masks=clip.masks)
    record = {"id": clip.id, "caption": clip.caption, "motion_prompt": clip.motion_prompt,
              "local_prompts": list(clip.local_prompts)}
    with (directory / INDEX).open("a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")


def fit_clip(clip: TrainingClip, frames: int, height: int, width: int) -> TrainingClip:
    """The first `frames` frames, resized to height × width (area for pixels, nearest for
    masks)."""
    if clip.video.shape[0] < frames:
        raise TTMBenchError(f"clip {clip.id} has {clip.video.shape[0]} frames, the model needs "
                            f"{frames}; drop it or use a longer clip")
    size = (width, height)
    video = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA)
                      for f in clip.video[:frames]])
    masks = np.zeros((frames, clip.masks.shape[1], height, width), bool)
    for t in range(frames):
        for k in range(clip.masks.shape[1]):
            masks[t, k] = cv2.resize(clip.masks[t, k].astype(np.uint8), size,
                                     interpolation=cv2.INTER_NEAREST).astype(bool)
    return TrainingClip(clip.id, video, masks, clip.caption, clip.motion_prompt,
                        clip.local_prompts)


class ClipDataset(Dataset):
    """The clips of a clip set, fitted to the model's frames × height × width."""

    def __init__(self, root: str | Path, frames: int, height: int, width: int):
        self.root = Path(root)
        index = self.root / INDEX
        if not index.is_file():
            raise TTMBenchError(f"{index} not found; write a clip set with "
                                "reference_impl.ttm.clips.write_clip")
        self.records = [json.loads(line) for line in index.read_text("utf-8").splitlines()
                        if line.strip()]
        self.shape = (frames, height, width)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> TrainingClip:
        r = self.records[i]
        with np.load(self.root / f"{r['id']}.npz") as arrays:
            clip = TrainingClip(r["id"], arrays["video"], arrays["masks"], r["caption"],
                                r["motion_prompt"], tuple(r["local_prompts"]))
        return fit_clip(clip, *self.shape)
