"""Training clips: a video with its per-frame object masks (masklets) and its prompts.

On disk a clip set is a directory with `clips.jsonl` (one record per line: `id`, `caption`,
`motion_prompt`, `local_prompts`) and one `<id>.npz` per clip holding `video` (uint8
[T, H, W, 3]) and `masks` (bool [T, L, H, W], object l aligned with `local_prompts[l]`).

Sources: `clips_from_benchmark` (any benchmark whose samples carry a ground-truth video and
`meta["masklets"]`, e.g. the synthetic benchmark) and `clip_from_sav` (an SA-V video with its
`*_manual.json` masklets, annotated every 4th frame; SA-V has no captions, so the caller brings
the caption and one local prompt per masklet, e.g. from `prompts.derive_prompts`).

    python -m reference_impl.ttm.clips BENCHMARK_DIR CLIP_SET_DIR
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset
from tqdm import tqdm

from reference_impl.ttm.conditioning import resize_masks
from ttm_bench.atomic import atomic_path
from ttm_bench.data.masks import decode_rle
from ttm_bench.data.sample import RLE
from ttm_bench.data.verification import open_benchmark
from ttm_bench.errors import TTMBenchError
from ttm_bench.video import read_video

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
    video = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
                      for f in clip.video[:frames]])
    masks = resize_masks(clip.masks[:frames], height, width)
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


def masklet_array(frames: Sequence[Sequence[dict[str, Any]]]) -> np.ndarray:
    """Per-frame lists of COCO RLE dicts (one per object) → bool [T, L, H, W]."""
    return np.stack([np.stack([decode_rle(RLE(tuple(r["size"]), r["counts"])) for r in frame])
                     for frame in frames])


def clips_from_benchmark(benchmark_dir: str | Path, out: str | Path,
                         progress: bool = True) -> int:
    """Write every sample with a video and masklets as a training clip; returns the count."""
    bench, _ = open_benchmark(benchmark_dir)
    Path(out).mkdir(parents=True, exist_ok=True)
    written = 0
    for sample in tqdm(bench.samples, disable=not progress, desc="clips"):
        if sample.video is None or "masklets" not in sample.meta:
            continue
        path = bench.asset_path(sample, "meta.masklets", str(sample.meta["masklets"]))
        masklets = json.loads(path.read_text("utf-8"))
        write_clip(out, TrainingClip(
            sample.id, bench.video(sample), masklet_array(masklets["frames"]), sample.caption,
            sample.motion_prompt or sample.caption,
            tuple(o.local_prompt for o in sample.objects)))
        written += 1
    return written


def clip_from_sav(clip_id: str, video_path: str | Path, annotation_path: str | Path,
                  caption: str, motion_prompt: str, local_prompts: Sequence[str],
                  frame_stride: int = 4) -> TrainingClip:
    """An SA-V clip at its annotation rate (every `frame_stride`-th frame, 6 fps for 24 fps)."""
    annotation = json.loads(Path(annotation_path).read_text("utf-8"))
    frames = annotation.get("masklet")
    if not frames:
        raise TTMBenchError(f"{annotation_path}: no 'masklet' list; is it an SA-V *_manual.json?")
    masks = masklet_array(frames)
    if masks.shape[1] != len(local_prompts):
        raise TTMBenchError(f"{annotation_path}: {masks.shape[1]} masklets but "
                            f"{len(local_prompts)} local prompts; give one per masklet")
    video = read_video(video_path, [i * frame_stride for i in range(len(frames))])
    return TrainingClip(clip_id, video, masks, caption, motion_prompt, tuple(local_prompts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_impl.ttm.clips",
                                     description="Write a benchmark's clips as a clip set.")
    parser.add_argument("benchmark", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    print(f"{clips_from_benchmark(args.benchmark, args.out)} clips written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
