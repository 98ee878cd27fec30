"""FOA conventions: encoding, rotation to a view (checked against spaudiopy), mid-side stereo, filters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.foa import (
    W, X, Y, Z,
    encode_plane_wave,
    foa_to_view_stereo,
    highpass,
    intensity_direction_deg,
    mid_side_stereo,
    prepare_foa,
    resample,
    rotate_foa,
    stereo_weights,
)
from curation.geometry import relative_angles_deg

azimuths = st.floats(-180.0, 180.0, allow_nan=False)
elevations = st.floats(-80.0, 80.0, allow_nan=False)


def test_plane_wave_encoding_matches_sn3d_acn():
    foa = encode_plane_wave(np.ones(1), 30.0, 20.0)[0]
    phi, theta = np.deg2rad(30.0), np.deg2rad(20.0)
    np.testing.assert_allclose(
        foa[[W, Y, Z, X]], [1, np.sin(phi) * np.cos(theta), np.sin(theta), np.cos(phi) * np.cos(theta)]
    )
    assert (W, Y, Z, X) == (0, 1, 2, 3)


@settings(max_examples=100, deadline=None)
@given(azimuths, elevations, azimuths, st.floats(-60, 60))
def test_rotate_then_unrotate_is_identity(azimuth_deg, elevation_deg, view_az, view_el):
    rng = np.random.default_rng(0)
    foa = encode_plane_wave(rng.standard_normal(64), azimuth_deg, elevation_deg) + 0.1 * rng.standard_normal((64, 4))
    back = rotate_foa(rotate_foa(foa, view_az, view_el), view_az, view_el, inverse=True)
    np.testing.assert_allclose(back, foa, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(azimuths, elevations, azimuths, st.floats(-60, 60))
def test_rotated_plane_wave_is_the_plane_wave_at_the_relative_direction(azimuth_deg, elevation_deg, view_az, view_el):
    signal = np.linspace(-1, 1, 16)
    rotated = rotate_foa(encode_plane_wave(signal, azimuth_deg, elevation_deg), view_az, view_el)
    rel_az, rel_el = relative_angles_deg(azimuth_deg, elevation_deg, view_az, view_el)
    np.testing.assert_allclose(rotated, encode_plane_wave(signal, rel_az, rel_el), atol=1e-12)
    if view_el == 0:
        # The closed form of docs/conventions.md ("Rotating the FOA to a view"): an event at φ then sits at φ − φ0.
        np.testing.assert_allclose(
            rotated, encode_plane_wave(signal, azimuth_deg - view_az, elevation_deg), atol=1e-12
        )


def test_closed_form_of_the_yaw_rotation():
    rng = np.random.default_rng(1)
    foa = rng.standard_normal((10, 4))
    phi0 = np.deg2rad(37.0)
    rotated = rotate_foa(foa, 37.0, 0.0)
    np.testing.assert_allclose(rotated[:, W], foa[:, W])
    np.testing.assert_allclose(rotated[:, Z], foa[:, Z])
    np.testing.assert_allclose(rotated[:, X], foa[:, X] * np.cos(phi0) + foa[:, Y] * np.sin(phi0))
    np.testing.assert_allclose(rotated[:, Y], -foa[:, X] * np.sin(phi0) + foa[:, Y] * np.cos(phi0))


@pytest.mark.parametrize("view_az, view_el", [(30.0, 0.0), (-120.0, 0.0), (200.0, 0.0), (45.0, 20.0), (-80.0, -35.0)])
def test_rotation_agrees_with_spaudiopy(view_az, view_el):
    """spaudiopy's rotate_sh: positive yaw moves sources clockwise; one call applies pitch before yaw, so we call it
    twice (yaw, then pitch); its pitch sign is opposite to our elevation (measured: −θ0 matches, +θ0 does not)."""
    from spaudiopy import sph

    rng = np.random.default_rng(2)
    foa = rng.standard_normal((32, 4))
    theirs = sph.rotate_sh(foa, np.deg2rad(view_az), 0.0, 0.0, "real")
    if view_el:
        theirs = sph.rotate_sh(theirs, 0.0, -np.deg2rad(view_el), 0.0, "real")
    np.testing.assert_allclose(rotate_foa(foa, view_az, view_el), theirs, atol=1e-10)


def test_source_at_plus_30_is_louder_in_left():
    rng = np.random.default_rng(3)
    foa = encode_plane_wave(rng.standard_normal(4800), 30.0, 0.0)
    stereo = mid_side_stereo(rotate_foa(foa, 0.0))
    left_db = 10 * np.log10(np.mean(stereo[:, 0] ** 2))
    right_db = 10 * np.log10(np.mean(stereo[:, 1] ** 2))
    # Cardioids at ±90°: gains 1 ± sin 30° = 1.5 and 0.5, i.e. 9.54 dB apart.
    assert left_db - right_db == pytest.approx(20 * np.log10(3), abs=1e-6)
    # In a view at +30° it is at the centre: equal in both channels.
    centred = mid_side_stereo(rotate_foa(foa, 30.0))
    np.testing.assert_allclose(centred[:, 0], centred[:, 1], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(azimuths, elevations, azimuths, st.floats(-45, 45))
def test_stereo_weights_equal_rotation_then_mid_side(azimuth_deg, elevation_deg, view_az, view_el):
    rng = np.random.default_rng(4)
    foa = encode_plane_wave(rng.standard_normal(32), azimuth_deg, elevation_deg)
    np.testing.assert_allclose(
        foa @ stereo_weights(view_az, view_el), mid_side_stereo(rotate_foa(foa, view_az, view_el)), atol=1e-12
    )


def test_highpass_removes_low_frequencies_and_keeps_high_ones():
    rate = 24000
    t = np.arange(rate) / rate
    low = np.sin(2 * np.pi * 10 * t)
    high = np.sin(2 * np.pi * 1000 * t)
    out_low = highpass(low, rate, 50.0)[rate // 2 :]
    out_high = highpass(high, rate, 50.0)[rate // 2 :]
    assert np.sqrt(np.mean(out_low**2)) < 0.01
    assert np.sqrt(np.mean(out_high**2)) == pytest.approx(np.sqrt(0.5), rel=0.01)


def test_resample_24k_to_16k_keeps_length_and_tone():
    rate = 24000
    t = np.arange(5 * rate) / rate
    tone = np.sin(2 * np.pi * 440 * t)
    out = resample(np.stack([tone, -tone], axis=1), 24000, 16000)
    assert out.shape == (80000, 2)
    expected = np.sin(2 * np.pi * 440 * np.arange(80000) / 16000)
    np.testing.assert_allclose(out[1000:-1000, 0], expected[1000:-1000], atol=1e-3)


def test_full_chain_gain_and_sign():
    rng = np.random.default_rng(5)
    rate = 24000
    src = 1e-3 * rng.standard_normal(5 * rate)
    foa = encode_plane_wave(src, 60.0, 0.0)
    stereo = foa_to_view_stereo(foa, rate, 0.0, out_rate_hz=16000, highpass_hz=50.0, gain_db=38.0)
    assert stereo.shape == (80000, 2)
    # Left louder; the two channels' sum equals the gained, filtered W (mid) doubled.
    assert np.mean(stereo[:, 0] ** 2) > 4 * np.mean(stereo[:, 1] ** 2)
    prepared = prepare_foa(foa, rate, 16000, 50.0, 38.0)
    np.testing.assert_allclose(stereo.sum(axis=1), 2 * prepared[:, W], atol=1e-12)
    # White noise at 24 kHz keeps 8 of its 12 kHz of bandwidth at 16 kHz.
    expected_rms = 1e-3 * 10 ** (38 / 20) * np.sqrt(8 / 12)
    assert np.sqrt(np.mean(prepared[8000:, W] ** 2)) == pytest.approx(expected_rms, rel=0.03)


def test_without_a_highpass_the_chain_keeps_low_frequencies_and_dc():
    # `highpass_hz: null`: only gain and resampling, so a 10 Hz tone and a DC offset reach the output unchanged.
    rate = 24000
    t = np.arange(2 * rate) / rate
    foa = encode_plane_wave(0.01 * np.sin(2 * np.pi * 10 * t) + 0.005, 0.0, 0.0)
    prepared = prepare_foa(foa, rate, 16000, None, 20.0)
    expected = 10 * (0.01 * np.sin(2 * np.pi * 10 * np.arange(2 * 16000) / 16000) + 0.005)
    np.testing.assert_allclose(prepared[2000:-2000, W], expected[2000:-2000], atol=1e-4)
    filtered = prepare_foa(foa, rate, 16000, 50.0, 20.0)
    assert np.sqrt(np.mean(filtered[16000:, W] ** 2)) < 0.01 * np.sqrt(np.mean(expected[16000:] ** 2))
    np.testing.assert_array_equal(highpass(foa, rate, None), foa)


@settings(max_examples=40, deadline=None)
@given(azimuths, elevations)
def test_intensity_direction_of_a_plane_wave_is_its_direction(azimuth_deg, elevation_deg):
    noise = np.random.default_rng(3).standard_normal(4000)
    found = intensity_direction_deg(encode_plane_wave(noise, azimuth_deg, elevation_deg))
    assert found[1] == pytest.approx(elevation_deg, abs=1e-6)
    assert (found[0] - azimuth_deg + 180) % 360 - 180 == pytest.approx(0, abs=1e-6)
