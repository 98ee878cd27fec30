"""Spatial conventions: directions, view rotation, pinhole projection (docs/conventions.md, checked numerically)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.geometry import (
    angles_to_unit,
    equirect_angles,
    equirect_pixel,
    pinhole_project,
    pinhole_unproject,
    relative_angles_deg,
    to_view_frame,
    unit_to_angles,
    vertical_fov_deg,
    view_rotation,
    wrap_azimuth_deg,
)

H_FOV = 100.0
W_PX, H_PX = 256, 144
V_FOV = vertical_fov_deg(H_FOV, W_PX, H_PX)

azimuths = st.floats(-180.0, 180.0, allow_nan=False)
elevations = st.floats(-89.0, 89.0, allow_nan=False)
view_elevations = st.floats(-60.0, 60.0, allow_nan=False)


def test_unit_vector_convention():
    np.testing.assert_allclose(angles_to_unit(0, 0), [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(angles_to_unit(90, 0), [0, 1, 0], atol=1e-15)  # +90° = left
    np.testing.assert_allclose(angles_to_unit(0, 90), [0, 0, 1], atol=1e-15)  # up
    np.testing.assert_allclose(angles_to_unit(-90, 0), [0, -1, 0], atol=1e-15)


def test_vertical_fov_of_the_savgbench_recipe():
    assert V_FOV == pytest.approx(67.67, abs=0.01)


@settings(max_examples=200, deadline=None)
@given(azimuths, elevations)
def test_angles_unit_round_trip(azimuth_deg, elevation_deg):
    back_az, back_el = unit_to_angles(angles_to_unit(azimuth_deg, elevation_deg))
    assert back_el == pytest.approx(elevation_deg, abs=1e-9)
    assert wrap_azimuth_deg(back_az - azimuth_deg + 1e-9) == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(azimuths, view_elevations)
def test_view_rotation_is_a_proper_rotation(view_azimuth_deg, view_elevation_deg):
    rotation = view_rotation(view_azimuth_deg, view_elevation_deg)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    # The view's own direction becomes the front; its left axis stays horizontal (no roll).
    np.testing.assert_allclose(
        to_view_frame(angles_to_unit(view_azimuth_deg, view_elevation_deg), view_azimuth_deg, view_elevation_deg),
        [1, 0, 0], atol=1e-12,
    )
    assert rotation[1, 2] == 0.0


@settings(max_examples=200, deadline=None)
@given(azimuths, st.floats(-60, 60), azimuths)
def test_relative_azimuth_at_zero_view_elevation_is_a_difference(azimuth_deg, elevation_deg, view_azimuth_deg):
    rel_az, rel_el = relative_angles_deg(azimuth_deg, elevation_deg, view_azimuth_deg, 0.0)
    assert rel_el == pytest.approx(elevation_deg, abs=1e-9)
    assert wrap_azimuth_deg(rel_az - (azimuth_deg - view_azimuth_deg) + 1e-9) == pytest.approx(0.0, abs=1e-6)


def test_sign_checks_for_a_source_at_plus_30():
    # A source at +30° is left of centre in a view at 0°, and at the centre pixel of a view at +30°.
    x_px, y_px, onscreen = pinhole_project(to_view_frame(angles_to_unit(30, 0), 0, 0), H_FOV, V_FOV, W_PX, H_PX)
    assert onscreen and x_px < W_PX / 2 and y_px == pytest.approx(H_PX / 2)
    x_px, y_px, onscreen = pinhole_project(to_view_frame(angles_to_unit(30, 0), 30, 0), H_FOV, V_FOV, W_PX, H_PX)
    assert onscreen and x_px == pytest.approx(W_PX / 2) and y_px == pytest.approx(H_PX / 2)
    # Up is up: a source above the view centre has a smaller y.
    _, y_px, _ = pinhole_project(to_view_frame(angles_to_unit(0, 10), 0, 0), H_FOV, V_FOV, W_PX, H_PX)
    assert y_px < H_PX / 2


def test_onscreen_edges_and_corners_use_the_pinhole_not_raw_angles():
    tan_h = np.tan(np.deg2rad(H_FOV / 2))
    # Exactly on the left edge → x = 0, onscreen; just beyond → offscreen.
    edge = np.array([1.0, tan_h, 0.0])
    x_px, _, onscreen = pinhole_project(edge, H_FOV, V_FOV, W_PX, H_PX)
    assert onscreen and x_px == pytest.approx(0.0, abs=1e-9)
    assert not pinhole_project(np.array([1.0, tan_h * 1.001, 0.0]), H_FOV, V_FOV, W_PX, H_PX)[2]
    # Relative azimuth 45°, elevation 30°: both raw angles are inside the fields of view (50°, 33.8°) but the
    # direction is above the image's top edge (tan 30° / cos 45° > tan 33.8°).
    corner = angles_to_unit(45, 30)
    assert not pinhole_project(corner, H_FOV, V_FOV, W_PX, H_PX)[2]
    # Behind the camera is never onscreen, even when the ratios look small.
    assert not pinhole_project(np.array([-1.0, 0.1, 0.1]), H_FOV, V_FOV, W_PX, H_PX)[2]


@settings(max_examples=300, deadline=None)
@given(st.floats(0, W_PX), st.floats(0, H_PX))
def test_unproject_then_project_is_identity(x_px, y_px):
    camera = pinhole_unproject(x_px, y_px, H_FOV, V_FOV, W_PX, H_PX)
    back_x, back_y, onscreen = pinhole_project(camera, H_FOV, V_FOV, W_PX, H_PX)
    assert onscreen
    assert back_x == pytest.approx(x_px, abs=1e-9)
    assert back_y == pytest.approx(y_px, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(azimuths, elevations, azimuths, view_elevations)
def test_project_then_unproject_recovers_the_direction(azimuth_deg, elevation_deg, view_az, view_el):
    camera = to_view_frame(angles_to_unit(azimuth_deg, elevation_deg), view_az, view_el)
    x_px, y_px, onscreen = pinhole_project(camera, H_FOV, V_FOV, W_PX, H_PX)
    if not onscreen:
        return
    back = pinhole_unproject(x_px, y_px, H_FOV, V_FOV, W_PX, H_PX) @ view_rotation(view_az, view_el)
    np.testing.assert_allclose(back, angles_to_unit(azimuth_deg, elevation_deg), atol=1e-9)


def test_equirect_pixel_convention():
    # Frame centre is (0, 0); positive azimuth lies in the left half; up is the top.
    assert equirect_pixel(0, 0, 1920, 960) == pytest.approx((960, 480))
    x_px, _ = equirect_pixel(90, 0, 1920, 960)
    assert x_px == pytest.approx(480)
    x_px, y_px = equirect_pixel(-90, 45, 1920, 960)
    assert (x_px, y_px) == pytest.approx((1440, 240))
    assert equirect_pixel(180, 0, 1920, 960)[0] == pytest.approx(0)
    assert equirect_pixel(-180, 0, 1920, 960)[0] == pytest.approx(0)


@settings(max_examples=200, deadline=None)
@given(azimuths, elevations)
def test_equirect_round_trip(azimuth_deg, elevation_deg):
    x_px, y_px = equirect_pixel(azimuth_deg, elevation_deg, 1920, 960)
    assert 0 <= x_px < 1920
    back_az, back_el = equirect_angles(x_px, y_px, 1920, 960)
    assert back_el == pytest.approx(elevation_deg, abs=1e-9)
    assert wrap_azimuth_deg(back_az - azimuth_deg + 1e-9) == pytest.approx(0.0, abs=1e-6)
