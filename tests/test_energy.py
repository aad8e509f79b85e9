"""STRCN-A's energy map, top-p mask and pixels x frames matrix against hand-made examples."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.morphology import disk as skimage_disk

from pipeline.energy import (STRCN_CODE_MASK, STRCN_PAPER_MASK, difference_energy, disk,
                             masked_matrix, top_p_mask)


def test_difference_energy_sums_the_change_from_the_first_frame():
    frames = np.array([[[0.0, 0.5], [0.2, 0.0]],
                       [[0.1, 0.5], [0.0, 0.2]],
                       [[0.3, 0.4], [0.1, 0.0]]], np.float32)   # (T=3, H=2, W=2)
    expected = np.array([[0.1 + 0.3, 0.0 + 0.1], [0.2 + 0.1, 0.2 + 0.0]])
    energy = difference_energy(frames)
    assert energy.shape == (2, 2) and energy.dtype == np.float32
    assert np.allclose(energy, expected)
    as_uint8 = np.array([[[0, 255]], [[51, 0]]], np.uint8)       # (2, 1, 2): scaled to [0, 1]
    assert np.allclose(difference_energy(as_uint8), [[0.2, 1.0]])
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in rgb])
    assert np.allclose(difference_energy(rgb), difference_energy(grey))


def test_masked_matrix_is_masked_pixels_by_frames_in_column_or_row_major_order():
    frames = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3) / 100   # (T=2, H=2, W=3)
    mask = np.array([[False, True, True],
                     [True, False, True]])
    matrix = masked_matrix(frames, mask)
    assert matrix.shape == (4, 2) and matrix.dtype == np.float32
    # frame t's value at (y, x) is (6 t + 3 y + x) / 100; MATLAB's I(mask) order, column by
    # column: (1, 0), (0, 1), (0, 2), (1, 2)
    assert np.allclose(matrix, np.array([[3, 9], [1, 7], [2, 8], [5, 11]]) / 100)
    # row by row: (0, 1), (0, 2), (1, 0), (1, 2)
    assert np.allclose(masked_matrix(frames, mask, "row"),
                       np.array([[1, 7], [2, 8], [3, 9], [5, 11]]) / 100)
    with pytest.raises(ValueError, match="order"):
        masked_matrix(frames, mask, "diagonal")
    assert masked_matrix(frames, np.zeros((2, 3), bool)).shape == (0, 2)
    with pytest.raises(ValueError, match="mask must be bool"):
        masked_matrix(frames, mask.astype(np.uint8))
    with pytest.raises(ValueError, match="mask must be bool"):
        masked_matrix(frames, mask[:, :2])


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.3, 1.0])
def test_top_p_keeps_exactly_round_p_hw_pixels_with_the_most_energy(p):
    rng = np.random.default_rng(1)
    maps = [rng.random((20, 30)) for _ in range(3)]
    mask = top_p_mask(maps, p)
    assert mask.shape == (20, 30) and mask.dtype == bool
    assert mask.sum() == round(p * 600)
    total = sum(maps)
    if 0 < p < 1:
        assert total[mask].min() > total[~mask].max()
    assert np.array_equal(mask, top_p_mask([total], p))            # only the sum matters


def test_top_p_breaks_ties_by_row_major_order():
    flat = np.ones((4, 5))
    mask = top_p_mask([flat], 0.3)                                    # 6 of 20, all tied
    assert mask.ravel().tolist() == [True] * 6 + [False] * 14
    energy = np.zeros((4, 5))
    energy[3, 4] = energy[2, 0] = 2.0
    energy[1, 1] = energy[0, 3] = energy[3, 0] = 1.0                  # 3 tied for 2 places
    mask = top_p_mask([energy], 0.2)
    assert sorted(zip(*np.nonzero(mask))) == [(0, 3), (1, 1), (2, 0), (3, 4)]
    assert top_p_mask([flat], 0.25).sum() == 5 and top_p_mask([np.ones((2, 5))], 0.25).sum() == 2


def test_opening_removes_specks_and_keeps_round_blobs():
    y, x = np.mgrid[:30, :40]
    blob = (x - 12) ** 2 + (y - 14) ** 2 <= 16                        # disk of radius 4
    edge = x ** 2 + (y - 20) ** 2 <= 16                               # half a disk at the border
    speck, line = (y == 25) & (x == 30), (y == 5) & (x >= 25) & (x < 35)
    shape = blob | edge | speck | line
    p = shape.sum() / shape.size
    assert np.array_equal(top_p_mask([shape.astype(float)], p), shape)
    opened = top_p_mask([shape.astype(float)], p, opening_radius=1)
    assert np.array_equal(opened, blob | edge)              # the border does not erode
    assert np.array_equal(disk(1), skimage_disk(1).astype(bool))
    assert np.array_equal(disk(3), skimage_disk(3).astype(bool))
    assert STRCN_CODE_MASK == {"p": 0.25, "opening_radius": 1} and STRCN_PAPER_MASK["p"] == 0.3


def test_top_p_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        top_p_mask([], 0.3)
    with pytest.raises(ValueError, match="one size"):
        top_p_mask([np.ones((4, 5)), np.ones((5, 4))])
    with pytest.raises(ValueError, match="fraction"):
        top_p_mask([np.ones((4, 5))], 30)
    with pytest.raises(ValueError, match="NaN"):
        top_p_mask([np.full((4, 5), np.nan)])
