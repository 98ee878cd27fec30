"""Plan a recording's clips: candidate (window, view) pairs, the selection rule, and each kept clip's events.

Pure: annotations and recipe values in, clip and event rows out. Which frames to decode and which audio to cut
follow from the plan (`curation.render`).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from data_contracts.classes import CLASS_NAMES, LABEL_FRAME_S
from data_contracts.manifests import ClipRow, EventRow, make_clip_id
from data_contracts.recipe import Recipe

__all__ = ["ClipPlan", "RecordingPlan", "plan_recording", "clip_output_paths", "label_frame_count"]


def label_frame_count(duration_s: float) -> int:
    """Whole 100 ms label frames in a recording of duration_s (a partial last frame does not count)."""
    return int(np.floor(duration_s / LABEL_FRAME_S + 1e-6))


def clip_output_paths(split: str, clip_id: str) -> dict[str, str]:
    """Per-clip file paths relative to the output root, as in the SAVGBench release (`*_dev` / `*_eval`)."""
    suffix = "dev" if split == "generation" else "eval"
    return {
        "video_path": f"video_{suffix}/{clip_id}.mp4",
        "audio_path": f"audio_{suffix}/{clip_id}.wav",
        "metadata_path": f"metadata_{suffix}/{clip_id}.csv",
    }


@dataclass(frozen=True)
class ClipPlan:
    """One kept clip with its events, and the view index it is rendered from."""

    clip: ClipRow
    events: tuple[EventRow, ...]
    view_index: int


@dataclass(frozen=True)
class RecordingPlan:
    """Everything decided about one recording before any media is touched."""

    recording_id: str
    views: tuple[View, ...]
    n_frames: int
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
    n_frames = label_frame_count(duration_s)
    class_map = recipe.class_map_dict()
    track = EventTrack.from_rows(annotation_rows)
    v_fov_deg = recipe.v_fov_deg
    projection = project_events(track, views, recipe.h_fov_deg, v_fov_deg, recipe.content_width, recipe.content_height)
    flags = onscreen_frame_flags(track, projection, class_map, n_frames)
    starts = window_starts(n_frames, recipe.window_frames, recipe.hop_frames)
    counts = window_counts(flags["any"], starts, recipe.window_frames)
    per_target = {t: window_counts(f, starts, recipe.window_frames) for t, f in flags.items() if t != "any"}
    selection = select_windows(counts, starts, recipe.min_onscreen_frames, recipe.max_views_per_window)

    # Events sorted by frame, so each window's events are one contiguous slice.
    frame_bounds = np.searchsorted(track.frame, np.concatenate([starts, starts + recipe.window_frames]))
    n_windows = len(starts)
    recipe_hash = recipe.recipe_hash
    clips = []
    for window_idx, view_idx in selection.kept_pairs():
        start_frame = int(starts[window_idx])
        view = views[view_idx]
        clip_id = make_clip_id(recording_id, start_frame, view.view_azimuth_deg, view.view_elevation_deg)
        first, last = frame_bounds[window_idx], frame_bounds[n_windows + window_idx]
        events = tuple(
            _event_row(clip_id, recording_id, track, projection, view_idx, i, start_frame, class_map, recipe_hash)
            for i in range(first, last)
        )
        clip = ClipRow(
            clip_id=clip_id,
            split=split,
            recording_id=recording_id,
            source_folder=source_folder,
            start_frame=start_frame,
            start_s=round(start_frame * LABEL_FRAME_S, 6),
            duration_s=round(recipe.window_frames * LABEL_FRAME_S, 6),
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
        clips.append(ClipPlan(clip=clip, events=events, view_index=view_idx))
    return RecordingPlan(
        recording_id=recording_id,
        views=views,
        n_frames=n_frames,
        n_candidates=int(counts.size),
        n_qualifying=int(selection.qualifying.sum()),
        clips=tuple(clips),
    )


def _event_row(clip_id, recording_id, track, projection, view_idx, i, start_frame, class_map, recipe_hash) -> EventRow:
    onscreen = bool(projection.onscreen[view_idx, i])
    class_id = int(track.class_id[i])
    return EventRow(
        clip_id=clip_id,
        recording_id=recording_id,
        frame=int(track.frame[i]) - start_frame,
        class_id=class_id,
        class_name=CLASS_NAMES[class_id],
        target_class=class_map.get(class_id),
        source_index=int(track.source_index[i]),
        azimuth_deg=float(projection.relative_azimuth_deg[view_idx, i]),
        elevation_deg=float(projection.relative_elevation_deg[view_idx, i]),
        onscreen=onscreen,
        x_px=float(projection.x_px[view_idx, i]) if onscreen else None,
        y_px=float(projection.y_px[view_idx, i]) if onscreen else None,
        recipe_hash=recipe_hash,
    )
