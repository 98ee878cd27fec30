"""From a recording's annotations to candidate (window, view) pairs, the SAVGBench selection rule, and the
de-duplication policies applied after it (view separation, then clip gap), and the clips that may fill a budget the
de-duplication left short (`fill_from_removed`).

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
    "view_separation_deg",
    "separate_views",
    "space_clips_in_time",
    "clip_target_class",
    "near_duplicate_counts",
    "fill_from_removed",
]

# Angles within this many degrees of a policy's limit count as at the limit: view centres computed 50° apart come
# out a rounding error either side of 50.
ANGLE_TOLERANCE_DEG = 1e-9


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
    distance_cm: np.ndarray | None = None  # float64, NaN where the row has none (STARSS22's 5 columns)

    @classmethod
    def from_rows(cls, rows: Iterable) -> "EventTrack":
        """From objects with frame, class_id, source_index, azimuth_deg and elevation_deg (e.g. AnnotationRow), and
        distance_cm where they have it."""
        rows = sorted(rows, key=lambda r: (r.frame, r.class_id, r.source_index))
        distances = [getattr(r, "distance_cm", None) for r in rows]
        return cls(
            frame=np.array([r.frame for r in rows], dtype=np.int64),
            class_id=np.array([r.class_id for r in rows], dtype=np.int64),
            source_index=np.array([r.source_index for r in rows], dtype=np.int64),
            azimuth_deg=np.array([r.azimuth_deg for r in rows], dtype=np.float64),
            elevation_deg=np.array([r.elevation_deg for r in rows], dtype=np.float64),
            distance_cm=np.array([np.nan if d is None else d for d in distances], dtype=np.float64),
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


def _angle_between_deg(unit_a: np.ndarray, unit_b: np.ndarray) -> np.ndarray:
    """Great-circle angle in degrees between unit vectors (..., 3), accurate for small and large angles alike."""
    cross = np.linalg.norm(np.cross(unit_a, unit_b), axis=-1)
    return np.rad2deg(np.arctan2(cross, np.sum(unit_a * unit_b, axis=-1)))


def view_separation_deg(views: Sequence[View]) -> np.ndarray:
    """(V, V) great-circle angles in degrees between the views' centres."""
    units = angles_to_unit([v.view_azimuth_deg for v in views], [v.view_elevation_deg for v in views])
    return _angle_between_deg(units[:, None, :], units[None, :, :])


def separate_views(counts: np.ndarray, kept: np.ndarray, separation_deg: np.ndarray,
                   min_view_separation_deg: float) -> np.ndarray:
    """Per window, the kept views whose centres are at least min_view_separation_deg apart, chosen greedily.

    counts and kept are (V, n_windows) (onscreen-of-interest frames, and the selection rule's choice); separation_deg
    is `view_separation_deg(views)`. In each window, views are taken by decreasing count (ties: recipe view order),
    and a view is kept unless it is closer than the separation to a view kept before it. Vectorised over windows: one
    step per rank, at most V steps.
    """
    result = np.zeros_like(kept, dtype=bool)
    windows = np.flatnonzero(kept.any(axis=0))
    if windows.size == 0:
        return result
    counts, kept = counts[:, windows], kept[:, windows]
    # Stable sort on −count keeps the recipe's view order among ties; views not kept sort last.
    order = np.argsort(-np.where(kept, counts, -1), axis=0, kind="stable")
    too_close = separation_deg < min_view_separation_deg - ANGLE_TOLERANCE_DEG  # (V, V)
    chosen = np.zeros_like(kept)
    columns = np.arange(windows.size)
    for view in order:  # the views of rank 0, 1, … of every window
        candidate = kept[view, columns]
        if not candidate.any():
            break
        blocked = (too_close[view] & chosen.T).any(axis=1)
        chosen[view, columns] = candidate & ~blocked
    result[:, windows] = chosen
    return result


def space_clips_in_time(kept: np.ndarray, starts: np.ndarray, min_clip_gap_frames: int) -> np.ndarray:
    """Per view, the kept windows whose starts are at least min_clip_gap_frames apart, chosen greedily.

    kept is (V, n_windows) and starts the windows' start frames, increasing. Each view keeps its earliest window,
    then the next one starting at least the gap after the last one kept, and so on; a gap up to the hop keeps all.
    One step per clip kept.
    """
    not_increasing = np.flatnonzero(np.diff(starts) <= 0)
    if not_increasing.size:
        at = int(not_increasing[0])
        raise ValueError(f"window starts must increase, got {starts[at]} then {starts[at + 1]} (windows {at}, "
                         f"{at + 1})")
    result = np.zeros_like(kept, dtype=bool)
    for view in np.flatnonzero(kept.any(axis=1)).tolist():
        windows = np.flatnonzero(kept[view])
        view_starts = starts[windows]
        position = 0
        while position < windows.size:
            result[view, windows[position]] = True
            position = int(np.searchsorted(view_starts, view_starts[position] + min_clip_gap_frames, side="left"))
    return result


def clip_target_class(n_speech_frames, n_instrument_frames):
    """The target class with the most onscreen label frames in a clip, "speech" or "instrument" (ties: "speech").

    Vectorised: arrays in, an array of str out; scalars in, a str out.
    """
    target = np.where(np.asarray(n_instrument_frames) > np.asarray(n_speech_frames), "instrument", "speech")
    return str(target) if target.ndim == 0 else target


def near_duplicate_counts(recording_id, start_frame, view_azimuth_deg, view_elevation_deg, window_frames: int,
                          h_fov_deg: float) -> np.ndarray:
    """Per clip, the number of other clips of its recording that nearly repeat it: their windows overlap by more
    than half (starts less than window_frames / 2 apart) and their view centres are closer than h_fov_deg / 2.

    The arguments are a clips table's columns (any sequences of equal length). The mean of the result is the
    near-duplicate figure of a selection. Sorted by recording and start, each clip is compared only with the clips
    starting within half a window of it, in blocks of bounded memory.
    """
    _, codes = np.unique(np.asarray(recording_id, dtype=object).astype(str), return_inverse=True)
    start = np.asarray(start_frame, dtype=np.float64)
    n = start.size
    counts = np.zeros(n, dtype=np.int64)
    if n == 0:
        return counts
    # One sortable key per clip: recordings far apart on the line, starts inside them (exact in float64).
    span = float(start.max()) + window_frames + 1.0
    key = codes.astype(np.float64) * span + start
    order = np.argsort(key, kind="stable")
    key = key[order]
    units = angles_to_unit(np.asarray(view_azimuth_deg, dtype=np.float64),
                           np.asarray(view_elevation_deg, dtype=np.float64))[order]
    half_window = window_frames / 2.0
    first = np.searchsorted(key, key - half_window, side="right")
    stop = np.searchsorted(key, key + half_window, side="left")
    limit_deg = h_fov_deg / 2.0 - ANGLE_TOLERANCE_DEG
    sorted_counts = np.zeros(n, dtype=np.int64)
    block_pairs = 2_000_000
    cumulative = np.cumsum(stop - first)
    block_start = 0
    while block_start < n:
        # Clips [block_start, block_stop) compare with at most block_pairs others (one clip at least).
        done = cumulative[block_start - 1] if block_start else 0
        block_stop = max(block_start + 1, int(np.searchsorted(cumulative, done + block_pairs, side="right")))
        block = np.arange(block_start, min(block_stop, n))
        lengths = stop[block] - first[block]
        clip = np.repeat(block, lengths)
        other = np.arange(lengths.sum()) + np.repeat(first[block] - (np.cumsum(lengths) - lengths), lengths)
        close = _angle_between_deg(units[clip], units[other]) < limit_deg
        # Every clip is close to itself: one pair too many each.
        sorted_counts[block] = np.bincount(clip[close] - block_start, minlength=block.size) - 1
        block_start = block[-1] + 1
    counts[order] = sorted_counts
    return counts


def fill_from_removed(kept: np.ndarray, candidates: np.ndarray, order_key: np.ndarray, starts: np.ndarray,
                      separation_deg: np.ndarray, window_frames: int, h_fov_deg: float) -> np.ndarray:
    """The candidate pairs not kept that may fill a budget the de-duplication policies left short: each nearly
    repeats at most one clip kept or filled before it, as `near_duplicate_counts` counts near-repeats (windows
    overlapping by more than half: starts less than window_frames / 2 apart; view centres closer than h_fov_deg / 2).

    kept and candidates are (V, n_windows) bool (the de-duplicated clips; the pairs the selection rule lets qualify),
    order_key (V, n_windows) the order in which pairs not kept are visited (smallest first; the caller's clip
    hashes, so that the choice follows neither run order nor the recipe's view order), starts the windows' start
    frames, increasing, and separation_deg `view_separation_deg(views)`. Greedy: a visited pair is taken when at
    most one pair kept or taken before it is its near-repeat, so each pair taken adds at most one near-repeating
    pair to kept ∪ taken (usually exactly one: a pair the clip gap removed nearly repeats the clip that removed it),
    and any subset of the result keeps that bound. Returns the taken pairs, (V, n_windows) bool, disjoint from kept.
    """
    if kept.shape != candidates.shape or order_key.shape != kept.shape or starts.shape != (kept.shape[1],):
        raise ValueError(f"fill: shapes differ: kept {kept.shape}, candidates {candidates.shape}, order_key "
                         f"{order_key.shape}, starts {starts.shape}")
    taken = np.zeros_like(kept, dtype=bool)
    view_index, window_index = np.nonzero(candidates & ~kept)
    if view_index.size == 0:
        return taken
    close = separation_deg < h_fov_deg / 2.0 - ANGLE_TOLERANCE_DEG  # (V, V), each view close to itself
    half_window = window_frames / 2.0
    # Windows [first[w], stop[w]) start less than half a window from window w.
    first = np.searchsorted(starts, starts - half_window, side="right")
    stop = np.searchsorted(starts, starts + half_window, side="left")
    occupied = kept.copy()
    close_views = [np.flatnonzero(row) for row in close]
    for position in np.argsort(order_key[view_index, window_index], kind="stable").tolist():
        view, window = int(view_index[position]), int(window_index[position])
        if np.count_nonzero(occupied[close_views[view], first[window]:stop[window]]) <= 1:
            taken[view, window] = occupied[view, window] = True
    return taken
