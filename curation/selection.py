"""From a recording's annotations to candidate (window, view) pairs and the SAVGBench selection rule.

Everything is vectorised over events × views, then reduced to per-frame flags and per-window counts, so a
9-minute recording with 36 views costs a few array operations, not a loop over clips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from curation.geometry import angles_to_unit, pinhole_project, unit_to_angles, view_rotation

__all__ = [
    "View",
    "EventTrack",
    "ViewProjection",
    "project_events",
    "window_starts",
    "onscreen_frame_flags",
    "window_counts",
    "select_windows",
    "Selection",
]


@dataclass(frozen=True)
class View:
    """A perspective view looking at (view_azimuth_deg, view_elevation_deg), STARSS convention."""

    view_azimuth_deg: float
    view_elevation_deg: float = 0.0


@dataclass(frozen=True)
class EventTrack:
    """A recording's annotated events as parallel arrays (one entry per annotation row)."""

    frame: np.ndarray  # int64, 100 ms label frame in the recording
    class_id: np.ndarray  # int64
    source_index: np.ndarray  # int64
    azimuth_deg: np.ndarray  # float64, world direction
    elevation_deg: np.ndarray  # float64

    @classmethod
    def from_rows(cls, rows: Iterable) -> "EventTrack":
        """From objects with frame, class_id, source_index, azimuth_deg and elevation_deg (e.g. AnnotationRow)."""
        rows = sorted(rows, key=lambda r: (r.frame, r.class_id, r.source_index))
        return cls(
            frame=np.array([r.frame for r in rows], dtype=np.int64),
            class_id=np.array([r.class_id for r in rows], dtype=np.int64),
            source_index=np.array([r.source_index for r in rows], dtype=np.int64),
            azimuth_deg=np.array([r.azimuth_deg for r in rows], dtype=np.float64),
            elevation_deg=np.array([r.elevation_deg for r in rows], dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.frame.shape[0])


@dataclass(frozen=True)
class ViewProjection:
    """Every event seen from every view: arrays of shape (n_views, n_events)."""

    relative_azimuth_deg: np.ndarray
    relative_elevation_deg: np.ndarray
    onscreen: np.ndarray  # bool
    x_px: np.ndarray  # NaN where offscreen
    y_px: np.ndarray


def project_events(
    track: EventTrack,
    views: Sequence[View],
    h_fov_deg: float,
    v_fov_deg: float,
    width_px: int,
    height_px: int,
) -> ViewProjection:
    """Relative directions, exact onscreen test and pixel positions of all events in all views."""
    rotations = np.stack([view_rotation(v.view_azimuth_deg, v.view_elevation_deg) for v in views])  # (V, 3, 3)
    world = angles_to_unit(track.azimuth_deg, track.elevation_deg)  # (E, 3)
    camera = np.einsum("vij,ej->vei", rotations, world)  # (V, E, 3)
    rel_az, rel_el = unit_to_angles(camera)
    x_px, y_px, onscreen = pinhole_project(camera, h_fov_deg, v_fov_deg, width_px, height_px)
    return ViewProjection(
        relative_azimuth_deg=rel_az,
        relative_elevation_deg=rel_el,
        onscreen=onscreen,
        x_px=np.where(onscreen, x_px, np.nan),
        y_px=np.where(onscreen, y_px, np.nan),
    )


def window_starts(n_frames: int, window_frames: int, hop_frames: int) -> np.ndarray:
    """Start frames of all windows lying wholly inside a recording of n_frames label frames (0, hop, 2·hop, …)."""
    if n_frames < window_frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_frames - window_frames + 1, hop_frames, dtype=np.int64)


def onscreen_frame_flags(
    track: EventTrack, projection: ViewProjection, class_map: Mapping[int, str], n_frames: int
) -> dict[str, np.ndarray]:
    """Per view and label frame, whether an onscreen event of interest is present.

    Returns {"any": (V, n_frames) bool, <target class>: (V, n_frames) bool for each target class}.
    Events beyond n_frames are ignored.
    """
    n_views = projection.onscreen.shape[0]
    in_range = track.frame < n_frames
    flags = {"any": np.zeros((n_views, n_frames), dtype=bool)}
    for target in sorted(set(class_map.values())):
        class_ids = [c for c, t in class_map.items() if t == target]
        mask = np.isin(track.class_id, class_ids) & in_range
        target_flags = np.zeros((n_views, n_frames), dtype=bool)
        view_idx, event_idx = np.nonzero(projection.onscreen[:, mask])
        target_flags[view_idx, track.frame[mask][event_idx]] = True
        flags[target] = target_flags
        flags["any"] |= target_flags
    return flags


def window_counts(frame_flags: np.ndarray, starts: np.ndarray, window_frames: int) -> np.ndarray:
    """(V, n_windows) number of flagged frames in each window, by cumulative sums."""
    cumulative = np.concatenate(
        [np.zeros((frame_flags.shape[0], 1), dtype=np.int64), np.cumsum(frame_flags, axis=1, dtype=np.int64)], axis=1
    )
    return cumulative[:, starts + window_frames] - cumulative[:, starts]


@dataclass(frozen=True)
class Selection:
    """The outcome of the selection rule for one recording."""

    starts: np.ndarray  # (n_windows,) start frames of all candidate windows
    counts: np.ndarray  # (V, n_windows) onscreen-of-interest frames per candidate
    qualifying: np.ndarray  # (V, n_windows) bool: count ≥ min_onscreen_frames
    kept: np.ndarray  # (V, n_windows) bool: qualifying and within the max_views_per_window best

    def kept_pairs(self) -> list[tuple[int, int]]:
        """(window index, view index) of the kept clips, ordered by window then view."""
        window_idx, view_idx = np.nonzero(self.kept.T)
        return list(zip(window_idx.tolist(), view_idx.tolist()))


def select_windows(counts: np.ndarray, starts: np.ndarray, min_onscreen_frames: int, max_views_per_window: int | None) -> Selection:
    """The SAVGBench rule: a (window, view) qualifies when at least min_onscreen_frames of its label frames have
    an onscreen event of interest; with max_views_per_window = k, keep the k qualifying views with the most such
    frames per window (ties: first in the recipe's view order)."""
    qualifying = counts >= min_onscreen_frames
    kept = qualifying.copy()
    if max_views_per_window is not None and counts.shape[0] > max_views_per_window:
        # Stable sort on −count keeps the recipe's view order among ties.
        order = np.argsort(-np.where(qualifying, counts, -1), axis=0, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(counts.shape[0])[:, None].repeat(counts.shape[1], axis=1), axis=0)
        kept &= rank < max_views_per_window
    return Selection(starts=starts, counts=counts, qualifying=qualifying, kept=kept)
