"""Eulerian video magnification against its definition (methods.md, "Eulerian Video
Magnification") and against synthetic ground truth: level gains, pyramid, the IIR band-pass as a
scalar recurrence, and the magnification of a known sub-pixel motion."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evm import (build_laplacian, collapse_laplacian, iir_bandpass, level_gains, magnify,
                          magnify_float, magnify_many, n_pyramid_levels, rgb_to_yiq, yiq_to_rgb)

R1, R2 = 0.4, 0.05


def band_response(omega: float, r1: float = R1, r2: float = R2) -> complex:
    """Frequency response of lp1 - lp2 at omega (radians per frame)."""
    z = np.exp(-1j * omega)
    return r1 / (1 - (1 - r1) * z) - r2 / (1 - (1 - r2) * z)


def test_level_gains_example():
    assert n_pyramid_levels((128, 128)) == 6
    gains = level_gains((128, 128), 6, alpha=8, lambda_c=16)
    np.testing.assert_allclose(gains, [0, 2.243, 6.485, 8, 8, 0], atol=5e-4)


def test_pyramid_height_rule():
    """1 + the number of halvings k with floor(min side / 2^k) >= 5."""
    assert n_pyramid_levels((98, 120)) == 6   # 98, 49, 24, 12, 6 | residual
    assert n_pyramid_levels((48, 64)) == 5    # 48, 24, 12, 6 | residual
    assert n_pyramid_levels((9, 300)) == 2
    assert n_pyramid_levels((4, 300)) == 1    # too small to filter: the residual only
    img = np.zeros((128, 128), np.float32)
    assert [p.shape for p in build_laplacian(img, 6)] == [(128 >> k,) * 2 for k in range(6)]
    odd = build_laplacian(np.zeros((37, 53), np.float32), n_pyramid_levels((37, 53)))
    assert [p.shape for p in odd] == [(37, 53), (19, 27), (10, 14), (5, 7)]  # ceil halving


def test_level_gains_never_negative():
    """MIT's formula goes negative on fine levels for small alpha; those levels get 0."""
    gains = level_gains((128, 128), 6, alpha=1, lambda_c=16)
    np.testing.assert_allclose(gains, [0, 0, 0, 1, 1, 0])
    assert not level_gains((128, 128), 6, alpha=0, lambda_c=16).any()


@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3), (98, 120, 3), (5, 5)])
def test_pyramid_reconstruction_is_exact(shape):
    img = np.random.default_rng(0).random(shape).astype(np.float32)
    n_levels = n_pyramid_levels(shape)
    pyramid = build_laplacian(img, n_levels)
    assert len(pyramid) == n_levels
    assert np.abs(collapse_laplacian(pyramid) - img).max() < 1e-5


def test_yiq_round_trip():
    rgb = np.random.default_rng(1).random((6, 7, 3))
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(rgb)), rgb, atol=1e-6)
    np.testing.assert_allclose(rgb_to_yiq(np.ones((1, 3)))[0], [1, 0, 0], atol=1e-6)


def test_iir_step_response():
    """Input 0 then 1 forever: lp_n = 1 - (1 - r)^n, so band_n = (1 - r2)^n - (1 - r1)^n."""
    xs = [np.zeros(1, np.float32)] + [np.ones(1, np.float32)] * 30
    bands = np.array([b[0] for b in iir_bandpass(xs, R1, R2)])
    n = np.arange(31)
    np.testing.assert_allclose(bands, (1 - R2) ** n - (1 - R1) ** n, atol=1e-6)


def test_iir_sinusoid_in_band_passes_dc_does_not():
    """After the transient, a sinusoid comes out scaled by |H(omega)| (here ~0.63, close to the
    pass-band peak) and a constant gives no band at all."""
    omega, T = 2 * np.pi / 12, 240
    t = np.arange(T)
    x = np.sin(omega * t)
    bands = np.array([b[0] for b in iir_bandpass([np.float32([v]) for v in x], R1, R2)])
    steady = slice(T - 48, T)  # 4 full periods
    amplitude = np.sqrt(2 * np.mean(bands[steady] ** 2))
    np.testing.assert_allclose(amplitude, abs(band_response(omega)), rtol=1e-2)
    assert amplitude > 0.6
    dc = [b for b in iir_bandpass([np.full(1, 0.7, np.float32)] * 50, R1, R2)]
    assert np.abs(np.array(dc)).max() == 0  # exactly: lp += r (x - lp) keeps a constant


def grating(shape: tuple[int, int], wavelength: float, shift: float,
            amplitude: float = 0.3) -> np.ndarray:
    """0.5 + amplitude * cos(2 pi (x - shift) / wavelength), constant along y; (H, W)."""
    x = np.arange(shape[1])
    row = 0.5 + amplitude * np.cos(2 * np.pi * (x - shift) / wavelength)
    return np.tile(row, (shape[0], 1))


def grating_shift(img: np.ndarray, wavelength: float) -> float:
    """Displacement of a vertical grating, from its phase over the central half of the frame
    (a whole number of periods there, away from the pyramid's borders)."""
    w = img.shape[1]
    x = np.arange(w // 4, 3 * w // 4)
    phase = np.angle(np.sum(img[:, x].astype(np.float64) * np.exp(-2j * np.pi * x / wavelength)))
    return -phase * wavelength / (2 * np.pi)


def test_constant_clip_unchanged():
    still = np.random.default_rng(2).integers(0, 256, (1, 40, 50, 3), dtype=np.uint8)
    clip = np.repeat(still, 8, axis=0)
    np.testing.assert_array_equal(magnify(clip, alpha=20), clip)
    np.testing.assert_array_equal(magnify(clip[..., 0], alpha=20), clip[..., 0])


def test_alpha_zero_is_identity():
    clip = np.random.default_rng(3).integers(0, 256, (6, 30, 41, 3), dtype=np.uint8)
    np.testing.assert_array_equal(magnify(clip, alpha=0), clip)
    np.testing.assert_array_equal(magnify(clip[..., 1], alpha=0), clip[..., 1])


def test_several_alphas_in_one_pass_equal_one_at_a_time():
    """STRCN's augmentation: the factors 5..12 from one pyramid per frame, byte for byte what
    magnifying at each factor alone gives."""
    clip = np.random.default_rng(5).integers(0, 256, (7, 36, 30, 3), dtype=np.uint8)
    alphas = [8, 5, 6, 7, 9, 10, 11, 12]
    for colour in (clip, clip[..., 0]):
        together = magnify_many(colour, alphas)
        assert len(together) == len(alphas)
        for alpha, out in zip(alphas, together):
            np.testing.assert_array_equal(out, magnify(colour, alpha))
        assert len({out.tobytes() for out in together}) == len(alphas)


def test_first_frame_unchanged_and_shapes():
    clip = np.random.default_rng(4).integers(0, 256, (5, 24, 20, 3), dtype=np.uint8)
    out = magnify(clip, alpha=10)
    assert out.shape == clip.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], clip[0])
    assert not np.array_equal(out[1:], clip[1:])
    with pytest.raises(ValueError):
        magnify(clip[..., :2], alpha=10)


def linear_gain(shape: tuple[int, int], pattern: np.ndarray, alpha: float) -> float:
    """How much the per-level gains amplify `pattern` (H, W) over the central half of the
    frame: its pyramid, each level times its gain, collapsed, projected back on the pattern."""
    n_levels = n_pyramid_levels(shape)
    gains = level_gains(shape, n_levels, alpha, lambda_c=16)
    pyramid = build_laplacian(pattern.astype(np.float32), n_levels)
    amplified = collapse_laplacian([level * g for level, g in zip(pyramid, gains)])
    inner = (slice(None), slice(shape[1] // 4, 3 * shape[1] // 4))
    return float(np.sum(amplified[inner] * pattern[inner]) / np.sum(pattern[inner] ** 2))


# A grating of wavelength 64 px on a 256 x 256 frame: 7 levels, gains for alpha 8 finest-first
# [0, 2.243, 6.485, 8, 8, 8, 0]; the grating has 16, 8, 4 and 2 samples per period on levels 2,
# 3, 4 and 5, so nearly all of it lies in the levels whose gain is alpha: alpha_eff = alpha.
SHAPE, WAVELENGTH, ALPHA = (256, 256), 64.0, 8.0


def test_sub_pixel_motion_is_magnified():
    """The grating moves by 0.2 px over four frames and then holds.

    Small motion: I(x - d) ~ I(x) - d I'(x), so the band at frame n is -b_n I'(x), where b_n is
    the IIR band of the displacement series d_n (the scalar recurrence), and the output is
    I(x) - (d_n + alpha_eff b_n) I'(x): the grating shows the displacement d_n + alpha_eff b_n.
    The IIR band never reaches the full step (b_n < d_n), hence not simply (1 + alpha) d_n.
    Measured by the grating's phase: within 20 % of alpha_eff = alpha (float and uint8 paths;
    uint8 input quantises the 0.05 px steps), and on the float path within 2 % of the exact
    linear gain of the pyramid levels on I'. The colour path moves a grey grating the same, and
    a chrominance grating chrom_attenuation times as much."""
    d = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.2, 0.2])
    b = np.array([v for v in iir_bandpass([np.float64(v) for v in d], R1, R2)])
    expected = d[-1] + ALPHA * b[-1]  # ~1.3 px from 0.2 px
    assert expected > 5 * d[-1]

    frames = np.stack([grating(SHAPE, WAVELENGTH, s) for s in d])  # (T, H, W) in [0, 1]
    assert grating_shift(frames[-1], WAVELENGTH) == pytest.approx(d[-1], abs=1e-6)
    out_float = magnify_float(frames.astype(np.float32), alpha=ALPHA)
    measured = grating_shift(out_float[-1], WAVELENGTH) - grating_shift(out_float[0], WAVELENGTH)
    assert measured == pytest.approx(expected, rel=0.2)
    derivative = grating(SHAPE, WAVELENGTH, WAVELENGTH / 4) - 0.5  # the sine: I' up to scale
    exact = d[-1] + linear_gain(SHAPE, derivative, ALPHA) * b[-1]
    assert measured == pytest.approx(exact, rel=0.02)

    clip = np.rint(frames * 255).astype(np.uint8)
    out = magnify(clip, alpha=ALPHA)
    measured = grating_shift(out[-1], WAVELENGTH) - grating_shift(out[0], WAVELENGTH)
    assert measured == pytest.approx(expected, rel=0.2)

    rgb = np.repeat(clip[..., None], 3, axis=-1)  # grey in RGB: no chrominance
    out_rgb = magnify(rgb, alpha=ALPHA)
    for c in range(3):
        moved = grating_shift(out_rgb[-1, ..., c], WAVELENGTH) - grating_shift(out_rgb[0, ..., c],
                                                                                WAVELENGTH)
        assert moved == pytest.approx(measured, abs=0.03)

    yiq = np.zeros(frames.shape + (3,))  # (T, H, W, 3): the grating in I only
    yiq[..., 0] = 0.5
    yiq[..., 1] = frames - 0.5
    out_i = rgb_to_yiq(magnify_float(yiq_to_rgb(yiq), alpha=ALPHA, chrom_attenuation=0.5))[..., 1]
    moved = grating_shift(out_i[-1], WAVELENGTH) - grating_shift(out_i[0], WAVELENGTH)
    assert moved == pytest.approx(d[-1] + 0.5 * ALPHA * b[-1], rel=0.2)


def test_temporal_sinusoid_amplified_static_pattern_not():
    """A grating whose contrast oscillates at omega: after the transient the oscillation comes
    out multiplied by |1 + alpha_eff H(omega)| (H: the band-pass's response, alpha_eff = alpha
    on this grating's levels); the static part of the frame (DC in time) is not amplified."""
    T, omega = 150, 2 * np.pi / 12
    static = grating(SHAPE, WAVELENGTH, 0.0, amplitude=0.2)                 # (H, W)
    pattern = grating(SHAPE, WAVELENGTH, 0.0, amplitude=1.0) - 0.5          # (H, W)
    wave = np.sin(omega * np.arange(T))                                     # (T,)
    frames = (static + 0.02 * wave[:, None, None] * pattern).astype(np.float32)  # (T, H, W)
    out = magnify_float(frames, alpha=ALPHA)
    inner = (slice(None), slice(SHAPE[1] // 4, 3 * SHAPE[1] // 4))
    steady = slice(T - 48, T)  # four periods, after 0.95^100 < 1 % of the transient is left
    coef_in = np.array([np.sum((f - static)[inner] * pattern[inner]) for f in frames[steady]])
    coef_out = np.array([np.sum((f - static)[inner] * pattern[inner]) for f in out[steady]])
    gain = np.sqrt(np.mean(coef_out ** 2) / np.mean(coef_in ** 2))
    assert gain > 5
    assert gain == pytest.approx(abs(1 + ALPHA * band_response(omega)), rel=0.1)
    # Averaged over whole periods the oscillation cancels: the static grating comes back.
    assert np.abs(out[steady].mean(axis=0) - static)[inner].max() < 0.005
