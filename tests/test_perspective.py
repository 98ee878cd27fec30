"""Equirectangular → perspective remap: markers land where the pinhole formula says, and ffmpeg's v360 agrees."""

import subprocess

import numpy as np
import pytest

from curation.geometry import angles_to_unit, equirect_angles, pinhole_project, to_view_frame, vertical_fov_deg
from curation.media import ffmpeg_exe
from curation.perspective import (
    letterbox,
    letterbox_offset_px,
    perspective_map,
    render_view,
    source_sample_coordinates,
)

EQ_W, EQ_H = 1920, 960
W_PX, H_PX = 256, 144
H_FOV = 100.0
V_FOV = vertical_fov_deg(H_FOV, W_PX, H_PX)


def marker_frame(azimuth_deg: float, elevation_deg: float, radius_deg: float = 1.5) -> np.ndarray:
    """Equirect RGB frame, black but for a white spherical cap of `radius_deg` around the direction."""
    xs = np.arange(EQ_W) + 0.5
    ys = np.arange(EQ_H) + 0.5
    az, el = equirect_angles(xs[None, :], ys[:, None], EQ_W, EQ_H)
    cos_dist = angles_to_unit(az, el) @ angles_to_unit(azimuth_deg, elevation_deg)
    cap = (cos_dist >= np.cos(np.deg2rad(radius_deg))).astype(np.uint8) * 255
    return np.repeat(cap[:, :, None], 3, axis=2)


def centroid_px(image: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted centroid in continuous pixel coordinates (pixel i centred at i + 0.5)."""
    weight = image[..., 0].astype(np.float64)
    assert weight.sum() > 0, "marker not visible"
    ys, xs = np.indices(weight.shape)
    return (float((weight * (xs + 0.5)).sum() / weight.sum()), float((weight * (ys + 0.5)).sum() / weight.sum()))


def v360(frame: np.ndarray, view_az: float, view_el: float) -> np.ndarray:
    """ffmpeg's v360 crop with the docs/conventions.md mapping: yaw = −view_azimuth, pitch = +view_elevation."""
    vf = (
        f"v360=input=e:output=flat:h_fov={H_FOV}:v_fov={V_FOV}:yaw={-view_az}:pitch={view_el}"
        f":w={W_PX}:h={H_PX}:interp=linear"
    )
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{EQ_W}x{EQ_H}", "-i", "pipe:0", "-vf", vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
        input=frame.tobytes(), capture_output=True, check=True,
    ).stdout
    return np.frombuffer(out, dtype=np.uint8).reshape(H_PX, W_PX, 3)


CASES = [
    # (marker azimuth, marker elevation, view azimuth, view elevation)
    (30.0, 0.0, 0.0, 0.0),
    (-35.0, 12.0, 0.0, 0.0),
    (175.0, -10.0, -170.0, 0.0),  # across the ±180° seam
    (100.0, 20.0, 130.0, 0.0),
    (40.0, 35.0, 20.0, 25.0),  # tilted view
    (-60.0, -40.0, -80.0, -30.0),
]


@pytest.mark.parametrize("marker_az, marker_el, view_az, view_el", CASES)
def test_marker_lands_at_the_projected_pixel(marker_az, marker_el, view_az, view_el):
    frame = marker_frame(marker_az, marker_el)
    pmap = perspective_map(EQ_W, EQ_H, view_az, view_el, H_FOV, V_FOV, W_PX, H_PX)
    crop = render_view(frame, pmap)
    expected_x, expected_y, onscreen = pinhole_project(
        to_view_frame(angles_to_unit(marker_az, marker_el), view_az, view_el), H_FOV, V_FOV, W_PX, H_PX
    )
    assert onscreen
    got_x, got_y = centroid_px(crop)
    assert got_x == pytest.approx(float(expected_x), abs=1.0)
    assert got_y == pytest.approx(float(expected_y), abs=1.0)


@pytest.mark.parametrize("marker_az, marker_el, view_az, view_el", CASES)
def test_remap_agrees_with_ffmpeg_v360(marker_az, marker_el, view_az, view_el):
    frame = marker_frame(marker_az, marker_el)
    ours = render_view(frame, perspective_map(EQ_W, EQ_H, view_az, view_el, H_FOV, V_FOV, W_PX, H_PX))
    theirs = v360(frame, view_az, view_el)
    ours_xy, theirs_xy = centroid_px(ours), centroid_px(theirs)
    assert ours_xy[0] == pytest.approx(theirs_xy[0], abs=1.0)
    assert ours_xy[1] == pytest.approx(theirs_xy[1], abs=1.0)


def test_remap_of_a_smooth_scene_agrees_with_v360_everywhere():
    """Not only a marker: a smooth colour field crops to the same image as v360 (small mean difference)."""
    ys, xs = np.mgrid[0:EQ_H, 0:EQ_W]
    frame = np.stack(
        [(xs * 255 // EQ_W), (ys * 255 // EQ_H), ((xs + ys) * 255 // (EQ_W + EQ_H))], axis=2
    ).astype(np.uint8)
    ours = render_view(frame, perspective_map(EQ_W, EQ_H, 40.0, 10.0, H_FOV, V_FOV, W_PX, H_PX)).astype(float)
    theirs = v360(frame, 40.0, 10.0).astype(float)
    assert np.mean(np.abs(ours - theirs)) < 1.5


@pytest.mark.parametrize(("view_az", "view_el"), [(0.0, 0.0), (183.0, 0.0), (-70.0, 25.0)])
def test_the_float_coordinates_with_scipy_give_the_fixed_point_remaps_picture(view_az, view_el):
    """`source_sample_coordinates` are the coordinates `perspective_map` quantises: bilinear interpolation through
    them with scipy (as the benchmark's generator-style run does) gives cv2's picture within rounding, across the
    360-degree seam too (a view at 183 degrees straddles it); a marker lands at the same pixel."""
    from scipy.ndimage import map_coordinates

    ys, xs = np.mgrid[0:EQ_H, 0:EQ_W]
    frame = (127.5 + 120 * np.sin(xs * 2 * np.pi / EQ_W * 7) * np.cos(ys * np.pi / EQ_H * 5)).astype(np.uint8)
    map_x, map_y = source_sample_coordinates(EQ_W, EQ_H, view_az, view_el, H_FOV, V_FOV, W_PX, H_PX)
    assert map_x.shape == map_y.shape == (H_PX, W_PX) and map_x.dtype == np.float32
    theirs = map_coordinates(frame, np.stack([map_y, map_x]), order=1, mode="grid-wrap")
    ours = render_view(frame, perspective_map(EQ_W, EQ_H, view_az, view_el, H_FOV, V_FOV, W_PX, H_PX))
    difference = np.abs(ours.astype(int) - theirs)
    assert difference.max() <= 3 and difference.mean() < 0.6
    marker = marker_frame(view_az + 20.0, view_el - 10.0)[..., 0]
    scipy_marker = map_coordinates(marker, np.stack([map_y, map_x]), order=1, mode="grid-wrap")
    cv2_marker = render_view(marker, perspective_map(EQ_W, EQ_H, view_az, view_el, H_FOV, V_FOV, W_PX, H_PX))
    expected = centroid_px(np.repeat(cv2_marker[..., None], 3, axis=2))
    assert centroid_px(np.repeat(scipy_marker[..., None], 3, axis=2)) == pytest.approx(expected, abs=0.1)


def test_letterbox_puts_content_between_56_px_bars():
    content = np.full((144, 256, 3), 200, dtype=np.uint8)
    framed = letterbox(content, 256, 256)
    assert framed.shape == (256, 256, 3)
    assert letterbox_offset_px(256, 144, 256, 256) == (0, 56)
    assert framed[:56].max() == 0 and framed[200:].max() == 0
    assert (framed[56:200] == 200).all()
    # Content that fills the frame is the frame: no bars, no copy.
    assert letterbox(content, 256, 144) is content
    with pytest.raises(ValueError, match="does not fit"):
        letterbox_offset_px(300, 144, 256, 256)
