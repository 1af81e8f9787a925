"""Video I/O: decode to and encode from `uint8 [T, H, W, 3]` RGB arrays, and resample them."""

from ttm_bench.video.decode import (
    FrameIndexError,
    VideoDecodeError,
    VideoInfo,
    count_decodable_frames,
    decoder_backend,
    probe_video,
    read_video,
)
from ttm_bench.video.encode import DEFAULT_CRF, write_video
from ttm_bench.video.frames import as_rgb_uint8, check_video
from ttm_bench.video.resample import resize_short_side, resize_video, sample_frame_indices

__all__ = [
    "DEFAULT_CRF",
    "FrameIndexError",
    "VideoDecodeError",
    "VideoInfo",
    "as_rgb_uint8",
    "check_video",
    "count_decodable_frames",
    "decoder_backend",
    "probe_video",
    "read_video",
    "resize_short_side",
    "resize_video",
    "sample_frame_indices",
    "write_video",
]
