"""Attention checks: a deliberately broken copy of a good video, obvious to an attentive rater."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Side of the blocks the broken copy is pixelated into, in pixels.
BLOCK = 8
#: Standard deviation of the added noise, in uint8 grey levels.
NOISE_SIGMA = 60.0


def break_video(video: np.ndarray, seed: int) -> np.ndarray:
    """A broken copy of `video` (uint8 [T, H, W, 3]) of the same shape and dtype.

    Frames are put in a random order (motion falls apart), pixelated into BLOCK×BLOCK blocks
    (quality) and covered with Gaussian noise of NOISE_SIGMA grey levels.
    """
    rng = np.random.default_rng(seed)
    t, h, w, _ = video.shape
    frames = video[rng.permutation(t)].astype(np.float32)
    hb, wb = -(-h // BLOCK), -(-w // BLOCK)
    padded = np.pad(frames, ((0, 0), (0, hb * BLOCK - h), (0, wb * BLOCK - w), (0, 0)),
                    mode="edge")
    blocks = padded.reshape(t, hb, BLOCK, wb, BLOCK, 3).mean(axis=(2, 4))
    pixelated = np.repeat(np.repeat(blocks, BLOCK, axis=1), BLOCK, axis=2)[:, :h, :w]
    noisy = pixelated + rng.normal(0.0, NOISE_SIGMA, size=pixelated.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def write_broken_copy(source: Path, target: Path, seed: int) -> None:
    """Decode `source`, break it (`break_video`) and write it to `target` at the same fps."""
    from ttm_bench.video import probe_video, read_video, write_video

    write_video(target, break_video(read_video(source), seed), fps=probe_video(source).fps)
