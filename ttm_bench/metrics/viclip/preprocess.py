"""ViCLIP input conventions (the InternVid reference pipeline), as pure functions.

Frames: `num_frames` frames at indices i·⌊T / num_frames⌋ (i = 0..num_frames-1), each resized
to size×size with OpenCV bilinear interpolation on uint8 (no crop, aspect ratio not kept),
then scaled to [0, 1] and normalised with the ImageNet mean/std. Text: CLIP BPE tokens,
context 32, truncated with the end-of-text token kept last.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ttm_bench.errors import TTMBenchError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def frame_indices(num_video_frames: int, num_frames: int) -> np.ndarray:
    """Indices i·⌊T/n⌋ of the frames fed to the model: int64 [num_frames]."""
    if num_video_frames < num_frames:
        raise ValueError(f"cannot sample {num_frames} frames from {num_video_frames}")
    return np.arange(num_frames) * (num_video_frames // num_frames)


def video_pixels(video: np.ndarray, num_frames: int, size: int) -> torch.Tensor:
    """video: uint8 [T, H, W, 3] RGB → float32 [num_frames, 3, size, size], normalised."""
    frames = video[frame_indices(len(video), num_frames)]
    resized = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR)
                        for f in frames])
    normalised = (resized / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(normalised.transpose(0, 3, 1, 2)).float()


def tokenize(captions: list[str], context_length: int) -> torch.Tensor:
    """CLIP BPE tokens, int64 [len(captions), context_length] (open_clip's tokenizer)."""
    try:
        from open_clip.tokenizer import tokenize as clip_tokenize
    except ImportError as exc:
        raise TTMBenchError("ViCLIP tokenises captions with open_clip's CLIP BPE tokenizer: "
                            "pip install 'ttm-bench[metrics]' (open-clip-torch)") from exc
    return clip_tokenize(captions, context_length=context_length)
