"""Masks: COCO RLE (against pycocotools and hand-derived strings), boxes, mask videos."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ttm_bench.data.masks import (
    PALETTE,
    decode_rle,
    encode_rle,
    labels_from_masks,
    mask_area,
    mask_bbox,
    render_mask_video,
)
from ttm_bench.data.sample import RLE
from ttm_bench.errors import TTMBenchError
from ttm_bench.video import read_video, write_video

small_masks = arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)))


@st.composite
def blocky_masks(draw: st.DrawFn) -> np.ndarray:
    """Masks of a few rectangles: long runs, so multi-character and negative-delta counts."""
    height, width = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    mask = np.zeros((height, width), bool)
    for _ in range(draw(st.integers(0, 4))):
        y0, y1 = sorted(draw(st.tuples(st.integers(0, height), st.integers(0, height))))
        x0, x1 = sorted(draw(st.tuples(st.integers(0, width), st.integers(0, width))))
        mask[y0:y1, x0:x1] = not mask[y0:y1, x0:x1].any()
    return mask


def hand_mask(height: int, width: int, on: list[tuple[int, int]]) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    for y, x in on:
        mask[y, x] = True
    return mask


@pytest.mark.parametrize(
    ("mask", "counts"),
    [
        # 3x4, pixel (row 1, col 1) is column-major position 1 * 3 + 1 = 4: runs 4, 1, 7
        (hand_mask(3, 4, [(1, 1)]), "417"),
        # empty 2x3: one run of 6 zeros; full 2x3: an empty zero run, then 6 ones
        (np.zeros((2, 3), bool), "6"),
        (np.ones((2, 3), bool), "06"),
        # 1x100 with ones at 0-39 and 70-99: runs 0, 40, 30, 30. Written: 0 -> "0";
        # 40 = 0b01000_01000 -> groups 8 (+32 more) and 1 -> "X1"; 30 = 0b11110 has the sign
        # bit set, so a 0 group follows -> "n0"; the 4th run is coded as 30 - 40 = -10 ->
        # group 22 with sign bit, rest -1 -> "F"
        (((np.arange(100) < 40) | (np.arange(100) >= 70))[None], "0X1n0F"),
    ],
)
def test_known_coco_strings(mask: np.ndarray, counts: str):
    rle = encode_rle(mask)
    assert rle == RLE(size=mask.shape, counts=counts)
    np.testing.assert_array_equal(decode_rle(rle), mask)


@given(st.one_of(small_masks, blocky_masks()))
def test_rle_round_trip(mask: np.ndarray):
    decoded = decode_rle(encode_rle(mask))
    assert decoded.dtype == np.bool_
    np.testing.assert_array_equal(decoded, mask)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
@settings(max_examples=200)
@given(st.one_of(small_masks, blocky_masks()))
def test_counts_are_byte_identical_to_pycocotools(mask: np.ndarray):
    coco = pytest.importorskip("pycocotools.mask")
    reference = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle = encode_rle(mask)
    assert rle.counts == reference["counts"].decode("ascii")
    assert list(rle.size) == reference["size"]
    np.testing.assert_array_equal(decode_rle(rle), coco.decode(reference).astype(bool))


@pytest.mark.parametrize(
    ("rle", "message"),
    [
        (RLE((2, 3), "5"), "cover 5 pixels but size 2x3 has 6"),
        (RLE((2, 3), "4~"), "'~' at position 1"),
        (RLE((2, 3), "2X"), "middle of a number"),
        (RLE((1, 9), "111F"), "negative run length"),
    ],
)
def test_corrupt_counts_are_reported(rle: RLE, message: str):
    with pytest.raises(TTMBenchError, match=message):
        decode_rle(rle)


@pytest.mark.parametrize("mask", [np.zeros((2, 2), np.uint8), np.zeros((1, 2, 2), bool), [[True]]])
def test_encode_requires_2d_bool(mask: object):
    with pytest.raises(TTMBenchError, match="bool"):
        encode_rle(mask)


def test_area_and_box():
    mask = hand_mask(6, 8, [(2, 3), (4, 5), (3, 3)])
    assert mask_area(mask) == 3
    assert mask_bbox(mask) == (3, 2, 6, 5)
    assert mask_bbox(hand_mask(6, 8, [(0, 7)])) == (7, 0, 8, 1)
    assert mask_bbox(np.zeros((6, 8), bool)) is None
    assert mask_area(np.zeros((6, 8), bool)) == 0


def test_palette_is_distinct_and_far_from_background():
    colours = np.array(PALETTE, dtype=int)
    assert colours.shape == (len(PALETTE), 3) and len(PALETTE) >= 8
    assert (colours.max(axis=1) == 255).all()  # far from the black background
    for a, b in itertools.combinations(colours, 2):
        assert np.abs(a - b).max() >= 127


def test_labels_later_objects_drawn_over_earlier():
    first = hand_mask(2, 3, [(0, 0), (0, 1)])
    second = hand_mask(2, 3, [(0, 1), (1, 2)])
    labels = labels_from_masks(np.stack([first, second]))
    np.testing.assert_array_equal(labels, [[1, 2, 0], [0, 0, 2]])
    video = labels_from_masks(np.stack([np.stack([first, second]), np.stack([second, first])]))
    assert video.shape == (2, 2, 3)
    np.testing.assert_array_equal(video[1], [[2, 2, 0], [0, 0, 1]])


def test_render_uses_palette_and_black_background():
    labels = np.array([[[0, 1], [2, len(PALETTE)]]])
    video = render_mask_video(labels)
    assert video.shape == (1, 2, 2, 3) and video.dtype == np.uint8
    np.testing.assert_array_equal(video[0, 0, 0], [0, 0, 0])
    np.testing.assert_array_equal(video[0, 0, 1], PALETTE[0])
    np.testing.assert_array_equal(video[0, 1, 0], PALETTE[1])
    np.testing.assert_array_equal(video[0, 1, 1], PALETTE[-1])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.full((1, 2, 2), len(PALETTE) + 1), "at most"),
        (np.full((1, 2, 2), -1), "0 \\(background\\)"),
        (np.zeros((1, 2, 2), np.float32), "integer"),
        (np.zeros((2, 2), np.int64), "integer label maps \\[T, H, W\\]"),
    ],
)
def test_render_rejects_bad_labels(labels: np.ndarray, message: str):
    with pytest.raises(TTMBenchError, match=message):
        render_mask_video(labels)


def test_labels_reject_non_bool():
    with pytest.raises(TTMBenchError, match="bool"):
        labels_from_masks(np.zeros((2, 4, 4), np.uint8))


def test_mask_video_survives_lossless_file_and_decodes_back(tmp_path: Path):
    rng = np.random.default_rng(0)
    masks = rng.random((3, 2, 10, 14)) < 0.3  # [T, L, H, W]
    video = render_mask_video(labels_from_masks(masks))
    write_video(tmp_path / "masks.mp4", video, fps=8, lossless=True)
    decoded = read_video(tmp_path / "masks.mp4", backend="pyav")
    np.testing.assert_array_equal(decoded, video)
    top_object = ~masks[:, 1] & masks[:, 0]  # visible where the second does not cover it
    np.testing.assert_array_equal((decoded == PALETTE[0]).all(axis=-1), top_object)


def test_rle_is_empty_agrees_with_decoding() -> None:
    from ttm_bench.data.masks import rle_is_empty

    rng = np.random.default_rng(3)
    for density in (0.0, 0.01, 0.5, 1.0):
        mask = rng.random((9, 7)) < density
        assert rle_is_empty(encode_rle(mask)) == (not decode_rle(encode_rle(mask)).any())
