"""The training-free mid-side localiser: a plane wave encoded with `curation.foa` at a known direction, decoded to
the view's stereo with `stereo_weights`, comes out at the pinhole x of its relative azimuth; activity follows the
sound; the louder of two sources wins; and the front/back ambiguity of mid-side stereo is what it is."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.foa import encode_plane_wave, stereo_weights
from curation.geometry import angles_to_unit, pinhole_project, vertical_fov_deg
from curation.metric.localize import localize_mid_side, sin_azimuth_to_x_px

RATE_HZ = 16000
H_FOV_DEG = 100.0
V_FOV_DEG = vertical_fov_deg(H_FOV_DEG, 256, 144)


def pinhole_x_px(relative_azimuth_deg: float) -> float:
    x_px, _, onscreen = pinhole_project(angles_to_unit(relative_azimuth_deg, 0.0), H_FOV_DEG, V_FOV_DEG, 256, 144)
    assert onscreen
    return float(x_px)


def band_noise(rng, n_samples: int, low_hz: float, high_hz: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    freqs_hz = np.fft.rfftfreq(n_samples, 1 / RATE_HZ)
    spectrum[(freqs_hz < low_hz) | (freqs_hz > high_hz)] = 0
    signal = np.fft.irfft(spectrum, n_samples)
    return signal / signal.std()


def view_stereo(sources, view_azimuth_deg: float, n_samples: int, rng, noise_rms: float = 1e-4) -> np.ndarray:
    """Stereo of plane waves [(mono signal, world azimuth_deg)] for a view, plus uncorrelated noise in each channel."""
    foa = sum(encode_plane_wave(signal, azimuth_deg, 0.0) for signal, azimuth_deg in sources)
    return foa @ stereo_weights(view_azimuth_deg) + noise_rms * rng.standard_normal((n_samples, 2))


def localize(stereo):
    return localize_mid_side(stereo, RATE_HZ, h_fov_deg=H_FOV_DEG, content_width_px=256, content_height_px=144)


@settings(max_examples=40, deadline=None)
@given(relative_azimuth_deg=st.floats(-49.0, 49.0), view_azimuth_deg=st.floats(-180.0, 179.0),
       seed=st.integers(0, 2**16))
def test_a_plane_wave_is_localised_at_the_pinhole_x_of_its_relative_azimuth(relative_azimuth_deg,
                                                                            view_azimuth_deg, seed):
    rng = np.random.default_rng(seed)
    n_samples = RATE_HZ  # 1 s: 10 label frames
    source = 0.05 * band_noise(rng, n_samples, 200.0, 6000.0)
    stereo = view_stereo([(source, view_azimuth_deg + relative_azimuth_deg)], view_azimuth_deg, n_samples, rng)
    result = localize(stereo)
    assert result.active.all()
    np.testing.assert_allclose(result.x_px, pinhole_x_px(relative_azimuth_deg), atol=2.0)
    np.testing.assert_allclose(result.sin_azimuth, np.sin(np.deg2rad(relative_azimuth_deg)), atol=0.01)


def test_sine_to_pixel_follows_the_pinhole_convention():
    assert sin_azimuth_to_x_px(0.0, H_FOV_DEG, 256, 144) == pytest.approx(128.0)
    # +50° (left edge of a 100° view) is x = 0, −50° is x = 256; + = left.
    assert sin_azimuth_to_x_px(np.sin(np.deg2rad(50)), H_FOV_DEG, 256, 144) == pytest.approx(0.0, abs=1e-9)
    assert sin_azimuth_to_x_px(-np.sin(np.deg2rad(50)), H_FOV_DEG, 256, 144) == pytest.approx(256.0)
    # x = W/2 − tan φ·(W/2)/tan(h_fov/2)
    expected = 128 - np.tan(np.deg2rad(20)) * 128 / np.tan(np.deg2rad(50))
    assert sin_azimuth_to_x_px(np.sin(np.deg2rad(20)), H_FOV_DEG, 256, 144) == pytest.approx(expected)
    # Beyond the picture the pixel is off it, far off towards ±90°.
    assert sin_azimuth_to_x_px(np.sin(np.deg2rad(70)), H_FOV_DEG, 256, 144) < 0
    assert sin_azimuth_to_x_px(-1.0, H_FOV_DEG, 256, 144) > 1e6


def test_activity_follows_the_sound():
    rng = np.random.default_rng(1)
    n_samples = 2 * RATE_HZ
    source = 0.05 * band_noise(rng, n_samples, 300.0, 3000.0)
    gate = np.zeros(n_samples)
    gate[int(0.5 * RATE_HZ) : int(1.3 * RATE_HZ)] = 1.0  # label frames 5..12
    stereo = view_stereo([(source * gate, 20.0)], 0.0, n_samples, rng, noise_rms=1e-5)
    result = localize(stereo)
    assert np.flatnonzero(result.active).tolist() == list(range(5, 13))
    np.testing.assert_allclose(result.x_px[result.active], pinhole_x_px(20.0), atol=2.0)


def test_silence_is_inactive():
    result = localize(np.zeros((RATE_HZ, 2)))
    assert result.active.shape == (10,) and not result.active.any()


def test_the_louder_of_two_sources_in_different_bands_wins_and_is_not_averaged():
    rng = np.random.default_rng(2)
    n_samples = RATE_HZ
    loud = 0.05 * band_noise(rng, n_samples, 300.0, 1500.0)
    quiet = 0.015 * band_noise(rng, n_samples, 2000.0, 6000.0)  # about 10 dB lower
    stereo = view_stereo([(loud, -30.0), (quiet, 35.0)], 0.0, n_samples, rng)
    result = localize(stereo)
    np.testing.assert_allclose(result.x_px, pinhole_x_px(-30.0), atol=3.0)


def test_mid_side_cannot_tell_front_from_back():
    # A source behind at 180° − φ gives the same stereo as one in front at φ: the estimate is the front one.
    rng = np.random.default_rng(3)
    source = 0.05 * band_noise(rng, RATE_HZ, 300.0, 3000.0)
    front = localize(view_stereo([(source, 30.0)], 0.0, RATE_HZ, rng))
    back = localize(view_stereo([(source, 150.0)], 0.0, RATE_HZ, rng))
    np.testing.assert_allclose(back.x_px, front.x_px, atol=1.0)


def test_swapping_the_channels_mirrors_the_estimate():
    rng = np.random.default_rng(4)
    source = 0.05 * band_noise(rng, RATE_HZ, 300.0, 3000.0)
    stereo = view_stereo([(source, 25.0)], 0.0, RATE_HZ, rng)
    np.testing.assert_allclose(localize(stereo[:, ::-1]).x_px, 256 - localize(stereo).x_px, atol=1.0)


def test_not_stereo_is_refused():
    with pytest.raises(ValueError, match=r"expected stereo samples of shape \(n, 2\)"):
        localize(np.zeros((RATE_HZ, 4)))
