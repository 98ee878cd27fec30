"""The one module that owns the spatial conventions (see docs/conventions.md).

World directions follow STARSS: azimuth counter-clockwise positive (+90° = left), elevation up positive, unit
vector x = cos θ cos φ (front), y = cos θ sin φ (left), z = sin θ (up).

A view looks at (view_azimuth_deg, view_elevation_deg) in that same convention. Its camera frame has the axes
(forward, left, up); `view_rotation` maps world vectors into it, so the same 3×3 matrix rotates directions,
the first-order FOA components (X, Y, Z) and the perspective remap.

Pixels are continuous coordinates with the origin at the top-left corner of the image: pixel index i covers
[i, i + 1) and has its centre at i + 0.5; x grows to the right, y grows downwards.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "angles_to_unit",
    "unit_to_angles",
    "wrap_azimuth_deg",
    "view_rotation",
    "to_view_frame",
    "relative_angles_deg",
    "vertical_fov_deg",
    "pinhole_project",
    "pinhole_unproject",
    "equirect_pixel",
    "equirect_angles",
]


def angles_to_unit(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors (..., 3) in (front, left, up) for STARSS azimuth/elevation in degrees (broadcast)."""
    phi = np.deg2rad(np.asarray(azimuth_deg, dtype=np.float64))
    theta = np.deg2rad(np.asarray(elevation_deg, dtype=np.float64))
    phi, theta = np.broadcast_arrays(phi, theta)
    cos_theta = np.cos(theta)
    return np.stack([cos_theta * np.cos(phi), cos_theta * np.sin(phi), np.sin(theta)], axis=-1)


def unit_to_angles(vectors) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth_deg in [-180, 180], elevation_deg in [-90, 90]) of vectors (..., 3); need not be normalised."""
    v = np.asarray(vectors, dtype=np.float64)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    azimuth_deg = np.rad2deg(np.arctan2(y, x))
    elevation_deg = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return azimuth_deg, elevation_deg


def wrap_azimuth_deg(azimuth_deg) -> np.ndarray:
    """Wrap azimuths to [-180, 180)."""
    return (np.asarray(azimuth_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0


def view_rotation(view_azimuth_deg: float, view_elevation_deg: float = 0.0) -> np.ndarray:
    """3×3 matrix whose rows are the view's forward, left and up axes in world coordinates.

    `view_rotation(φ0, θ0) @ d` gives d in camera coordinates (d_f, d_l, d_u). The camera turns by φ0 about the
    world's up axis, then tilts by θ0 about its own left axis; it never rolls, so its left axis stays horizontal.
    """
    phi0 = np.deg2rad(float(view_azimuth_deg))
    theta0 = np.deg2rad(float(view_elevation_deg))
    cp, sp, ct, st = np.cos(phi0), np.sin(phi0), np.cos(theta0), np.sin(theta0)
    forward = [ct * cp, ct * sp, st]
    left = [-sp, cp, 0.0]
    up = [-st * cp, -st * sp, ct]
    return np.array([forward, left, up], dtype=np.float64)


def to_view_frame(vectors, view_azimuth_deg: float, view_elevation_deg: float = 0.0) -> np.ndarray:
    """World vectors (..., 3) expressed in the view's camera frame (forward, left, up)."""
    rotation = view_rotation(view_azimuth_deg, view_elevation_deg)
    return np.asarray(vectors, dtype=np.float64) @ rotation.T


def relative_angles_deg(azimuth_deg, elevation_deg, view_azimuth_deg: float, view_elevation_deg: float = 0.0):
    """Directions relative to a view: (azimuth_deg, elevation_deg), 0 = view centre, + = left / up."""
    camera = to_view_frame(angles_to_unit(azimuth_deg, elevation_deg), view_azimuth_deg, view_elevation_deg)
    return unit_to_angles(camera)


def vertical_fov_deg(h_fov_deg: float, width_px: float, height_px: float) -> float:
    """Vertical field of view of a pinhole camera with square pixels: 2·atan(tan(h_fov/2)·H/W)."""
    return float(np.rad2deg(2.0 * np.arctan(np.tan(np.deg2rad(h_fov_deg) / 2.0) * height_px / width_px)))


def pinhole_project(camera_vectors, h_fov_deg: float, v_fov_deg: float, width_px: float, height_px: float):
    """Project camera-frame vectors (..., 3) to pixels of a W×H perspective image.

    Returns (x_px, y_px, onscreen). A direction is onscreen iff d_f > 0, |d_l/d_f| ≤ tan(h_fov/2) and
    |d_u/d_f| ≤ tan(v_fov/2); x_px/y_px are NaN where d_f ≤ 0 and are computed (possibly off the image)
    elsewhere.
    """
    v = np.asarray(camera_vectors, dtype=np.float64)
    d_f, d_l, d_u = v[..., 0], v[..., 1], v[..., 2]
    tan_h = np.tan(np.deg2rad(h_fov_deg) / 2.0)
    tan_v = np.tan(np.deg2rad(v_fov_deg) / 2.0)
    in_front = d_f > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_l = np.where(in_front, d_l / np.where(in_front, d_f, 1.0), np.nan)
        ratio_u = np.where(in_front, d_u / np.where(in_front, d_f, 1.0), np.nan)
    # A tiny tolerance keeps a direction exactly on the border onscreen despite rounding in the rotation.
    eps = 1e-12
    onscreen = in_front & (np.abs(ratio_l) <= tan_h + eps) & (np.abs(ratio_u) <= tan_v + eps)
    x_px = width_px / 2.0 - ratio_l * (width_px / 2.0) / tan_h
    y_px = height_px / 2.0 - ratio_u * (height_px / 2.0) / tan_v
    return x_px, y_px, onscreen


def pinhole_unproject(x_px, y_px, h_fov_deg: float, v_fov_deg: float, width_px: float, height_px: float):
    """Camera-frame unit vectors (..., 3) of pixels: the inverse of `pinhole_project` for onscreen points."""
    tan_h = np.tan(np.deg2rad(h_fov_deg) / 2.0)
    tan_v = np.tan(np.deg2rad(v_fov_deg) / 2.0)
    ratio_l = (width_px / 2.0 - np.asarray(x_px, dtype=np.float64)) * tan_h / (width_px / 2.0)
    ratio_u = (height_px / 2.0 - np.asarray(y_px, dtype=np.float64)) * tan_v / (height_px / 2.0)
    ratio_l, ratio_u = np.broadcast_arrays(ratio_l, ratio_u)
    v = np.stack([np.ones_like(ratio_l), ratio_l, ratio_u], axis=-1)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def equirect_pixel(azimuth_deg, elevation_deg, width_px: float, height_px: float):
    """Pixel (x_px, y_px) of a direction in an equirectangular frame: x = (0.5 − φ/360)·W, y = (0.5 − θ/180)·H.

    Positive azimuth lies in the left half. Azimuths are wrapped so that x is in [0, W).
    """
    azimuth = wrap_azimuth_deg(azimuth_deg)
    x_px = (0.5 - azimuth / 360.0) * width_px
    x_px = np.where(x_px >= width_px, x_px - width_px, x_px)
    y_px = (0.5 - np.asarray(elevation_deg, dtype=np.float64) / 180.0) * height_px
    return x_px, y_px


def equirect_angles(x_px, y_px, width_px: float, height_px: float):
    """(azimuth_deg, elevation_deg) of equirectangular pixels: the inverse of `equirect_pixel`."""
    azimuth_deg = wrap_azimuth_deg((0.5 - np.asarray(x_px, dtype=np.float64) / width_px) * 360.0)
    elevation_deg = (0.5 - np.asarray(y_px, dtype=np.float64) / height_px) * 180.0
    return azimuth_deg, elevation_deg
