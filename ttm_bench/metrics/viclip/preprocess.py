"""ViCLIP input conventions (the InternVid reference pipeline), as pure functions.

Frames: `num_frames` frames at indices i·⌊T / num_frames⌋ (i = 0..num_frames-1), each resized
to size×size with OpenCV bilinear interpolation on uint8 (no crop, aspect ratio not kept),
then scaled to [0, 1] and normalised with the ImageNet mean/std. Text: CLIP BPE tokens,
context 32, truncated with the end-of-text token kept last; a caption containing the literal
strings `<|startoftext|>` / `<|endoftext|>` gets the special tokens there, as InternVid's
tokenizer (OpenAI CLIP's) does — open_clip's spells them `<start_of_text>` / `<end_of_text>`,
which here are ordinary text.
"""

from __future__ import annotations

from functools import cache
from typing import Any

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


#: The special tokens as InternVid (OpenAI CLIP's simple_tokenizer) spells them, and open_clip.
UPSTREAM_SPECIAL = ("<|startoftext|>", "<|endoftext|>")
OPEN_CLIP_SPECIAL = ("<start_of_text>", "<end_of_text>")
#: OpenAI CLIP's pre-tokenisation pattern (matched on lower-cased text).
_UPSTREAM_PATTERN = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|"
                     r"[\p{N}]|[^\s\p{L}\p{N}]+")


@cache
def _upstream_tokenizer() -> Any:
    """open_clip's BPE tokenizer with the special-token spelling of the InternVid code."""
    try:
        import regex
        from open_clip.tokenizer import SimpleTokenizer
    except ImportError as exc:
        raise TTMBenchError("ViCLIP tokenises captions with open_clip's CLIP BPE tokenizer: "
                            "pip install 'ttm-bench[metrics]' (open-clip-torch)") from exc
    tokenizer = SimpleTokenizer()
    for ours, upstream in zip(OPEN_CLIP_SPECIAL, UPSTREAM_SPECIAL, strict=True):
        del tokenizer.cache[ours]
        tokenizer.encoder[upstream] = tokenizer.encoder.pop(ours)
        tokenizer.cache[upstream] = upstream
    tokenizer.pat = regex.compile(_UPSTREAM_PATTERN, regex.IGNORECASE)
    return tokenizer


def tokenize(captions: list[str], context_length: int) -> torch.Tensor:
    """CLIP BPE tokens, int64 [len(captions), context_length], as InternVid tokenises them."""
    return _upstream_tokenizer()(captions, context_length=context_length)
