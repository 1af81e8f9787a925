"""Generates a miniature SA-V training set in the documented layout (sam2 `sav_dataset/`).

Each video is a flat background (its colour encodes a category for the test VLM) with moving
rectangles; its `{id}_manual.json` holds one masklet per rectangle, COCO RLE on every 4th
frame, plus any masklets given as `hidden` (empty on frame 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ttm_bench.data.masks import encode_rle
from ttm_bench.data.sav.captioning import SHORT_CAPTION_PROMPT
from ttm_bench.data.sav.selection import CATEGORIES
from ttm_bench.video import write_video

HEIGHT, WIDTH = 32, 48


INVALID_CATEGORY = "Sports"  # not one of the protocol's categories: the VLM answers it anyway


def category_colour(category: str) -> tuple[int, int, int]:
    """A distinct background colour per category: (20 * index + 10, 60, 200)."""
    index = CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)
    return (20 * index + 10, 60, 200)


def category_of(image: np.ndarray) -> str:
    """Inverse of `category_colour` from the top-left pixel of a frame strip."""
    index = round((int(image[0, 0, 0]) - 10) / 20)
    return CATEGORIES[index] if index < len(CATEGORIES) else INVALID_CATEGORY


def vlm_answer(prompt: str, image: np.ndarray) -> str:
    """What the test VLM server answers: the category read from the frame strip's colour."""
    category = category_of(image)
    if prompt == SHORT_CAPTION_PROMPT:
        return json.dumps({"caption": f"clip of {category.lower()}"})
    return f'```json\n{{"caption": "a {category.lower()} video", "category": "{category}"}}\n```'


@dataclass
class FakeVideo:
    video_id: str
    category: str = "Animal"
    num_objects: int = 1
    speed: int = 1  # pixels per frame
    num_frames: int = 16
    object_size: int = 8
    hidden: int = 0  # masklets that appear only later
    subdir: str = "sav_000"
    boxes: list[tuple[int, int]] = field(default_factory=list)


def object_masks(video: FakeVideo, t: int) -> list[np.ndarray]:
    """bool [H, W] masks of the video's rectangles at frame t."""
    masks = []
    for k in range(video.num_objects):
        top = 2 + 10 * k
        left = (12 + video.speed * t) % (WIDTH - video.object_size)
        m = np.zeros((HEIGHT, WIDTH), bool)
        m[top:top + video.object_size, left:left + video.object_size] = True
        masks.append(m)
    return masks


def frames_of(video: FakeVideo) -> np.ndarray:
    frames = np.empty((video.num_frames, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(video.num_frames):
        frames[t] = category_colour(video.category)
        for k, m in enumerate(object_masks(video, t)):
            frames[t][m] = (250, 250 - 40 * k, 30)
    return frames


def annotation_of(video: FakeVideo) -> dict:
    empty = encode_rle(np.zeros((HEIGHT, WIDTH), bool)).to_dict()
    frames = []
    for t in range(0, video.num_frames, 4):
        rles = [encode_rle(m).to_dict() for m in object_masks(video, t)]
        frames.append(rles + [empty] * video.hidden)
    return {
        "video_id": video.video_id, "video_duration": video.num_frames / 24.0,
        "video_frame_count": float(video.num_frames), "video_height": float(HEIGHT),
        "video_width": float(WIDTH), "video_resolution": float(HEIGHT * WIDTH),
        "video_environment": "Outdoor", "video_split": "train", "masklet": frames,
        "masklet_id": list(range(video.num_objects + video.hidden)),
        "masklet_type": ["manual"] * (video.num_objects + video.hidden),
        "masklet_num": video.num_objects + video.hidden,
    }


def write_fake_sav(root: Path, videos: list[FakeVideo], *, write_videos: bool = True,
                   write_annotations: bool = True) -> None:
    for video in videos:
        folder = root / video.subdir
        folder.mkdir(parents=True, exist_ok=True)
        if write_videos:
            write_video(folder / f"{video.video_id}.mp4", frames_of(video), 24.0)
        if write_annotations:
            (folder / f"{video.video_id}_manual.json").write_text(json.dumps(annotation_of(video)))
