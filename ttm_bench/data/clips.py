"""Cutting source videos into benchmark clips: centre crop to the target aspect, resize, write.

Every builder brings its sources to one size: the largest centred box with the target aspect
ratio is cropped ("cover"), then resized (area interpolation for frames; masks are resized as
0/255 images bilinearly and thresholded at half, so an edge pixel goes to whichever side covers
more of it). Clips are written as `videos/<id>.mp4` (H.264, `write_video` defaults), first
frames as `images/<id>.png`, paths relative to the benchmark directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ttm_bench.atomic import atomic_path
from ttm_bench.video import resize_video, write_video

IMAGES_DIR, VIDEOS_DIR = "images", "videos"


def cover_crop_box(height: int, width: int, out_height: int, out_width: int
                   ) -> tuple[int, int, int, int]:
    """(top, left, crop_height, crop_width): the largest centred box of aspect out_w / out_h."""
    if height * out_width > width * out_height:  # source taller than target: crop rows
        crop_h, crop_w = max(1, round(width * out_height / out_width)), width
    else:
        crop_h, crop_w = height, max(1, round(height * out_width / out_height))
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def fit_video(video: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 [T, H, W, 3] → uint8 [T, size[0], size[1], 3] by centre crop and area resize."""
    top, left, h, w = cover_crop_box(video.shape[1], video.shape[2], *size)
    return resize_video(np.ascontiguousarray(video[:, top:top + h, left:left + w]), size, "area")


def fit_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """bool [H, W] → bool [size] with the same crop as `fit_video`."""
    top, left, h, w = cover_crop_box(mask.shape[0], mask.shape[1], *size)
    crop = mask[top:top + h, left:left + w].astype(np.uint8) * 255
    frames = np.repeat(crop[None, :, :, None], 3, axis=3)
    return resize_video(frames, size, "bilinear")[0, :, :, 0] >= 128


def write_png(path: Path, image: np.ndarray) -> None:
    """Write `image` (uint8 [H, W, 3]) as PNG atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def write_clip(out_dir: Path, sample_id: str, clip: np.ndarray, fps: float) -> tuple[str, str]:
    """Write `clip` (uint8 [T, H, W, 3]) and its first frame; return (video, image) rel paths."""
    video_rel = f"{VIDEOS_DIR}/{sample_id}.mp4"
    image_rel = f"{IMAGES_DIR}/{sample_id}.png"
    write_video(out_dir / video_rel, clip, fps)
    write_png(out_dir / image_rel, clip[0])
    return video_rel, image_rel


def indices_at_fps(num_frames: int, source_fps: float, fps: float) -> list[int]:
    """Source frame indices of the first `num_frames` frames resampled from `source_fps` to
    `fps`: output frame i shows the source frame on screen at time i / fps,
    floor(i * source_fps / fps) (the identity when the rates are equal)."""
    return [int(i * source_fps / fps + 1e-9) for i in range(num_frames)]


def frames_needed(num_frames: int, source_fps: float, fps: float) -> int:
    """How many source frames `indices_at_fps` reaches into (last index + 1)."""
    return indices_at_fps(num_frames, source_fps, fps)[-1] + 1
