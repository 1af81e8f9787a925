"""The one output-normalisation policy: every model's video is mapped onto the benchmark's format.

Models generate at their own native format (VideoCrafter 16 frames of 320×512 at 8 fps,
DynamiCrafter-256 16 frames of 256×256 ...). Before a video is saved, the runner maps it onto the
benchmark's frame count T, frame rate and size H×W with this policy, identically for every
model, and records the mapping in the sample's sidecar (`NormalizationRecord`).

Policy `ttm-norm-v1`:

- Frames ("span", default): the model's whole clip is spread over the T output frames. Output
  frame k shows source frame round(k · (T' − 1) / (T − 1)) (T = 1: frame 0), so the first and
  last generated frames are kept and no frame is invented by blending (blends are ghosts that
  no model made). T' = T is the identity. The output is labelled with the benchmark's fps;
  `time_scale` = (T' / fps') / (T / fps) records how much the clip was sped up (< 1) or slowed
  down (> 1) by that relabelling.
- Frames ("time", optional): the clip is resampled at the benchmark's fps by time stamps,
  output frame k shows source frame round(k · fps' / fps); the model's clip must last at least
  as long as the benchmark's, otherwise this raises (no frame is invented).
- Size: every frame is stretched to H×W (OpenCV "area" when both sides shrink, "bilinear"
  otherwise). Models receive their input image stretched to their native size by
  `prepare_image`, so stretching back maps every output pixel onto the benchmark pixel it came
  from; masks and ground truth stay aligned. `aspect_change` = (W / H) / (W' / H') records the
  distortion a model's native aspect ratio imposes (1 = none).
- Trajectories (per-object masks a model returns with its video) take the video's frame
  indices and are resized by nearest neighbour at pixel centres: output pixel (i, j) shows
  source pixel (floor((i + ½) · H' / H), floor((j + ½) · W' / W)), so a mask stays binary and
  covers the pixels its object covers in the stretched video.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ttm_bench.errors import TTMBenchError, UnknownNameError
from ttm_bench.generation.model import GeneratedVideo, GenerationRequest
from ttm_bench.video import check_video, resize_video

POLICY = "ttm-norm-v1"
FRAME_MODES = ("span", "time")


@dataclass(frozen=True)
class NormalizationRecord:
    """How one video was mapped onto the benchmark's format (stored in the sidecar).

    source_* describe the model's native output, target_* the benchmark's; frame_indices[k] is
    the source frame shown as output frame k; resize is the OpenCV method or None (same size).
    """

    policy: str
    frame_mode: str
    source_frames: int
    source_fps: float
    source_height: int
    source_width: int
    target_frames: int
    target_fps: float
    target_height: int
    target_width: int
    frame_indices: tuple[int, ...]
    time_scale: float
    aspect_change: float
    resize: str | None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["frame_indices"] = list(self.frame_indices)
        return data


def span_indices(source_frames: int, target_frames: int) -> list[int]:
    """Source frame per output frame when `source_frames` are spread over `target_frames`.

    Index k -> round(k · (source − 1) / (target − 1)), rounding halves up; first and last kept.
    """
    if source_frames < 1 or target_frames < 1:
        raise TTMBenchError(f"cannot map {source_frames} frames onto {target_frames}: "
                            "both counts must be >= 1")
    if target_frames == 1:
        return [0]
    step = (source_frames - 1) / (target_frames - 1)
    return [int(np.floor(k * step + 0.5)) for k in range(target_frames)]


def time_indices(source_frames: int, source_fps: float, target_frames: int,
                 target_fps: float) -> list[int]:
    """Source frame per output frame when resampling by time stamps: round(k · fps' / fps).

    Raises TTMBenchError when the source clip is too short to cover the target clip.
    """
    ratio = source_fps / target_fps
    indices = [int(np.floor(k * ratio + 0.5)) for k in range(target_frames)]
    if indices[-1] >= source_frames:
        raise TTMBenchError(
            f"frame mode 'time': a clip of {source_frames} frames at {source_fps:g} fps lasts "
            f"{source_frames / source_fps:.3g} s, shorter than the benchmark's {target_frames} "
            f"frames at {target_fps:g} fps; use frame mode 'span' or ask the model for more frames"
        )
    return indices


def _resize_method(source: tuple[int, int], target: tuple[int, int]) -> str | None:
    if source == target:
        return None
    return "area" if source[0] >= target[0] and source[1] >= target[1] else "bilinear"


def normalize_video(generated: GeneratedVideo, request: GenerationRequest,
                    frame_mode: str = "span") -> tuple[np.ndarray, NormalizationRecord]:
    """Map a model's native video onto the request's T, fps, H, W by the policy above.

    Returns uint8 [T, H, W, 3] and the record of what was done.
    """
    if frame_mode not in FRAME_MODES:
        raise UnknownNameError("frame mode", frame_mode, list(FRAME_MODES))
    frames = check_video(generated.frames, "generated video")
    if not (np.isfinite(generated.fps) and generated.fps > 0):
        raise TTMBenchError(f"generated video has fps {generated.fps!r}; a model must report "
                            "its native frame rate as a positive number")
    source_frames, source_h, source_w, _ = frames.shape
    if frame_mode == "span":
        indices = span_indices(source_frames, request.num_frames)
    else:
        indices = time_indices(source_frames, generated.fps, request.num_frames, request.fps)
    target_size = (request.height, request.width)
    method = _resize_method((source_h, source_w), target_size)
    video = frames[indices]
    if method is not None:
        video = resize_video(video, target_size, method)
    record = NormalizationRecord(
        policy=POLICY,
        frame_mode=frame_mode,
        source_frames=source_frames,
        source_fps=float(generated.fps),
        source_height=source_h,
        source_width=source_w,
        target_frames=request.num_frames,
        target_fps=float(request.fps),
        target_height=request.height,
        target_width=request.width,
        frame_indices=tuple(indices),
        time_scale=(source_frames / generated.fps) / (request.num_frames / request.fps),
        aspect_change=(request.width / request.height) / (source_w / source_h),
        resize=method,
    )
    return np.ascontiguousarray(video), record


def normalize_trajectory(trajectory: np.ndarray, record: NormalizationRecord,
                         num_objects: int) -> np.ndarray:
    """Map a model's trajectory, bool [T', L, H', W'] aligned with the video `record` describes,
    onto the benchmark's format by the same frame indices (nearest-neighbour pixels).

    num_objects: the request's object count L. Returns bool [T, L, H, W]; raises TTMBenchError
    naming the expected shape when the trajectory is not aligned with the video and objects.
    """
    expected = (record.source_frames, num_objects, record.source_height, record.source_width)
    shape = getattr(trajectory, "shape", None)
    if not isinstance(trajectory, np.ndarray) or trajectory.dtype != np.bool_ or \
            trajectory.shape != expected:
        dtype = getattr(trajectory, "dtype", type(trajectory).__name__)
        raise TTMBenchError(
            f"GeneratedVideo.trajectory is {dtype} {list(shape) if shape else shape}, expected "
            f"bool {list(expected)} (the video's frames, one mask per requested object, the "
            "video's height and width); return the masks the video was generated from, in the "
            "order of request.masks, or trajectory=None")
    rows = _nearest_indices(record.source_height, record.target_height)
    cols = _nearest_indices(record.source_width, record.target_width)
    mapped = trajectory[list(record.frame_indices)][:, :, rows][:, :, :, cols]
    return np.ascontiguousarray(mapped)


def _nearest_indices(source: int, target: int) -> np.ndarray:
    """Source index of each of `target` output pixels by pixel centres (see the module doc)."""
    return (2 * np.arange(target) + 1) * source // (2 * target)  # exact integer floor


def prepare_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The input side of the policy: stretch uint8 [H, W, 3] to the model's native [height, width].

    Same interpolation rule as the output side, so output pixels map back onto input pixels.
    """
    source = image.shape[:2]
    method = _resize_method(source, (height, width))
    if method is None:
        return image
    return resize_video(image[None], (height, width), method)[0]
