"""Plan a recording's clips: candidate (window, view) pairs, the selection rule, and each kept clip's events.

Pure: annotations and recipe values in, clip and event rows out. Which frames to decode and which audio to cut
follow from the plan (`curation.render`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np

from curation.selection import (
    EventTrack,
    View,
    onscreen_frame_flags,
    project_events,
    select_windows,
    window_counts,
    window_starts,
)
from data_contracts.classes import CLASS_NAMES
from data_contracts.manifests import ClipRow, EventRow, make_clip_id
from data_contracts.recipe import Recipe
from data_contracts.timebase import label_frames_to_manifest_s, whole_label_frames

__all__ = [
    "ClipEvents",
    "ClipPlan",
    "RecordingEvents",
    "RecordingPlan",
    "clip_output_paths",
    "events_columns",
    "label_frame_count",
    "plan_recording",
]


# Whole 100 ms label frames in a recording of duration_s (a partial last frame does not count); the public name of
# `data_contracts.timebase.whole_label_frames` here.
label_frame_count = whole_label_frames


def clip_output_paths(split: str, clip_id: str) -> dict[str, str]:
    """Per-clip file paths relative to the output root, as in the SAVGBench release (`*_dev` / `*_eval`)."""
    suffix = "dev" if split == "generation" else "eval"
    return {
        "video_path": f"video_{suffix}/{clip_id}.mp4",
        "audio_path": f"audio_{suffix}/{clip_id}.wav",
        "metadata_path": f"metadata_{suffix}/{clip_id}.csv",
    }


class RecordingEvents:
    """A recording's annotated events seen from every view, shared by the ClipEvents of all its clips.

    `track` is sorted by (frame, class_id, source_index), the order of the events manifest within a clip.
    """

    __slots__ = ("recording_id", "recipe_hash", "track", "projection", "target_class")

    def __init__(self, recording_id: str, recipe_hash: str, track: EventTrack, projection, class_map: dict):
        self.recording_id, self.recipe_hash, self.track, self.projection = recording_id, recipe_hash, track, projection
        # Per event: its recipe class of interest, or None.
        self.target_class = np.array([class_map.get(int(c)) for c in track.class_id], dtype=object)


class ClipEvents:
    """The events of one kept clip: the slice [first, stop) of its recording's events, seen from one view.

    Not a dataclass and not a tuple of rows, on purpose: task runners walk dataclasses, tuples and lists element by
    element to find futures in task inputs, and a 9-minute recording's clips hold millions of event rows. Rows are
    made only where they are needed (`rows()`, `events_columns()`).
    """

    __slots__ = ("shared", "clip_id", "start_frame", "view_index", "first", "stop")

    def __init__(self, shared: RecordingEvents, clip_id: str, start_frame: int, view_index: int, first: int,
                 stop: int):
        self.shared, self.clip_id, self.start_frame = shared, clip_id, start_frame
        self.view_index, self.first, self.stop = view_index, first, stop

    def __len__(self) -> int:
        return self.stop - self.first

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClipEvents) and self.rows() == other.rows()

    def __hash__(self) -> int:
        return hash((self.clip_id, self.first, self.stop))

    def __repr__(self) -> str:
        return f"ClipEvents({self.clip_id!r}, {len(self)} events)"

    def rows(self) -> list[EventRow]:
        """The clip's events as manifest rows, in manifest order (frame, class_id, source_index)."""
        columns = {name: values.tolist() for name, values in events_columns([self]).items()}
        return [EventRow(**dict(zip(columns, values))) for values in zip(*columns.values())]

    def metadata_rows(self) -> list[tuple[int, int, float, float]]:
        """(frame, class_id, x_px, y_px) of the onscreen events of interest, sorted: the per-clip metadata CSV."""
        columns = events_columns([self])
        keep = columns["onscreen"] & (columns["target_class"] != None)  # noqa: E711
        return sorted(zip(*(columns[name][keep].tolist() for name in ("frame", "class_id", "x_px", "y_px"))))


def events_columns(clips: Sequence[ClipEvents]) -> dict[str, np.ndarray]:
    """The events manifest's columns (EventRow's fields, in order) for these clips' events, clip after clip.

    Vectorised over the clips' slices of their recordings' shared arrays, one numpy array per column: numeric
    columns as numbers, text and nullable columns as object arrays holding None where a value is absent (x_px and
    y_px offscreen, target_class outside the classes of interest, visually_confirmed before verification).
    """
    names = [f.name for f in fields(EventRow)]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    groups: dict[int, list[ClipEvents]] = {}
    for clip in clips:
        groups.setdefault(id(clip.shared), []).append(clip)
    class_names = np.array([CLASS_NAMES.get(i) for i in range(max(CLASS_NAMES) + 1)], dtype=object)
    for group in groups.values():
        shared = group[0].shared
        lengths = np.array([len(c) for c in group], dtype=np.int64)
        index = np.concatenate([np.arange(c.first, c.stop, dtype=np.int64) for c in group])
        view = np.repeat(np.array([c.view_index for c in group], dtype=np.int64), lengths)
        onscreen = shared.projection.onscreen[view, index]
        n = len(index)
        values = {
            "clip_id": np.repeat(np.array([c.clip_id for c in group], dtype=object), lengths),
            "recording_id": np.full(n, shared.recording_id, dtype=object),
            "frame": shared.track.frame[index] - np.repeat(np.array([c.start_frame for c in group]), lengths),
            "class_id": shared.track.class_id[index],
            "class_name": class_names[shared.track.class_id[index]],
            "target_class": shared.target_class[index],
            "source_index": shared.track.source_index[index],
            "azimuth_deg": shared.projection.relative_azimuth_deg[view, index],
            "elevation_deg": shared.projection.relative_elevation_deg[view, index],
            "onscreen": onscreen,
            "x_px": np.where(onscreen, shared.projection.x_px[view, index].astype(object), None),
            "y_px": np.where(onscreen, shared.projection.y_px[view, index].astype(object), None),
            "recipe_hash": np.full(n, shared.recipe_hash, dtype=object),
            "visually_confirmed": np.full(n, None, dtype=object),
        }
        for name in names:
            parts[name].append(values[name])
    return {name: np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=object) for name in names}


@dataclass(frozen=True)
class ClipPlan:
    """One kept clip with its events."""

    clip: ClipRow
    events: ClipEvents

    @property
    def view_index(self) -> int:
        """Index in the plan's views of the view the clip is rendered from."""
        return self.events.view_index


@dataclass(frozen=True)
class RecordingPlan:
    """Everything decided about one recording before any media is touched."""

    recording_id: str
    views: tuple[View, ...]
    n_frames: int  # whole label frames of the recording
    n_candidates: int  # windows × views
    n_qualifying: int
    clips: tuple[ClipPlan, ...]


def plan_recording(
    recording_id: str,
    source_folder: str,
    split: str,
    duration_s: float,
    annotation_rows: Sequence,
    recipe: Recipe,
) -> RecordingPlan:
    """Apply the recipe's windows, views and selection rule to one recording's annotations."""
    views = tuple(View(float(a), float(e)) for e in recipe.view_elevations_deg for a in recipe.view_azimuths_deg)
    n_label_frames = whole_label_frames(duration_s)
    class_map = recipe.class_map_dict()
    track = EventTrack.from_rows(annotation_rows)
    v_fov_deg = recipe.v_fov_deg
    projection = project_events(track, views, recipe.h_fov_deg, v_fov_deg, recipe.content_width, recipe.content_height)
    flags = onscreen_frame_flags(track, projection, class_map, n_label_frames)
    starts = window_starts(n_label_frames, recipe.window_frames, recipe.hop_frames)
    counts = window_counts(flags["any"], starts, recipe.window_frames)
    per_target = {t: window_counts(f, starts, recipe.window_frames) for t, f in flags.items() if t != "any"}
    selection = select_windows(counts, starts, recipe.min_onscreen_frames, recipe.max_views_per_window)

    # Events sorted by frame, so each window's events are one contiguous slice.
    frame_bounds = np.searchsorted(track.frame, np.concatenate([starts, starts + recipe.window_frames]))
    n_windows = len(starts)
    recipe_hash = recipe.recipe_hash
    shared = RecordingEvents(recording_id, recipe_hash, track, projection, class_map)
    clips = []
    for window_idx, view_idx in selection.kept_pairs():
        start_frame = int(starts[window_idx])
        view = views[view_idx]
        clip_id = make_clip_id(recording_id, start_frame, view.view_azimuth_deg, view.view_elevation_deg)
        first, last = frame_bounds[window_idx], frame_bounds[n_windows + window_idx]
        events = ClipEvents(shared, clip_id, start_frame, view_idx, int(first), int(last))
        clip = ClipRow(
            clip_id=clip_id,
            split=split,
            recording_id=recording_id,
            source_folder=source_folder,
            start_frame=start_frame,
            start_s=label_frames_to_manifest_s(start_frame),
            duration_s=label_frames_to_manifest_s(recipe.window_frames),
            view_azimuth_deg=view.view_azimuth_deg,
            view_elevation_deg=view.view_elevation_deg,
            h_fov_deg=recipe.h_fov_deg,
            v_fov_deg=v_fov_deg,
            onscreen_frames=int(counts[view_idx, window_idx]),
            n_speech_frames=int(per_target.get("speech", counts * 0)[view_idx, window_idx]),
            n_instrument_frames=int(per_target.get("instrument", counts * 0)[view_idx, window_idx]),
            recipe_hash=recipe_hash,
            **clip_output_paths(split, clip_id),
        )
        clips.append(ClipPlan(clip=clip, events=events))
    return RecordingPlan(
        recording_id=recording_id,
        views=views,
        n_frames=n_label_frames,
        n_candidates=int(counts.size),
        n_qualifying=int(selection.qualifying.sum()),
        clips=tuple(clips),
    )

