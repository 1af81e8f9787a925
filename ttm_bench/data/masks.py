"""Binary object masks: COCO run-length encoding, area and box, and colour-coded mask videos.

RLE follows the COCO format, byte for byte: the mask is read in column-major order (down the
first column, then the next) as alternating runs of 0s and 1s, starting with 0s (so the first
run may be empty). The run lengths are written as a string: from the fourth run on, each
length is replaced by its difference from the run two before; each number is then cut into
5-bit groups, least significant first, each stored as one character chr(48 + group + 32 * more)
where `more` says another group follows; the last group's 0x10 bit is the sign.

Mask videos are TTM's trajectory representation: an RGB video where object k (1-based) has
the constant colour `PALETTE[k - 1]` and the background is black.
"""

from __future__ import annotations

import numpy as np

from ttm_bench.data.sample import RLE
from ttm_bench.errors import TTMBenchError

# Well-separated colours: every entry has a channel at 255 (distance >= 255 from the black
# background) and any two differ by >= 127 in some channel. Primaries and secondaries first,
# then the six 255/128/0 mixes, then light tints and white.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),  # red
    (0, 255, 0),  # green
    (0, 0, 255),  # blue
    (255, 255, 0),  # yellow
    (255, 0, 255),  # magenta
    (0, 255, 255),  # cyan
    (255, 128, 0),  # orange
    (128, 0, 255),  # violet
    (0, 255, 128),  # spring green
    (255, 0, 128),  # rose
    (128, 255, 0),  # chartreuse
    (0, 128, 255),  # azure
    (255, 128, 255),  # pink
    (128, 255, 255),  # light cyan
    (255, 255, 128),  # light yellow
    (255, 255, 255),  # white
)
BACKGROUND = (0, 0, 0)

_CHAR_OFFSET = 48  # '0'
_GROUP_BITS = 5
_GROUP_MASK = 0x1F
_SIGN_BIT = 0x10
_MORE_BIT = 0x20


def encode_rle(mask: np.ndarray) -> RLE:
    """COCO RLE of `mask` (bool [H, W]); `counts` equals pycocotools' `encode(...)["counts"]`."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        shape = getattr(mask, "shape", None)
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise TTMBenchError(
            f"encode_rle needs a bool [H, W] array, got {dtype} with shape {shape}; "
            "threshold it first (e.g. mask > 0)"
        )
    return RLE(size=(mask.shape[0], mask.shape[1]), counts=_counts_to_string(_runs(mask)))


def decode_rle(rle: RLE) -> np.ndarray:
    """Decode a COCO RLE to bool [H, W]; raise TTMBenchError when `counts` is corrupt."""
    height, width = rle.size
    runs = _checked_runs(rle)
    values = np.arange(len(runs)) % 2 == 1
    flat = np.repeat(values, runs)
    return flat.reshape(width, height).T.copy()


def rle_is_empty(rle: RLE) -> bool:
    """Whether `rle` has no foreground pixel, without decoding it to pixels; raise TTMBenchError
    when `counts` is corrupt (as `decode_rle` would)."""
    return not any(_checked_runs(rle)[1::2])


def _checked_runs(rle: RLE) -> list[int]:
    height, width = rle.size
    runs = _counts_from_string(rle.counts)
    if any(r < 0 for r in runs):
        raise TTMBenchError(
            f"corrupt RLE counts {_preview(rle.counts)}: it decodes to a negative run length; "
            "re-encode the mask with ttm_bench.data.masks.encode_rle"
        )
    total = sum(runs)
    if total != height * width:
        raise TTMBenchError(
            f"corrupt RLE counts {_preview(rle.counts)}: runs cover {total} pixels but size "
            f"{height}x{width} has {height * width}; check `size` is [height, width] and "
            "re-encode the mask"
        )
    return runs


def mask_area(mask: np.ndarray) -> int:
    """Number of foreground pixels of `mask` (bool [H, W])."""
    return int(np.count_nonzero(mask))


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Tight box (x0, y0, x1, y1) in pixels around `mask` (bool [H, W]), None when empty.

    x1 and y1 are exclusive: the box covers columns x0 .. x1 - 1 and rows y0 .. y1 - 1, so its
    size is (x1 - x0) x (y1 - y0).
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def labels_from_masks(masks: np.ndarray) -> np.ndarray:
    """Merge per-object masks into one label map: 0 is background, object l gets l + 1.

    `masks`: bool [L, H, W] (one frame) or [T, L, H, W] (a video). Where objects overlap the
    later object wins (it is drawn over the earlier). Returns uint8 [H, W] or [T, H, W].
    """
    if not isinstance(masks, np.ndarray) or masks.dtype != np.bool_ or masks.ndim not in (3, 4):
        raise TTMBenchError(
            f"labels_from_masks needs bool [L, H, W] or [T, L, H, W], got "
            f"{getattr(masks, 'dtype', type(masks).__name__)} {getattr(masks, 'shape', '')}"
        )
    num_objects = masks.shape[-3]
    if num_objects > np.iinfo(np.uint8).max:
        raise TTMBenchError(f"{num_objects} objects do not fit uint8 labels (at most 255)")
    labels = np.zeros(masks.shape[:-3] + masks.shape[-2:], np.uint8)
    for obj in range(num_objects):
        labels[masks[..., obj, :, :]] = obj + 1
    return labels


def render_mask_video(label_maps: np.ndarray) -> np.ndarray:
    """Colour-code label maps (integer [T, H, W]; 0 background, k > 0 object k) as a mask video.

    Returns uint8 [T, H, W, 3]: label k is `PALETTE[k - 1]`, background black.
    """
    if (not isinstance(label_maps, np.ndarray) or label_maps.ndim != 3
            or not np.issubdtype(label_maps.dtype, np.integer)):
        raise TTMBenchError(
            "render_mask_video needs integer label maps [T, H, W], got "
            f"{getattr(label_maps, 'dtype', type(label_maps).__name__)} "
            f"{getattr(label_maps, 'shape', '')}"
        )
    if label_maps.size and (label_maps.min() < 0 or label_maps.max() > len(PALETTE)):
        raise TTMBenchError(
            f"labels must be 0 (background) to {len(PALETTE)} (the palette size), got "
            f"{label_maps.min()} to {label_maps.max()}; render at most {len(PALETTE)} objects"
        )
    colours = np.array((BACKGROUND, *PALETTE), np.uint8)
    return colours[label_maps]


def _runs(mask: np.ndarray) -> list[int]:
    """Alternating run lengths of 0s and 1s in column-major order, starting with 0s."""
    flat = mask.ravel(order="F")
    if flat.size == 0:
        return []
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def _counts_to_string(runs: list[int]) -> str:
    chars = []
    for i, run in enumerate(runs):
        value = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            group = value & _GROUP_MASK
            value >>= _GROUP_BITS  # arithmetic shift: negative values end at -1
            more = value != (-1 if group & _SIGN_BIT else 0)
            chars.append(chr(_CHAR_OFFSET + group + (_MORE_BIT if more else 0)))
    return "".join(chars)


def _counts_from_string(counts: str) -> list[int]:
    runs: list[int] = []
    value = shift = 0
    for position, char in enumerate(counts):
        code = ord(char) - _CHAR_OFFSET
        if not 0 <= code < 2 * _MORE_BIT:
            raise TTMBenchError(
                f"corrupt RLE counts {_preview(counts)}: character {char!r} at position "
                f"{position} is outside the COCO alphabet '0'..'o'; re-encode the mask"
            )
        value |= (code & _GROUP_MASK) << shift
        shift += _GROUP_BITS
        if code & _MORE_BIT:
            continue
        if code & _SIGN_BIT:
            value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
        value = shift = 0
    if shift:
        raise TTMBenchError(
            f"corrupt RLE counts {_preview(counts)}: it ends in the middle of a number "
            "(truncated string); re-encode the mask"
        )
    return runs


def _preview(counts: str, limit: int = 40) -> str:
    return repr(counts if len(counts) <= limit else counts[:limit] + "...")
