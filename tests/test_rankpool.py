"""Dynamic images and DSSI sampling against their definitions (methods.md, "Dynamic images"):
the rank-pooling weights, the running-mean form of the operator, hand-computed images, the
uint8 mapping, and the snippet indices."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.rankpool import arp_weights, dssi, dssi_indices, dynamic_image, to_uint8


def test_arp_weights_reference_values():
    np.testing.assert_allclose(arp_weights(5), [-3.7, 0.3, 1.3, 1.3, 0.8], atol=1e-12)
    np.testing.assert_array_equal(arp_weights(1), [1.0])
    for T in (2, 3, 7, 30):
        assert arp_weights(T).dtype == np.float64 and arp_weights(T).shape == (T,)
        assert abs(arp_weights(T).sum()) < 1e-9


def test_arp_weights_closed_form():
    """a_t = 2(T - t + 1) - (T + 1)(H_T - H_{t-1}) with harmonic numbers H."""
    T = 11
    harmonic = np.concatenate([[0.0], np.cumsum(1 / np.arange(1, T + 1))])  # H_0..H_T
    t = np.arange(1, T + 1)
    expected = 2 * (T - t + 1) - (T + 1) * (harmonic[T] - harmonic[t - 1])
    np.testing.assert_allclose(arp_weights(T), expected, atol=1e-12)


def clip(T: int = 6, seed: int = 0) -> np.ndarray:
    """A random uint8 RGB clip, (T, 5, 4, 3)."""
    return np.random.default_rng(seed).integers(0, 256, (T, 5, 4, 3), dtype=np.uint8)


def test_equals_beta_on_running_means():
    """The paper's beta_t = 2t - T - 1 applied to V_t = mean(frames[:t]) is the same image."""
    frames = clip()
    T = len(frames)
    t = np.arange(1, T + 1)
    running = np.cumsum(frames.astype(np.float64), axis=0) / t[:, None, None, None]  # V_1..V_T
    beta = 2 * t - T - 1
    expected = np.tensordot(beta, running, axes=1)
    np.testing.assert_allclose(dynamic_image(frames), expected, rtol=1e-6, atol=1e-3)


def test_missing_minus_one_port_differs():
    """Weights sum_{k>=t} (2k - T) / k (a popular port) give a different image: the test above
    would catch that mistake."""
    frames = clip()
    T = len(frames)
    k = np.arange(1, T + 1)
    wrong = np.cumsum(((2 * k - T) / k)[::-1])[::-1]
    wrong_image = np.tensordot(wrong, frames.astype(np.float64), axes=1)
    assert not np.allclose(dynamic_image(frames), wrong_image, atol=1.0)


def test_dynamic_image_by_hand():
    """T = 3: a = (-2 + 2/3, 0 + 2/3, 2/3) = (-4/3, 2/3, 2/3)."""
    f1 = [[0, 1], [2, 3]]
    f2 = [[3, 3], [3, 3]]
    f3 = [[6, 0], [0, 6]]
    di = dynamic_image(np.array([f1, f2, f3], dtype=np.uint8))
    assert di.dtype == np.float32 and di.shape == (2, 2)
    np.testing.assert_allclose(di, [[6, 2 / 3], [-2 / 3, 2]], atol=1e-6)
    one = np.array([[[7, 8]]], dtype=np.uint8)  # (1, 1, 2): a single frame is its own image
    np.testing.assert_array_equal(dynamic_image(one), [[7, 8]])


def test_to_uint8_rounds_and_handles_constants():
    # 2 * 255 / 9 = 56.67: rounding gives 57 where astype(uint8) would give 56.
    out = to_uint8(np.array([[-1.0, 1.0, 8.0]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[0, 57, 255]])
    assert out.dtype == np.uint8
    # The minimum and maximum are global over channels.
    rgb = to_uint8(np.array([[[0.0, 10.0, 4.0]]]))
    np.testing.assert_array_equal(rgb, [[[0, 255, 102]]])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(to_uint8(np.full((3, 2), 4.5)), np.zeros((3, 2)))


def test_dssi_centres_by_hand():
    """18 frames, 0..17: sub-segments [0, 2), [2, 4), ..., [16, 18) with centres 1, 3, ..., 17;
    P_i takes the three sub-segments of segment S_i (methods.md's example)."""
    expected = [[0, 8, 17],     # onset, (0 + 17) // 2, offset
                [1, 3, 5],      # S1 = frames 0..5
                [7, 9, 11],     # S2 = frames 6..11
                [13, 15, 17]]   # S3 = frames 12..17
    np.testing.assert_array_equal(dssi_indices(0, 17), expected)
    assert dssi_indices(0, 17)[1:].tolist() == [[1, 3, 5], [7, 9, 11], [13, 15, 17]]
    np.testing.assert_array_equal(dssi_indices(10, 27), np.array(expected) + 10)


def test_dssi_random_draws_stay_in_their_sub_segments():
    onset, offset = 3, 40
    edges = np.linspace(onset, offset + 1, 10)
    seen = set()
    for seed in range(50):
        idx = dssi_indices(onset, offset, np.random.default_rng(seed))
        assert idx.shape == (4, 3) and idx.dtype.kind == "i"
        snippets = idx[1:]                 # (3, 3): snippet i = segment i, its 3 sub-segments
        sub = np.arange(9).reshape(3, 3)   # sub-segment number of each entry
        assert np.all(snippets >= np.floor(edges[sub])) and np.all(snippets < edges[sub + 1])
        assert np.all(np.diff(idx, axis=1) >= 0)
        seen.add(tuple(idx[1:].ravel()))
    assert len(seen) > 1  # draws vary


def test_dssi_seeded_reproducible():
    a = dssi_indices(0, 60, np.random.default_rng(7))
    b = dssi_indices(0, 60, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_dssi_four_frames_by_hand():
    """4 frames: centres (2i + 1) * 4 / 18 = 0.22, 0.67, 1.11, 1.56, 2.0, 2.44, 2.89, 3.33, 3.78;
    the centre on the boundary 2.0 takes frame 2."""
    np.testing.assert_array_equal(dssi_indices(0, 3), [[0, 1, 3], [0, 0, 1], [1, 2, 2],
                                                       [2, 3, 3]])


@pytest.mark.parametrize("onset,offset", [(5, 5), (2, 3), (0, 4), (4, 11)])
def test_dssi_short_clips(onset, offset):
    for rng in (None, np.random.default_rng(1)):
        idx = dssi_indices(onset, offset, rng)
        assert idx.min() >= onset and idx.max() <= offset
        assert np.all(np.diff(idx, axis=1) >= 0)


def test_dssi_bad_range():
    with pytest.raises(ValueError):
        dssi_indices(9, 8)
    with pytest.raises(ValueError):
        dssi(clip(T=6), 0, 6)


def test_dssi_images():
    frames = clip(T=20)
    images = dssi(frames, 2, 19)
    assert images.shape == (4, 5, 4, 3) and images.dtype == np.uint8
    idx = dssi_indices(2, 19)
    for image, row in zip(images, idx):
        np.testing.assert_array_equal(image, to_uint8(dynamic_image(frames[row])))
    grey = dssi(frames[..., 0], 2, 19, np.random.default_rng(0))
    assert grey.shape == (4, 5, 4)
