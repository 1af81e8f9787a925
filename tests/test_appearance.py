"""Colour models of tracked objects (`metrics.objects.appearance`): chromaticity bins and
log-likelihood ratios on images with known colours."""

from __future__ import annotations

import numpy as np
import pytest

from ttm_bench.metrics.objects.appearance import BINS, ColourModels, colour_bins

DARK = BINS * BINS


def test_shading_keeps_a_colour_in_its_bin_and_near_black_has_its_own() -> None:
    pixels = np.array([[[200, 40, 30], [100, 20, 15], [50, 10, 7]],  # one red, three shades
                       [[128, 128, 128], [250, 250, 250], [10, 12, 9]]], np.uint8)
    bins = colour_bins(pixels)
    assert bins[0, 0] == bins[0, 1] == bins[0, 2]
    assert bins[1, 0] == bins[1, 1] != bins[0, 0]  # greys share a bin, not red's
    assert bins[1, 2] == DARK
    assert bins.min() >= 0 and bins.max() <= DARK
    # the bin is r then g: (r, g) = (0.5, 0.25) lands in cell (8, 4)
    assert colour_bins(np.array([[[100, 50, 50]]], np.uint8))[0, 0] == 8 * BINS + 4


def shaded(colour: tuple[int, int, int], shade: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) * shade[..., None], 0, 255).astype(np.uint8)


def test_an_object_looks_like_itself_at_any_shade_and_the_background_does_not() -> None:
    rng = np.random.default_rng(0)
    shade = rng.uniform(0.5, 1.0, (32, 32))
    frame = shaded((60, 120, 110), shade)  # a muted teal background
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 4:14, 4:14] = True
    masks[1, 18:28, 18:28] = True
    frame[masks[0]] = shaded((215, 40, 35), shade)[masks[0]]  # red
    frame[masks[1]] = shaded((35, 80, 220), shade)[masks[1]]  # blue
    models = ColourModels.fit(frame, masks)
    probe = np.array([[[107, 20, 17], [17, 40, 110], [60, 120, 110], [5, 5, 5]]], np.uint8)
    ratios = models.log_ratios(probe)  # red and blue at half the darkest shade seen, teal, black
    strong = np.log(4.0)
    assert ratios[0, 0, 0] > strong and ratios[1, 0, 0] < -strong
    assert ratios[1, 0, 1] > strong and ratios[0, 0, 1] < -strong
    assert (ratios[:, 0, 2] < -strong).all()  # the background's colour is neither object's
    assert (ratios[:, 0, 3] == 0).all()  # near-black: no evidence either way
    # a colour no model has seen is nobody's, whatever the models' pixel counts
    unseen = models.log_ratios(np.array([[[240, 230, 20]]], np.uint8))
    np.testing.assert_allclose(unseen, 0.0, atol=1e-12)


def test_a_grey_video_gives_no_colour_evidence_to_small_or_large_objects() -> None:
    rng = np.random.default_rng(1)
    frame = np.repeat(rng.integers(50, 255, (64, 64, 1), dtype=np.uint8), 3, axis=2)
    masks = np.zeros((2, 64, 64), bool)
    masks[0, 4:9, 4:9] = True  # 25 px against 3000 px of background
    masks[1, 20:60, 20:60] = True
    ratios = ColourModels.fit(frame, masks).log_ratios(frame)
    np.testing.assert_allclose(ratios, 0.0, atol=1e-12)


def test_frames_that_are_not_uint8_rgb_are_refused() -> None:
    # a float frame may hold NaN, whose bin would silently wrap to another colour's
    for frame in (np.full((2, 2, 3), np.nan, np.float32), np.zeros((2, 2), np.uint8),
                  np.zeros((2, 2, 4), np.uint8)):
        with pytest.raises(ValueError, match="uint8 \\[H, W, 3\\]"):
            colour_bins(frame)
