"""Plan a recording's clips: candidate (window, view) pairs, the selection rule, the de-duplication policies, and
each kept clip's events.

Pure: annotations and recipe values in, clip and event rows out. Which frames to decode and which audio to cut
follow from the plan (`curation.render`). A recording's kept clips are held as columns (`PlannedClips`), so that the
clips and events manifests of a 9-minute recording seen from 36 views are a few array operations
(`clips_columns`, `events_columns`); a `ClipPlan` object per clip is made only when clips are read one by one, as
rendering does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.budget import clip_hashes
from curation.sampling import DrawnClip
from curation.selection import (
    EventTrack,
    View,
    clip_target_class,
    fill_from_removed,
    near_duplicate_counts,
    onscreen_frame_flags,
    project_events,
    select_windows,
    separate_views,
    space_clips_in_time,
    view_separation_deg,
    window_counts,
    window_starts,
)
from data_contracts.classes import CLASS_NAMES, TARGET_CLASSES
from data_contracts.manifests import ClipRow, EventRow, make_clip_id
from data_contracts.recipe import Recipe
from data_contracts.timebase import label_frames_to_manifest_s, whole_label_frames

__all__ = [
    "FUNNEL_STAGES",
    "ClipEvents",
    "ClipPlan",
    "FillPool",
    "PlannedClips",
    "RecordingEvents",
    "RecordingPlan",
    "CLIP_FOLDERS",
    "clip_output_paths",
    "clips_columns",
    "dcase2025_clip_names",
    "dcase2025_rotation_deg",
    "events_columns",
    "label_frame_count",
    "plan_drawn_clips",
    "plan_recording",
]


# Whole 100 ms label frames in a recording of duration_s (a partial last frame does not count); the public name of
# `data_contracts.timebase.whole_label_frames` here.
label_frame_count = whole_label_frames

# A clip's files: manifest column → (the recipe's `audio_outputs` entry that writes it, None for a file every clip
# has; file suffix).
_CLIP_FILES = {"video_path": (None, ".mp4"), "audio_path": (None, ".wav"), "metadata_path": (None, ".csv"),
               "foa_path": ("foa", ".wav")}
# Per recipe `layout`, each file's folder prefix (manifest column → prefix): the folder is `<prefix>_dev` or
# `<prefix>_eval`. `savgbench` is the SAVGBench release's, `dcase2025` the DCASE2025 stereo SELD dataset's.
_LAYOUT_FOLDERS = {
    "savgbench": {"video_path": "video", "audio_path": "audio", "metadata_path": "metadata", "foa_path": "foa"},
    "dcase2025": {"video_path": "video", "audio_path": "stereo", "metadata_path": "metadata", "foa_path": "foa"},
}
# Every folder a clip file can be in, whatever the layout (each layout's files may be nested below it).
CLIP_FOLDERS = tuple(sorted({f"{prefix}_{set_name}" for folders in _LAYOUT_FOLDERS.values()
                             for prefix in folders.values() for set_name in ("dev", "eval")}))
_CLIP_NAMES = tuple(f.name for f in fields(ClipRow))
_EVENT_NAMES = tuple(f.name for f in fields(EventRow))
# STARSS class id → class name (None for an id that is no class).
_CLASS_NAME_BY_ID = [CLASS_NAMES.get(class_id) for class_id in range(max(CLASS_NAMES) + 1)]


def _set_name(split: str) -> str:
    return "dev" if split == "generation" else "eval"


def dcase2025_rotation_deg(view_azimuth_deg):
    """The DCASE2025 stereo SELD generator's rotation angle `deg` (an integer in [0, 360)) of the view looking at
    azimuth `view_azimuth_deg` (degrees, whole, conventions.md: + = left): (−view_azimuth_deg) mod 360.

    The generator rotates the FOA so that an event at STARSS azimuth φ lands at φ + deg and renders the view looking
    at azimuth 0 of the rotated scene, i.e. at STARSS azimuth −deg. So view azimuth 30° (30° left) is deg 330,
    0° is 0, 270° (90° right) is 90. Vectorised: an array in, an int64 array out."""
    return np.mod(-np.rint(np.asarray(view_azimuth_deg, dtype=np.float64)), 360).astype(np.int64)


def dcase2025_clip_names(recording_id: str, start_frame, view_azimuth_deg) -> pa.Array:
    """The DCASE2025 stereo SELD file names (no suffix) of one recording's clips:
    `<recording_id>_deg<DDD>_start<SSSS>`, DDD the rotation angle (`dcase2025_rotation_deg`, 3 digits), SSSS the
    clip's first label frame (at least 4 digits), both zero-padded. Vectorised over `start_frame` and
    `view_azimuth_deg` (arrays of one length)."""
    def padded(values: np.ndarray, digits: int) -> pa.Array:
        return pc.utf8_lpad(pa.array(values, pa.int64()).cast(pa.string()), width=digits, padding="0")

    return pc.binary_join_element_wise(f"{recording_id}_deg", padded(dcase2025_rotation_deg(view_azimuth_deg), 3),
                                       "_start", padded(np.asarray(start_frame, dtype=np.int64), 4), "")


def _path_columns(split: str, layout: str, audio_outputs: Sequence[str], clip_id: pa.Array, recording_id: str,
                  source_folder: str, start_frame: np.ndarray, view_azimuth_deg: np.ndarray) -> dict[str, pa.Array]:
    """The clips manifest's path columns of one recording's clips (see `clip_output_paths`), as pyarrow strings."""
    set_name = _set_name(split)
    if layout == "dcase2025":
        folder, names = f"_{set_name}/{source_folder}/", dcase2025_clip_names(recording_id, start_frame,
                                                                              view_azimuth_deg)
    else:
        folder, names = f"_{set_name}/", clip_id
    prefixes = _LAYOUT_FOLDERS[layout]
    return {key: (pc.binary_join_element_wise(prefixes[key] + folder, names, suffix, "")
                  if output is None or output in audio_outputs else pa.nulls(len(clip_id), pa.string()))
            for key, (output, suffix) in _CLIP_FILES.items()}


def clip_output_paths(split: str, clip_id: str, audio_outputs: Sequence[str] = (), layout: str = "savgbench", *,
                      recording_id: str = "", source_folder: str = "", start_frame: int = 0,
                      view_azimuth_deg: float = 0.0) -> dict[str, str | None]:
    """Per-clip file paths relative to the output root (manifest column → path), in the recipe's `layout`:
    `savgbench`, as in the SAVGBench release (`video_dev/<clip_id>.mp4`, `audio_dev/…wav`, `metadata_dev/…csv`,
    `foa_dev/…wav`; `*_eval` for the evaluation split), or `dcase2025`, as in the DCASE2025 stereo SELD dataset
    (`video_dev/<source_folder>/<name>.mp4`, `stereo_dev/…wav`, `metadata_dev/…csv`, `foa_dev/…wav`, the name
    from `recording_id`, `start_frame` and `view_azimuth_deg`: `dcase2025_clip_names`). An optional file
    (`foa_path`) is None unless `audio_outputs` (the recipe's) names it."""
    columns = _path_columns(split, layout, audio_outputs, pa.array([clip_id], pa.string()), recording_id,
                            source_folder, np.array([start_frame]), np.array([view_azimuth_deg]))
    return {key: values[0].as_py() for key, values in columns.items()}


class RecordingEvents:
    """A recording's annotated events seen from every view, shared by the ClipEvents of all its clips.

    `track` is sorted by (frame, class_id, source_index), the order of the events manifest within a clip. Per event:
    `target_class`, its recipe class of interest or None, and `of_interest`, whether it has one.
    """

    __slots__ = ("recording_id", "recipe_hash", "track", "projection", "target_class", "of_interest",
                 "target_by_class_id")

    def __init__(self, recording_id: str, recipe_hash: str, track: EventTrack, projection, class_map: dict):
        self.recording_id, self.recipe_hash, self.track, self.projection = recording_id, recipe_hash, track, projection
        self.target_by_class_id = [class_map.get(class_id) for class_id in range(len(_CLASS_NAME_BY_ID))]
        self.target_class = np.array(self.target_by_class_id, dtype=object)[track.class_id]
        self.of_interest = np.isin(track.class_id, list(class_map))


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
        columns = [_python_values(values) for values in events_columns([self]).values()]
        return [EventRow(*values) for values in zip(*columns)]

    def metadata_rows(self) -> list[tuple[int, int, float, float]]:
        """(frame, class_id, x_px, y_px) of the onscreen events of interest, sorted: the per-clip metadata CSV."""
        shared, view = self.shared, self.view_index
        index = np.arange(self.first, self.stop)
        index = index[shared.projection.onscreen[view, index] & shared.of_interest[index]]
        columns = (shared.track.frame[index] - self.start_frame, shared.track.class_id[index],
                   shared.projection.x_px[view, index], shared.projection.y_px[view, index])
        return sorted(zip(*(values.tolist() for values in columns)))


@dataclass(frozen=True)
class ClipPlan:
    """One kept clip with its events."""

    clip: ClipRow
    events: ClipEvents

    @property
    def view_index(self) -> int:
        """Index in the plan's views of the view the clip is rendered from."""
        return self.events.view_index


# PlannedClips' per-clip arrays; those that are clips manifest columns too.
_CLIP_ARRAYS = ("start_frame", "start_s", "view_index", "view_azimuth_deg", "view_elevation_deg", "onscreen_frames",
                "n_speech_frames", "n_instrument_frames", "target_class", "first", "stop")
_CLIP_ROW_ARRAYS = tuple(name for name in _CLIP_ARRAYS if name in _CLIP_NAMES)


class PlannedClips(Sequence):
    """A recording's kept clips as columns, in plan order (window, then view); reading a clip gives a ClipPlan.

    `arrays` holds one numpy array per clip value (`_CLIP_ARRAYS`; `first`/`stop` bound each clip's slice of the
    recording's events; `target_class` is str), `clip_id` the clip ids (pyarrow strings). Not a tuple, on purpose
    (see ClipEvents); the manifests' columns come from the arrays (`clips_columns`, `events_columns`). The ClipPlan
    objects are made all at once on the first read of one (rendering reads them all) and kept; they are not
    pickled. Equal to another PlannedClips of equal clips; compare with a tuple through `tuple(clips)`.
    """

    __slots__ = ("shared", "split", "source_folder", "duration_s", "h_fov_deg", "v_fov_deg", "arrays", "clip_id",
                 "audio_outputs", "layout", "_made")

    def __init__(self, shared: RecordingEvents, split: str, source_folder: str, duration_s: float, h_fov_deg: float,
                 v_fov_deg: float, arrays: dict[str, np.ndarray], clip_id: pa.Array,
                 audio_outputs: tuple[str, ...] = ("stereo",), layout: str = "savgbench"):
        self.shared, self.split, self.source_folder, self.duration_s = shared, split, source_folder, duration_s
        self.h_fov_deg, self.v_fov_deg, self.arrays, self.clip_id = h_fov_deg, v_fov_deg, arrays, clip_id
        self.audio_outputs = audio_outputs  # the recipe's: which optional files (`_CLIP_FILES`) clips have
        self.layout = layout  # the recipe's: where the clips' files go (`clip_output_paths`)
        self._made: tuple[ClipPlan, ...] | None = None

    def __len__(self) -> int:
        return len(self.clip_id)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self.take(np.arange(len(self))[item])
        return self._plans()[item]

    def __iter__(self):
        return iter(self._plans())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PlannedClips):
            return NotImplemented
        return len(self) == len(other) and self._plans() == other._plans()

    def __hash__(self) -> int:
        return hash((self.shared.recording_id, len(self)))

    def __repr__(self) -> str:
        return f"PlannedClips({self.shared.recording_id!r}, {len(self)} clips)"

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__ if name != "_made"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self._made = None

    def take(self, positions: np.ndarray) -> "PlannedClips":
        """The clips at these positions, in this order."""
        positions = np.asarray(positions, dtype=np.int64)
        return PlannedClips(self.shared, self.split, self.source_folder, self.duration_s, self.h_fov_deg,
                            self.v_fov_deg, {name: values[positions] for name, values in self.arrays.items()},
                            self.clip_id.take(pa.array(positions)), self.audio_outputs, self.layout)

    def path_columns(self) -> dict[str, pa.Array]:
        """The clips' file paths (the clips manifest's path columns, `clip_output_paths`), as pyarrow strings."""
        return _path_columns(self.split, self.layout, self.audio_outputs, self.clip_id, self.shared.recording_id,
                             self.source_folder, self.arrays["start_frame"], self.arrays["view_azimuth_deg"])

    def clips_columns(self) -> dict[str, Any]:
        """The clips manifest's columns (ClipRow's fields, in order): numpy numbers and pyarrow strings."""
        n, arrays, shared = len(self), self.arrays, self.shared
        columns = {
            "clip_id": self.clip_id,
            "split": pa.repeat(self.split, n),
            "recording_id": pa.repeat(shared.recording_id, n),
            "source_folder": pa.repeat(self.source_folder, n),
            "duration_s": np.full(n, self.duration_s),
            "h_fov_deg": np.full(n, self.h_fov_deg),
            "v_fov_deg": np.full(n, self.v_fov_deg),
            "recipe_hash": pa.repeat(shared.recipe_hash, n),
            "visual_confirmation_rate": pa.nulls(n, pa.float64()),
            **self.path_columns(),
            **{name: arrays[name] for name in _CLIP_ROW_ARRAYS},
            # Two values: Arrow encodes the str array as strings, which the table casts to its dictionary column.
            "target_class": pa.array(arrays["target_class"], pa.string()),
        }
        return {name: columns[name] for name in _CLIP_NAMES}

    def events_columns(self) -> dict[str, Any]:
        """The events manifest's columns of these clips' events, clip after clip (see `events_columns`)."""
        arrays = self.arrays
        return _recording_events_columns(self.shared, arrays["first"], arrays["stop"], arrays["view_index"],
                                         arrays["start_frame"], self.clip_id)

    def _plans(self) -> tuple[ClipPlan, ...]:
        if self._made is None:
            shared, split = self.shared, self.split
            constants = dict(split=split, recording_id=shared.recording_id, source_folder=self.source_folder,
                             duration_s=self.duration_s, h_fov_deg=self.h_fov_deg, v_fov_deg=self.v_fov_deg,
                             recipe_hash=shared.recipe_hash)
            made = []
            path_columns = self.path_columns()
            paths = [dict(zip(path_columns, values)) for values in zip(*(v.to_pylist() for v in path_columns.values()))]
            for clip_paths, clip_id, *values in zip(paths, self.clip_id.to_pylist(),
                                                    *(self.arrays[n].tolist() for n in _CLIP_ARRAYS)):
                value = dict(zip(_CLIP_ARRAYS, values))
                clip = ClipRow(clip_id=clip_id, **constants, **{name: value[name] for name in _CLIP_ROW_ARRAYS},
                               **clip_paths)
                events = ClipEvents(shared, clip_id, value["start_frame"], value["view_index"], value["first"],
                                    value["stop"])
                made.append(ClipPlan(clip, events))
            self._made = tuple(made)
        return self._made


def clips_columns(clips: Sequence[ClipPlan]) -> dict[str, Any]:
    """The clips manifest's columns (ClipRow's fields, in order) for these clips: straight from the arrays of a
    plan's PlannedClips, else from each ClipPlan's row."""
    if isinstance(clips, PlannedClips):
        return clips.clips_columns()
    return {name: [getattr(c.clip, name) for c in clips] for name in _CLIP_NAMES}


def events_columns(clips: Sequence[ClipEvents] | PlannedClips) -> dict[str, Any]:
    """The events manifest's columns (EventRow's fields, in order) for these clips' events, clip after clip
    (grouped by recording, in the order the recordings first appear).

    `clips` is ClipEvents, or a plan's PlannedClips (then no per-clip object is made). Vectorised over the clips'
    slices of their recordings' shared arrays, in the forms `data_contracts` converts without a Python loop:
    numbers as numpy arrays (frame, class_id and source_index int64: narrowed with range checks when the table is
    built), x_px and y_px as `numpy.ma.MaskedArray` masked where offscreen, text as pyarrow strings (target_class
    null outside the classes of interest), visually_confirmed as pyarrow nulls (set by verification).
    """
    if isinstance(clips, PlannedClips):
        return clips.events_columns()
    groups: dict[int, list[ClipEvents]] = {}
    for clip in clips:
        groups.setdefault(id(clip.shared), []).append(clip)
    parts = []
    for group in groups.values():
        first, stop, view_index, start_frame = (
            np.fromiter((getattr(c, name) for c in group), dtype=np.int64, count=len(group))
            for name in ("first", "stop", "view_index", "start_frame"))
        clip_id = pa.array([c.clip_id for c in group], pa.string())
        parts.append(_recording_events_columns(group[0].shared, first, stop, view_index, start_frame, clip_id))
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return _empty_events_columns()
    return {name: _concatenate([part[name] for part in parts]) for name in _EVENT_NAMES}


def _recording_events_columns(shared: RecordingEvents, first: np.ndarray, stop: np.ndarray, view_index: np.ndarray,
                              start_frame: np.ndarray, clip_id: pa.Array) -> dict[str, Any]:
    """The events columns of one recording's clips, clip i holding events [first[i], stop[i]) seen from view
    view_index[i], frames counted from start_frame[i]."""
    lengths = stop - first
    n = int(lengths.sum())
    clip_position = np.repeat(np.arange(len(lengths)), lengths)
    # Event k of the output is event k + (first − offset) of the recording, offset being its clip's first output row.
    index = np.arange(n, dtype=np.int64) + np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
    track, projection = shared.track, shared.projection
    # Position in the (view, event) arrays, flattened: one gather per column.
    at = view_index[clip_position] * len(track) + index

    def seen(values: np.ndarray) -> np.ndarray:
        return values.reshape(-1).take(at)

    onscreen = seen(projection.onscreen)
    class_id = track.class_id[index]
    class_positions = pa.array(class_id)
    columns = {
        "clip_id": clip_id.take(pa.array(clip_position)),
        "recording_id": pa.repeat(shared.recording_id, n),
        "frame": track.frame[index] - start_frame[clip_position],
        "class_id": class_id,
        "class_name": pa.array(_CLASS_NAME_BY_ID, pa.string()).take(class_positions),
        "target_class": pa.array(shared.target_by_class_id, pa.string()).take(class_positions),
        "source_index": track.source_index[index],
        "azimuth_deg": seen(projection.relative_azimuth_deg),
        "elevation_deg": seen(projection.relative_elevation_deg),
        "onscreen": onscreen,
        "x_px": np.ma.MaskedArray(seen(projection.x_px), mask=~onscreen),
        "y_px": np.ma.MaskedArray(seen(projection.y_px), mask=~onscreen),
        "recipe_hash": pa.repeat(shared.recipe_hash, n),
        "visually_confirmed": pa.nulls(n, pa.bool_()),
    }
    return {name: columns[name] for name in _EVENT_NAMES}


def _empty_events_columns() -> dict[str, Any]:
    numbers = {"frame": np.int64, "class_id": np.int64, "source_index": np.int64, "azimuth_deg": np.float64,
               "elevation_deg": np.float64, "onscreen": np.bool_}
    columns: dict[str, Any] = {name: np.zeros(0, dtype=dtype) for name, dtype in numbers.items()}
    columns.update({name: np.ma.MaskedArray(np.zeros(0), mask=np.zeros(0, dtype=bool)) for name in ("x_px", "y_px")})
    columns["visually_confirmed"] = pa.nulls(0, pa.bool_())
    return {name: columns.get(name, pa.array([], pa.string())) for name in _EVENT_NAMES}


def _concatenate(parts: list) -> Any:
    if isinstance(parts[0], pa.Array):
        return pa.concat_arrays(parts)
    if isinstance(parts[0], np.ma.MaskedArray):
        return np.ma.concatenate(parts)
    return np.concatenate(parts)


def _python_values(values: Any) -> list:
    """A column of `events_columns` as Python values (None where null or masked)."""
    return values.to_pylist() if isinstance(values, pa.Array) else values.tolist()


# The selection's stages, in order, as RecordingPlan.class_counts names them: every (window, view) pair, those the
# selection rule keeps as qualifying, and those left after each de-duplication policy (a policy that is off keeps all).
FUNNEL_STAGES = ("candidates", "qualifying", "after_view_separation", "after_clip_gap")


@dataclass(frozen=True)
class RecordingPlan:
    """Everything decided about one recording before any media is touched.

    `clips` is a PlannedClips as `plan_recording` returns it (a subset given with `dataclasses.replace` may be any
    sequence of ClipPlan, e.g. a tuple): the clips left after the clip gap. The counts are (window, view) pairs at
    each stage of `FUNNEL_STAGES`; `n_qualifying` counts every qualifying pair, and `n_after_view_separation` those
    within `max_views_per_window` too, once views are separated. `class_counts` gives each stage's count per target
    class (stage -> {target class -> count}, every class of `TARGET_CLASSES`), a pair's target class being
    `clip_target_class` of its counts.
    """

    recording_id: str
    views: tuple[View, ...]
    n_frames: int  # whole label frames of the recording
    n_candidates: int  # windows × views
    n_qualifying: int
    clips: Sequence[ClipPlan]
    n_after_view_separation: int
    n_after_clip_gap: int
    # Left out of hash(): a dict has none (equality still compares it).
    class_counts: dict[str, dict[str, int]] = field(hash=False)
    # With `fill_max_near_duplicates`: the clips that may fill a budget the de-duplication left short (None: off).
    fill: FillPool | None = field(default=None, hash=False)


@dataclass(frozen=True)
class FillPool:
    """A recording's clips after the clip gap together with those that may fill its split's budget
    (`curation.selection.fill_from_removed`), as one PlannedClips in plan order (`clips`), `is_fill` marking the
    latter; `near_duplicates`, the sum of `near_duplicate_counts` over the clips after the clip gap (what the split's
    fill may add to, up to its limit)."""

    clips: PlannedClips
    is_fill: np.ndarray  # bool, per clip of `clips`
    near_duplicates: int

    @property
    def fill_clips(self) -> PlannedClips:
        """The clips that may fill the budget, in plan order."""
        return self.clips.take(np.flatnonzero(self.is_fill))


def _clip_ids(recording_id: str, starts: np.ndarray, views: Sequence[View], window_index: np.ndarray,
              view_index: np.ndarray) -> pa.Array:
    """`make_clip_id` of each (window, view) pair, from one call per window and one per view: an id is its
    recording-and-start part followed by its view part (from its last "_az")."""

    def split_id(clip_id: str) -> tuple[str, str]:
        cut = clip_id.rindex("_az")
        return clip_id[:cut], clip_id[cut:]

    window_parts: list[str | None] = [None] * len(starts)
    for window in np.unique(window_index).tolist():
        window_parts[window] = split_id(make_clip_id(recording_id, int(starts[window]), 0.0, 0.0))[0]
    view_parts = [split_id(make_clip_id(recording_id, 0, v.view_azimuth_deg, v.view_elevation_deg))[1] for v in views]
    return pc.binary_join_element_wise(pa.array(window_parts, pa.string()).take(pa.array(window_index)),
                                       pa.array(view_parts, pa.string()).take(pa.array(view_index)), "")


def plan_recording(
    recording_id: str,
    source_folder: str,
    split: str,
    duration_s: float,
    annotation_rows: Sequence,
    recipe: Recipe,
    with_fill: bool = True,
) -> RecordingPlan:
    """Apply the recipe's windows, views, selection rule and de-duplication policies to one recording's annotations:
    qualifying (window, view) pairs (within `max_views_per_window`), then `min_view_separation_deg`
    (`separate_views`), then `min_clip_gap_frames` (`space_clips_in_time`), each only when set. With
    `fill_max_near_duplicates`, also the clips that may fill a short budget (`RecordingPlan.fill`), unless
    `with_fill` is False (a caller that knows its split fills nothing)."""
    views = tuple(View(float(a), float(e)) for e in recipe.view_elevations_deg for a in recipe.view_azimuths_deg)
    n_label_frames = whole_label_frames(duration_s)
    track = EventTrack.from_rows(annotation_rows)
    starts = window_starts(n_label_frames, recipe.window_frames, recipe.hop_frames)
    onscreen = _Onscreen.of(track, views, starts, n_label_frames, recipe)
    counts, speech_frames, instrument_frames = onscreen.counts, onscreen.speech_frames, onscreen.instrument_frames
    selection = select_windows(counts, starts, recipe.min_onscreen_frames, recipe.max_views_per_window)
    separated = selection.kept
    if recipe.min_view_separation_deg is not None:
        separated = separate_views(counts, separated, view_separation_deg(views), recipe.min_view_separation_deg)
    kept = separated
    if recipe.min_clip_gap_frames is not None:
        kept = space_clips_in_time(separated, starts, recipe.min_clip_gap_frames)
    is_instrument = instrument_frames > speech_frames  # clip_target_class, as a mask
    stages = dict(zip(FUNNEL_STAGES, (None, selection.qualifying, separated, kept)))
    class_counts = {stage: _count_by_class(mask, is_instrument) for stage, mask in stages.items()}

    clips = _planned_clips(recording_id, source_folder, split, recipe, track, onscreen, views, starts, kept)
    fill = None
    if recipe.fill_max_near_duplicates is not None and with_fill:
        fill = _fill_pool(recording_id, source_folder, split, recipe, track, onscreen, views, starts, kept,
                          selection.kept, clips)
    return RecordingPlan(
        recording_id=recording_id,
        views=views,
        n_frames=n_label_frames,
        n_candidates=int(counts.size),
        n_qualifying=int(selection.qualifying.sum()),
        clips=clips,
        n_after_view_separation=int(separated.sum()),
        n_after_clip_gap=int(kept.sum()),
        class_counts=class_counts,
        fill=fill,
    )


def _fill_pool(recording_id: str, source_folder: str, split: str, recipe: Recipe, track: EventTrack,
               onscreen: _Onscreen, views: Sequence[View], starts: np.ndarray, kept: np.ndarray,
               candidates: np.ndarray, clips: PlannedClips) -> FillPool:
    """The recording's `FillPool`: the selection rule's pairs (`candidates`) that the de-duplication removed from
    `kept` visited in the order of their clip hashes (`curation.budget.clip_hash`, as the budget orders clips)."""
    order_key = np.zeros(kept.shape, dtype=np.uint64)
    view_index, window_index = np.nonzero(candidates & ~kept)
    if view_index.size:
        order_key[view_index, window_index] = clip_hashes(
            _clip_ids(recording_id, starts, views, window_index, view_index))
    fill = fill_from_removed(kept, candidates, order_key, starts, view_separation_deg(views), recipe.window_frames,
                             recipe.h_fov_deg)
    pool = _planned_clips(recording_id, source_folder, split, recipe, track, onscreen, views, starts, kept | fill)
    is_fill = fill[pool.arrays["view_index"], np.searchsorted(starts, pool.arrays["start_frame"])]
    near = near_duplicate_counts(np.zeros(len(clips), dtype=np.int64), clips.arrays["start_frame"],
                                 clips.arrays["view_azimuth_deg"], clips.arrays["view_elevation_deg"],
                                 recipe.window_frames, recipe.h_fov_deg)
    return FillPool(pool, is_fill, int(near.sum()))


def plan_drawn_clips(
    recording_id: str,
    source_folder: str,
    split: str,
    duration_s: float,
    annotation_rows: Sequence,
    recipe: Recipe,
    drawn: Sequence[DrawnClip],
) -> RecordingPlan:
    """The recipe's random sampling (`curation.sampling`): one recording's drawn clips, every one of them kept, with
    their events, as `plan_recording` plans the clips the selection rule keeps. No selection rule applies: each
    funnel stage counts the drawn clips. ValueError when a draw is of another recording, repeats another, or has
    its window past the recording's end."""
    n_label_frames = whole_label_frames(duration_s)
    for clip in drawn:
        if clip.recording_id != recording_id or not 0 <= clip.start_frame <= n_label_frames - recipe.window_frames:
            raise ValueError(f"{recording_id}: drawn clip {clip} is not a whole window of this recording "
                             f"({n_label_frames} label frames)")
    if len(set(drawn)) != len(drawn):
        raise ValueError(f"{recording_id}: a clip is drawn twice")
    # No draw: one view and no window (no clip), so that the arrays keep their shapes.
    views = tuple(sorted({View(c.view_azimuth_deg, c.view_elevation_deg) for c in drawn},
                         key=lambda v: (v.view_elevation_deg, v.view_azimuth_deg))) or (View(0.0, 0.0),)
    starts = np.array(sorted({c.start_frame for c in drawn}), dtype=np.int64)
    track = EventTrack.from_rows(annotation_rows)
    onscreen = _Onscreen.of(track, views, starts, n_label_frames, recipe)
    kept = np.zeros(onscreen.counts.shape, dtype=bool)
    view_position = {view: i for i, view in enumerate(views)}
    kept[[view_position[View(c.view_azimuth_deg, c.view_elevation_deg)] for c in drawn],
         np.searchsorted(starts, [c.start_frame for c in drawn])] = True
    clips = _planned_clips(recording_id, source_folder, split, recipe, track, onscreen, views, starts, kept)
    by_class = _count_by_class(kept, onscreen.instrument_frames > onscreen.speech_frames)
    n_drawn = len(drawn)
    return RecordingPlan(recording_id=recording_id, views=views, n_frames=n_label_frames, n_candidates=n_drawn,
                         n_qualifying=n_drawn, clips=clips, n_after_view_separation=n_drawn,
                         n_after_clip_gap=n_drawn, class_counts={stage: dict(by_class) for stage in FUNNEL_STAGES})


@dataclass(frozen=True)
class _Onscreen:
    """A recording's events seen from `views` (`projection`), and per (view, window) the label frames holding an
    onscreen event of interest (`counts`), of speech and of instrument (views × windows arrays)."""

    projection: Any
    class_map: dict[int, str]
    counts: np.ndarray
    speech_frames: np.ndarray
    instrument_frames: np.ndarray

    @classmethod
    def of(cls, track: EventTrack, views: Sequence[View], starts: np.ndarray, n_label_frames: int,
           recipe: Recipe) -> "_Onscreen":
        class_map = recipe.class_map_dict()
        projection = project_events(track, views, recipe.h_fov_deg, recipe.v_fov_deg, recipe.content_width,
                                    recipe.content_height)
        flags = onscreen_frame_flags(track, projection, class_map, n_label_frames)
        counts = window_counts(flags["any"], starts, recipe.window_frames)
        per_target = {t: window_counts(f, starts, recipe.window_frames) for t, f in flags.items() if t != "any"}
        no_frames = np.zeros_like(counts)
        return cls(projection, class_map, counts, per_target.get("speech", no_frames),
                   per_target.get("instrument", no_frames))


def _planned_clips(recording_id: str, source_folder: str, split: str, recipe: Recipe, track: EventTrack,
                   onscreen: _Onscreen, views: Sequence[View], starts: np.ndarray, kept: np.ndarray) -> PlannedClips:
    """The kept (view, window) pairs (`kept`, views × windows, as `onscreen.counts`) as the recording's
    PlannedClips, ordered by window then view, with each clip's counts of onscreen frames and its slice of the
    events."""
    counts, speech_frames, instrument_frames = onscreen.counts, onscreen.speech_frames, onscreen.instrument_frames
    # Kept (window, view) pairs ordered by window then view, as `Selection.kept_pairs`.
    window_index, view_index = np.nonzero(kept.T)
    # Events sorted by frame, so each window's events are one contiguous slice.
    first = np.searchsorted(track.frame, starts)
    stop = np.searchsorted(track.frame, starts + recipe.window_frames)
    # Seconds as the manifests store them, computed once per window that keeps a clip.
    window_start_s = np.zeros(len(starts))
    used = np.unique(window_index)
    window_start_s[used] = [label_frames_to_manifest_s(start) for start in starts[used].tolist()]
    n_speech_frames = speech_frames[view_index, window_index]
    n_instrument_frames = instrument_frames[view_index, window_index]
    arrays = {
        "start_frame": starts[window_index],
        "start_s": window_start_s[window_index],
        "view_index": view_index.astype(np.int64),
        "view_azimuth_deg": np.array([v.view_azimuth_deg for v in views], dtype=np.float64)[view_index],
        "view_elevation_deg": np.array([v.view_elevation_deg for v in views], dtype=np.float64)[view_index],
        "onscreen_frames": counts[view_index, window_index],
        "n_speech_frames": n_speech_frames,
        "n_instrument_frames": n_instrument_frames,
        "target_class": np.asarray(clip_target_class(n_speech_frames, n_instrument_frames), dtype=str),
        "first": first[window_index],
        "stop": stop[window_index],
    }
    shared = RecordingEvents(recording_id, recipe.recipe_hash, track, onscreen.projection, onscreen.class_map)
    return PlannedClips(shared, split, source_folder, label_frames_to_manifest_s(recipe.window_frames),
                        recipe.h_fov_deg, recipe.v_fov_deg, arrays,
                        _clip_ids(recording_id, starts, views, window_index, view_index), recipe.audio_outputs,
                        recipe.layout)


def _count_by_class(mask: np.ndarray | None, is_instrument: np.ndarray) -> dict[str, int]:
    """Pairs in `mask` (None: all pairs) per target class, by `clip_target_class` (`is_instrument` per pair)."""
    n_instrument = int(is_instrument.sum() if mask is None else (mask & is_instrument).sum())
    n_total = int(is_instrument.size if mask is None else mask.sum())
    by_class = {"speech": n_total - n_instrument, "instrument": n_instrument}
    return {target: by_class[target] for target in TARGET_CLASSES}
