"""Equirectangular → perspective crops with precomputed `cv2.remap` maps, and letterboxing.

A map depends only on (input size, view, field of view, output size): it is built once and then serves every
frame of a recording. Pixel conventions are those of `curation.geometry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from curation.geometry import (
    equirect_pixel,
    pinhole_unproject,
    unit_to_angles,
    view_rotation,
)

__all__ = ["PerspectiveMap", "perspective_map", "source_sample_coordinates", "render_view", "letterbox",
           "letterbox_offset_px"]


@dataclass(frozen=True)
class PerspectiveMap:
    """A fixed-point remap table from an equirectangular frame to one perspective view."""

    map_xy: np.ndarray  # int16 (H, W, 2): integer source coordinates
    map_frac: np.ndarray  # uint16 (H, W): interpolation table index
    width_px: int
    height_px: int


@lru_cache(maxsize=512)
def perspective_map(
    equirect_width_px: int,
    equirect_height_px: int,
    view_azimuth_deg: float,
    view_elevation_deg: float,
    h_fov_deg: float,
    v_fov_deg: float,
    width_px: int,
    height_px: int,
) -> PerspectiveMap:
    """Remap table for one view; cached because every frame of every window reuses it."""
    map_x, map_y = source_sample_coordinates(equirect_width_px, equirect_height_px, view_azimuth_deg,
                                             view_elevation_deg, h_fov_deg, v_fov_deg, width_px, height_px)
    map_xy, map_frac = cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)
    return PerspectiveMap(map_xy=map_xy, map_frac=map_frac, width_px=width_px, height_px=height_px)


def source_sample_coordinates(equirect_width_px: int, equirect_height_px: int, view_azimuth_deg: float,
                              view_elevation_deg: float, h_fov_deg: float, v_fov_deg: float, width_px: int,
                              height_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel of one view samples the equirectangular frame, as float32 sample indices (map_x, map_y),
    each (height_px, width_px): the pinhole ray through the pixel's centre, rotated to the view, as an equirect pixel.

    Sample k has its centre at continuous coordinate k + 0.5. Columns wrap around the 360° seam (the caller
    interpolates with wrap-around); rows are clamped so the poles never wrap to the opposite edge."""
    xs = np.arange(width_px, dtype=np.float64) + 0.5
    ys = np.arange(height_px, dtype=np.float64) + 0.5
    grid_x, grid_y = np.meshgrid(xs, ys)
    camera = pinhole_unproject(grid_x, grid_y, h_fov_deg, v_fov_deg, width_px, height_px)
    world = camera @ view_rotation(view_azimuth_deg, view_elevation_deg)
    azimuth_deg, elevation_deg = unit_to_angles(world)
    src_x, src_y = equirect_pixel(azimuth_deg, elevation_deg, equirect_width_px, equirect_height_px)
    map_x = (src_x - 0.5).astype(np.float32)
    map_y = np.clip(src_y - 0.5, 0.0, equirect_height_px - 1.0).astype(np.float32)
    return map_x, map_y


def render_view(equirect_frame: np.ndarray, pmap: PerspectiveMap) -> np.ndarray:
    """Perspective content (H, W, C) of one equirectangular frame through a precomputed map (bilinear)."""
    return cv2.remap(
        equirect_frame,
        pmap.map_xy,
        pmap.map_frac,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_WRAP,
    )


def letterbox_offset_px(content_width: int, content_height: int, frame_width: int, frame_height: int):
    """(left, top) offset of the content inside the output frame; black bars share the rest evenly."""
    if content_width > frame_width or content_height > frame_height:
        raise ValueError(
            f"content {content_width}x{content_height} does not fit in frame {frame_width}x{frame_height}"
        )
    return (frame_width - content_width) // 2, (frame_height - content_height) // 2


def letterbox(content: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """Centre `content` (H, W, C) in a black frame of frame_height × frame_width (256×144 → 56-px bars); `content`
    itself when it fills the frame (no copy)."""
    height, width = content.shape[:2]
    left, top = letterbox_offset_px(width, height, frame_width, frame_height)
    if (width, height) == (frame_width, frame_height):
        return content
    frame = np.zeros((frame_height, frame_width) + content.shape[2:], dtype=content.dtype)
    frame[top : top + height, left : left + width] = content
    return frame
