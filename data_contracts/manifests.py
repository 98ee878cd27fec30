"""Manifest tables the pipeline writes: recordings, clips, per-frame events, rejects, and the verification stage's
person detections; plus the per-clip table of the Spatial AV-Align evaluation of generated videos.

One frozen dataclass per row and one explicit pyarrow schema per table. Every manifest table carries
``recipe_hash``, the :attr:`data_contracts.recipe.Recipe.recipe_hash` of the recipe that produced it (the evaluation
table describes generated videos, which no recipe of ours produced). Low-cardinality strings are
dictionary-encoded so pandas loads them as categoricals. Validators raise ContractError naming the table, the
0-based row index, the column and the value.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from data_contracts._tables import columns_to_table, named_schema, rows_to_table, table_name, table_to_rows
from data_contracts.classes import CLASS_NAMES, SPLITS, TARGET_CLASSES
from data_contracts.timebase import LABEL_FRAME_S, nearest_label_frames
from data_contracts.errors import ContractError

__all__ = [
    "CLIPS_SCHEMA",
    "DETECTIONS_SCHEMA",
    "EVENTS_SCHEMA",
    "RECORDINGS_SCHEMA",
    "REJECTS_SCHEMA",
    "SPATIAL_AV_ALIGN_SCHEMA",
    "STATUSES",
    "ClipRow",
    "DetectionRow",
    "EventRow",
    "RecordingRow",
    "RejectRow",
    "SpatialAvAlignRow",
    "make_clip_id",
    "recording_id_problem",
    "columns_to_table",
    "rows_to_table",
    "table_to_rows",
    "validate_clips",
    "validate_detections",
    "validate_events",
    "validate_manifests",
    "validate_recordings",
    "validate_rejects",
]

STATUSES = ("ok", "rejected")


@dataclass(frozen=True)
class RecordingRow:
    """One source recording found by discovery.

    Paths are as found, relative to the source root. ``duration_s`` is the length in seconds the recording is
    curated over: the common length of its audio and video (the audio's length when the video was not looked at).
    ``split`` is None when the recording matched no split rule; ``reason`` says why a rejected recording was
    rejected (a short code, also in the rejects table).

    Set once the video was inspected (None before): ``video_start_s``, the first video frame's timestamp relative
    to the audio's t = 0 (earlier grid ticks show that first frame); ``video_gaps``, the number of holes between
    consecutive frame timestamps longer than 1.5 frame periods (each filled with the frame before it);
    ``trimmed_s``, the seconds of the longer of audio and video left out of the common length;
    ``annotation_rows_dropped``, annotation rows past the common length, ignored.
    """

    recording_id: str
    source_folder: str
    split: str | None
    audio_path: str | None
    video_path: str | None
    metadata_path: str | None
    duration_s: float | None
    status: str
    reason: str | None
    audio_sha256: str | None
    video_sha256: str | None
    metadata_sha256: str | None
    recipe_hash: str
    video_start_s: float | None = None
    video_gaps: int | None = None
    trimmed_s: float | None = None
    annotation_rows_dropped: int | None = None


@dataclass(frozen=True)
class ClipRow:
    """One kept clip: a window of a recording seen from one view direction.

    ``start_frame`` is the first 100 ms label frame of the window in the recording and ``start_s`` its time in
    seconds; ``duration_s`` the clip length in seconds. The view looks at ``view_azimuth_deg`` (+ = left) and
    ``view_elevation_deg`` (+ = up) with fields of view ``h_fov_deg`` x ``v_fov_deg``. The ``*_frames`` counts are
    label frames (100 ms) of the window with at least one onscreen event of interest: of either target class
    (``onscreen_frames``, the count the recipe's ``min_onscreen_frames`` thresholds), of speech, of instrument.
    Paths are relative to the output root. ``visual_confirmation_rate`` is the fraction of the clip's onscreen speech
    events that the verification stage confirmed with a person box (None: not verified, or no such event).
    """

    clip_id: str
    split: str
    recording_id: str
    source_folder: str
    start_frame: int
    start_s: float
    duration_s: float
    view_azimuth_deg: float
    view_elevation_deg: float
    h_fov_deg: float
    v_fov_deg: float
    onscreen_frames: int
    n_speech_frames: int
    n_instrument_frames: int
    video_path: str
    audio_path: str
    metadata_path: str
    recipe_hash: str
    visual_confirmation_rate: float | None = None


@dataclass(frozen=True)
class EventRow:
    """One sound event in one label frame of a clip.

    ``frame`` counts 100 ms label frames from the clip start. ``azimuth_deg``/``elevation_deg`` are relative to
    the view in degrees (0 = view centre, + = left/up). ``x_px``/``y_px`` are pixels of the content picture
    (x right, y down), None when the event is offscreen. ``target_class`` is the recipe's class of interest
    ("speech", "instrument") or None. ``visually_confirmed`` is set by the verification stage for onscreen speech
    events only: True when a person box lies at ``x_px`` (the Spatial AV-Align rule), None for every other event
    and when the stage did not run.
    """

    clip_id: str
    recording_id: str
    frame: int
    class_id: int
    class_name: str
    target_class: str | None
    source_index: int
    azimuth_deg: float
    elevation_deg: float
    onscreen: bool
    x_px: float | None
    y_px: float | None
    recipe_hash: str
    visually_confirmed: bool | None = None


@dataclass(frozen=True)
class RejectRow:
    """One rejected input or clip: ``stage`` that rejected it, stable ``reason`` code (e.g. "no_video"), ``detail``."""

    stage: str
    recording_id: str | None
    clip_id: str | None
    reason: str
    detail: str
    recipe_hash: str


@dataclass(frozen=True)
class DetectionRow:
    """One box the verification stage's detector found in one video frame of a kept clip.

    ``frame`` is the video frame index in the clip (the recipe's fps: 4 per second, 0..19 for SAVGBench), unlike
    the 100 ms label frames of events. ``class_name`` is the detector's class (one the recipe counts as a person),
    ``score`` its confidence in [0, 1]. ``x0``..``y1`` are the box corners in pixels of the content picture (the
    256×144 picture without the letterbox bars; x right, y down).
    """

    clip_id: str
    frame: int
    class_name: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float
    recipe_hash: str


@dataclass(frozen=True)
class SpatialAvAlignRow:
    """Spatial AV-Align of one generated video: ``tp`` and ``fn`` over its scored localisations (active, and inside
    the picture), ``score`` = tp / (tp + fn) or None when nothing was scored. ``video_path`` is as found (relative
    to the evaluated folder); ``localizer`` names where the localisations came from ("mid_side" or a CSV path).
    """

    clip: str
    video_path: str
    localizer: str
    n_video_frames: int
    tp: int
    fn: int
    score: float | None


def _category() -> pa.DataType:
    # int32 indices: what pyarrow uses when it reads a dictionary column back from Parquet, so the types match.
    return pa.dictionary(pa.int32(), pa.string())


RECORDINGS_SCHEMA = named_schema(
    "recordings",
    [
        pa.field("recording_id", pa.string(), nullable=False),
        pa.field("source_folder", _category(), nullable=False),
        pa.field("split", _category(), nullable=True),
        pa.field("audio_path", pa.string(), nullable=True),
        pa.field("video_path", pa.string(), nullable=True),
        pa.field("metadata_path", pa.string(), nullable=True),
        pa.field("duration_s", pa.float64(), nullable=True),
        pa.field("status", _category(), nullable=False),
        pa.field("reason", _category(), nullable=True),
        pa.field("audio_sha256", pa.string(), nullable=True),
        pa.field("video_sha256", pa.string(), nullable=True),
        pa.field("metadata_sha256", pa.string(), nullable=True),
        pa.field("recipe_hash", pa.string(), nullable=False),
        pa.field("video_start_s", pa.float64(), nullable=True),
        pa.field("video_gaps", pa.int32(), nullable=True),
        pa.field("trimmed_s", pa.float64(), nullable=True),
        pa.field("annotation_rows_dropped", pa.int32(), nullable=True),
    ],
)

CLIPS_SCHEMA = named_schema(
    "clips",
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("split", _category(), nullable=False),
        pa.field("recording_id", pa.string(), nullable=False),
        pa.field("source_folder", _category(), nullable=False),
        pa.field("start_frame", pa.int32(), nullable=False),
        pa.field("start_s", pa.float64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("view_azimuth_deg", pa.float64(), nullable=False),
        pa.field("view_elevation_deg", pa.float64(), nullable=False),
        pa.field("h_fov_deg", pa.float64(), nullable=False),
        pa.field("v_fov_deg", pa.float64(), nullable=False),
        pa.field("onscreen_frames", pa.int32(), nullable=False),
        pa.field("n_speech_frames", pa.int32(), nullable=False),
        pa.field("n_instrument_frames", pa.int32(), nullable=False),
        pa.field("video_path", pa.string(), nullable=False),
        pa.field("audio_path", pa.string(), nullable=False),
        pa.field("metadata_path", pa.string(), nullable=False),
        pa.field("recipe_hash", pa.string(), nullable=False),
        pa.field("visual_confirmation_rate", pa.float64(), nullable=True),
    ],
)

EVENTS_SCHEMA = named_schema(
    "events",
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("recording_id", pa.string(), nullable=False),
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("class_id", pa.int16(), nullable=False),
        pa.field("class_name", _category(), nullable=False),
        pa.field("target_class", _category(), nullable=True),
        pa.field("source_index", pa.int16(), nullable=False),
        pa.field("azimuth_deg", pa.float64(), nullable=False),
        pa.field("elevation_deg", pa.float64(), nullable=False),
        pa.field("onscreen", pa.bool_(), nullable=False),
        pa.field("x_px", pa.float64(), nullable=True),
        pa.field("y_px", pa.float64(), nullable=True),
        pa.field("recipe_hash", pa.string(), nullable=False),
        pa.field("visually_confirmed", pa.bool_(), nullable=True),
    ],
)

REJECTS_SCHEMA = named_schema(
    "rejects",
    [
        pa.field("stage", _category(), nullable=False),
        pa.field("recording_id", pa.string(), nullable=True),
        pa.field("clip_id", pa.string(), nullable=True),
        pa.field("reason", _category(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("recipe_hash", pa.string(), nullable=False),
    ],
)

DETECTIONS_SCHEMA = named_schema(
    "detections",
    [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("class_name", _category(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("x0", pa.float64(), nullable=False),
        pa.field("y0", pa.float64(), nullable=False),
        pa.field("x1", pa.float64(), nullable=False),
        pa.field("y1", pa.float64(), nullable=False),
        pa.field("recipe_hash", pa.string(), nullable=False),
    ],
)

SPATIAL_AV_ALIGN_SCHEMA = named_schema(
    "spatial_av_align",
    [
        pa.field("clip", pa.string(), nullable=False),
        pa.field("video_path", pa.string(), nullable=False),
        pa.field("localizer", pa.string(), nullable=False),
        pa.field("n_video_frames", pa.int32(), nullable=False),
        pa.field("tp", pa.int32(), nullable=False),
        pa.field("fn", pa.int32(), nullable=False),
        pa.field("score", pa.float64(), nullable=True),
    ],
)

# Reject reasons are grouped and counted by code, so a code must stay a plain identifier.
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# What make_clip_id accepts as a recording id: no path separators, spaces or leading dot in file names.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def recording_id_problem(recording_id: str) -> str | None:
    """Why `recording_id` cannot name clip files (None if it can): clip ids, and so file names, start with it."""
    if _SAFE_ID.fullmatch(recording_id):
        return None
    return (f"recording id {recording_id!r} cannot start a file-system-safe clip id: only ASCII letters, digits, "
            f"'.', '_' and '-', not starting with '.', '_' or '-' ({_SAFE_ID.pattern})")


def make_clip_id(recording_id: str, start_frame: int, view_azimuth_deg: float, view_elevation_deg: float) -> str:
    """Deterministic, filesystem-safe id of a clip, e.g. ``fold3_room21_mix001_f00150_az+010_el+00``.

    ``start_frame`` is the first 100 ms label frame; angles are in degrees. Integral angles are written as signed
    zero-padded integers, others with three decimals (``az+012.500``); an angle needing more than three decimals
    raises, since rounding it could give two views the same id. -0.0 and 0 give the same id.
    """
    if not _SAFE_ID.fullmatch(recording_id):
        raise ContractError(f"clip id: recording_id={recording_id!r} is not filesystem-safe ({_SAFE_ID.pattern})")
    if not isinstance(start_frame, int) or isinstance(start_frame, bool) or start_frame < 0:
        raise ContractError(f"clip id: start_frame={start_frame!r} is not a non-negative integer")
    azimuth = _format_angle("view_azimuth_deg", view_azimuth_deg, integer_digits=3)
    elevation = _format_angle("view_elevation_deg", view_elevation_deg, integer_digits=2)
    return f"{recording_id}_f{start_frame:05d}_az{azimuth}_el{elevation}"


def _format_angle(name: str, value: float, integer_digits: int) -> str:
    angle = float(value)
    if not math.isfinite(angle) or round(angle, 3) != angle:
        raise ContractError(f"clip id: {name}={value!r} is not finite or has more than 3 decimals")
    # Adding 0.0 turns -0.0 into +0.0, so both spellings of zero name the same view.
    angle += 0.0
    sign = "-" if angle < 0 else "+"
    if angle.is_integer():
        return f"{sign}{int(abs(angle)):0{integer_digits}d}"
    return f"{sign}{abs(angle):0{integer_digits + 4}.3f}"


def validate_recordings(table: pa.Table) -> None:
    """Check a recordings table: schema, non-null columns, unique ids, split/status domains, paths, hashes."""
    name = _check_schema(table, RECORDINGS_SCHEMA)
    # One row per (source folder, recording id); an id found in two folders is allowed only as rejected rows, since
    # clip ids and splits are keyed by recording id.
    _check_unique(name, table, ["source_folder", "recording_id"])
    ids, statuses = table.column("recording_id").to_pylist(), table.column("status").to_pylist()
    first_row_of_id: dict[str, int] = {}
    for index, recording_id in enumerate(ids):
        first = first_row_of_id.setdefault(recording_id, index)
        if first != index and "ok" in (statuses[first], statuses[index]):
            raise ContractError(f"{name}: row {index}: recording_id={recording_id!r} duplicates row {first}, "
                                "and one of them has status 'ok'")
    _check_non_empty(name, table, "recording_id")
    _check_in(name, table, "split", SPLITS)
    _check_in(name, table, "status", STATUSES)
    _check_positive(name, table, "duration_s")
    for column in ("video_gaps", "trimmed_s", "annotation_rows_dropped"):
        _check_range(name, table, column, 0, math.inf)
    for column in ("audio_sha256", "video_sha256", "metadata_sha256"):
        _check_pattern(name, table, column, _SHA256, "is not a lowercase hex sha256")
    ok = pc.equal(pc.cast(table.column("status"), pa.string()), "ok")
    # A recording feeding clips needs a split and all three files; anything less must be a rejected one.
    for column in ("split", "audio_path", "video_path", "metadata_path"):
        _check_mask(name, table, column, pc.and_(ok, pc.is_null(table.column(column))), "is null for status 'ok'")
    rejected_without_reason = pc.and_(pc.invert(ok), pc.is_null(table.column("reason")))
    _check_mask(name, table, "reason", rejected_without_reason, "is null for status 'rejected'")
    _check_pattern(name, table, "reason", _REASON_CODE, "is not a reason code (lowercase_with_underscores)")


def validate_clips(table: pa.Table) -> None:
    """Check a clips table: schema, non-null columns, unique clip ids, split, times, view angles and counts."""
    name = _check_schema(table, CLIPS_SCHEMA)
    _check_unique(name, table, ["clip_id"])
    _check_non_empty(name, table, "clip_id")
    _check_in(name, table, "split", SPLITS)
    _check_range(name, table, "start_frame", 0, math.inf)
    # start_s is derived from start_frame; a mismatch means one of them was computed on another time grid.
    expected_start_s = pc.multiply(pc.cast(table.column("start_frame"), pa.float64()), LABEL_FRAME_S)
    # "not within" rather than "greater than", so that a NaN start_s counts as a mismatch.
    start_mismatch = pc.invert(pc.less_equal(pc.abs(pc.subtract(table.column("start_s"), expected_start_s)), 1e-6))
    _check_mask(name, table, "start_s", start_mismatch, f"is not start_frame * {LABEL_FRAME_S} s")
    _check_positive(name, table, "duration_s")
    _check_range(name, table, "view_azimuth_deg", -180, 360, high_inclusive=False)
    _check_range(name, table, "view_elevation_deg", -90, 90)
    for column in ("h_fov_deg", "v_fov_deg"):
        _check_range(name, table, column, 0, 180, low_inclusive=False, high_inclusive=False)
    clip_label_frames = pc.divide(table.column("duration_s"), LABEL_FRAME_S)
    for column in ("onscreen_frames", "n_speech_frames", "n_instrument_frames"):
        _check_range(name, table, column, 0, math.inf)
        # The 1e-6 absorbs float error in duration_s / 0.1; counts are whole label frames.
        too_many = pc.greater(pc.cast(table.column(column), pa.float64()), pc.add(clip_label_frames, 1e-6))
        _check_mask(name, table, column, too_many, "exceeds the clip's label frames (duration_s / 0.1 s)")
    for column in ("video_path", "audio_path", "metadata_path"):
        _check_non_empty(name, table, column)
    _check_range(name, table, "visual_confirmation_rate", 0, 1)


def validate_events(table: pa.Table) -> None:
    """Check an events table: schema, classes and names, angles relative to the view, onscreen <=> pixels."""
    name = _check_schema(table, EVENTS_SCHEMA)
    _check_unique(name, table, ["clip_id", "frame", "class_id", "source_index"])
    _check_range(name, table, "frame", 0, math.inf)
    _check_range(name, table, "source_index", 0, math.inf)
    _check_in(name, table, "class_id", list(CLASS_NAMES))
    class_names = table.column("class_name").to_pylist()
    for index, (class_id, class_name) in enumerate(zip(table.column("class_id").to_pylist(), class_names, strict=True)):
        if CLASS_NAMES[class_id] != class_name:
            raise ContractError(
                f"{name}: row {index}: class_name={class_name!r} but class_id={class_id} is {CLASS_NAMES[class_id]!r}"
            )
    _check_in(name, table, "target_class", TARGET_CLASSES)
    _check_range(name, table, "azimuth_deg", -180, 180)
    _check_range(name, table, "elevation_deg", -90, 90)
    onscreen = table.column("onscreen")
    for column in ("x_px", "y_px"):
        pixels = table.column(column)
        _check_mask(name, table, column, pc.and_(onscreen, pc.is_null(pixels)), "is null for an onscreen event")
        offscreen_with_pixel = pc.and_(pc.invert(onscreen), pc.is_valid(pixels))
        _check_mask(name, table, column, offscreen_with_pixel, "is set for an offscreen event (must be null)")
        _check_mask(name, table, column, pc.is_nan(pixels), "is NaN (use null for no pixel)")
    # Verification checks onscreen speech only; a value anywhere else cannot have come from the rule.
    onscreen_speech = pc.fill_null(pc.and_(onscreen, pc.equal(pc.cast(table.column("target_class"), pa.string()),
                                                             "speech")), False)
    confirmed_elsewhere = pc.and_(pc.invert(onscreen_speech), pc.is_valid(table.column("visually_confirmed")))
    _check_mask(name, table, "visually_confirmed", confirmed_elsewhere,
                "is set for an event that is not onscreen speech (must be null)")


def validate_detections(table: pa.Table) -> None:
    """Check a detections table: schema, non-null columns, frames, scores in [0, 1], boxes with x0 <= x1, y0 <= y1."""
    name = _check_schema(table, DETECTIONS_SCHEMA)
    _check_non_empty(name, table, "clip_id")
    _check_range(name, table, "frame", 0, math.inf)
    _check_range(name, table, "score", 0, 1)
    for column in ("x0", "y0", "x1", "y1"):
        _check_range(name, table, column, 0, math.inf)
    _check_mask(name, table, "x1", pc.less(table.column("x1"), table.column("x0")), "is less than x0")
    _check_mask(name, table, "y1", pc.less(table.column("y1"), table.column("y0")), "is less than y0")


def validate_rejects(table: pa.Table) -> None:
    """Check a rejects table: schema, non-null columns, stable reason codes, and a named stage."""
    name = _check_schema(table, REJECTS_SCHEMA)
    _check_non_empty(name, table, "stage")
    _check_pattern(name, table, "reason", _REASON_CODE, "is not a reason code (lowercase_with_underscores)")


def validate_manifests(recordings: pa.Table, clips: pa.Table, events: pa.Table, rejects: pa.Table,
                       detections: pa.Table | None = None) -> None:
    """Validate each table, then the links between them.

    Cross-table rules: one recipe_hash across all tables; each clip's recording exists with status "ok", in
    the same split and source folder (so no recording feeds two splits); each event's clip exists, belongs to the
    same recording and lasts past the event's frame; no rejected clip id is also a kept clip; a clip's
    visual_confirmation_rate is null exactly when none of its events has visually_confirmed, and otherwise every
    onscreen speech event of the clip has it and the rate is their confirmed fraction; each detection's clip exists.
    """
    validate_recordings(recordings)
    validate_clips(clips)
    validate_events(events)
    validate_rejects(rejects)
    tables = {"recordings": recordings, "clips": clips, "events": events, "rejects": rejects}
    if detections is not None:
        validate_detections(detections)
        tables["detections"] = detections
    _check_one_recipe_hash(tables)

    recording_columns = ["recording_id", "source_folder", "split", "status"]
    recording_by_id = {row["recording_id"]: row for row in recordings.select(recording_columns).to_pylist()}
    split_of_recording: dict[str, tuple[str, int]] = {}
    clip_rows = clips.select(["clip_id", "recording_id", "source_folder", "split"]).to_pylist()
    for index, clip in enumerate(clip_rows):
        recording_id = clip["recording_id"]
        where = f"clips: row {index}: recording_id={recording_id!r}"
        if recording_id in split_of_recording and split_of_recording[recording_id][0] != clip["split"]:
            first_split, first_index = split_of_recording[recording_id]
            raise ContractError(
                f"{where} is in split {clip['split']!r} but row {first_index} puts it in {first_split!r}; "
                "a recording must feed one split only"
            )
        split_of_recording.setdefault(recording_id, (clip["split"], index))
        recording = recording_by_id.get(recording_id)
        if recording is None:
            raise ContractError(f"{where} is not in recordings")
        if recording["status"] != "ok":
            raise ContractError(f"{where} has status {recording['status']!r} in recordings, not 'ok'")
        for column in ("split", "source_folder"):
            if recording[column] != clip[column]:
                raise ContractError(f"{where}: {column}={clip[column]!r} but recordings says {recording[column]!r}")

    recording_of_clip = {clip["clip_id"]: clip["recording_id"] for clip in clip_rows}
    label_frames_of_clip = {
        clip_id: nearest_label_frames(duration_s)
        for clip_id, duration_s in zip(
            clips.column("clip_id").to_pylist(), clips.column("duration_s").to_pylist(), strict=True
        )
    }
    event_columns = (events.column(column).to_pylist() for column in ("clip_id", "recording_id", "frame"))
    for index, (clip_id, recording_id, frame) in enumerate(zip(*event_columns, strict=True)):
        where = f"events: row {index}"
        if clip_id not in recording_of_clip:
            raise ContractError(f"{where}: clip_id={clip_id!r} is not in clips")
        if recording_of_clip[clip_id] != recording_id:
            raise ContractError(
                f"{where}: recording_id={recording_id!r} but clip {clip_id!r} is from {recording_of_clip[clip_id]!r}"
            )
        if frame >= label_frames_of_clip[clip_id]:
            raise ContractError(
                f"{where}: frame={frame} is beyond clip {clip_id!r}, whose label frames are "
                f"0..{label_frames_of_clip[clip_id] - 1}"
            )

    for index, clip_id in enumerate(rejects.column("clip_id").to_pylist()):
        if clip_id is not None and clip_id in recording_of_clip:
            raise ContractError(f"rejects: row {index}: clip_id={clip_id!r} is rejected but also kept in clips")

    _check_confirmation_rates(clips, events)
    if detections is not None:
        for index, clip_id in enumerate(detections.column("clip_id").to_pylist()):
            if clip_id not in recording_of_clip:
                raise ContractError(f"detections: row {index}: clip_id={clip_id!r} is not in clips")


def _check_confirmation_rates(clips: pa.Table, events: pa.Table) -> None:
    """Each clip's visual_confirmation_rate against its events' visually_confirmed (see validate_manifests)."""
    checked: dict[str, list[int]] = {}  # clip id -> [confirmed, checked, onscreen speech events]
    columns = ("clip_id", "onscreen", "target_class", "visually_confirmed")
    for clip_id, onscreen, target, confirmed in zip(*(events.column(c).to_pylist() for c in columns), strict=True):
        counts = checked.setdefault(clip_id, [0, 0, 0])
        if onscreen and target == "speech":
            counts[2] += 1
        if confirmed is not None:
            counts[0] += confirmed
            counts[1] += 1
    rates = zip(clips.column("clip_id").to_pylist(), clips.column("visual_confirmation_rate").to_pylist(), strict=True)
    for index, (clip_id, rate) in enumerate(rates):
        confirmed, n_checked, n_speech = checked.get(clip_id, [0, 0, 0])
        where = f"clips: row {index}: visual_confirmation_rate={rate!r} of clip {clip_id!r}"
        if rate is None:
            if n_checked:
                raise ContractError(f"{where} is null but {n_checked} of its events have visually_confirmed")
            continue
        if n_checked == 0:
            raise ContractError(f"{where} is set but none of its events has visually_confirmed")
        if n_checked != n_speech:
            raise ContractError(f"{where}: only {n_checked} of its {n_speech} onscreen speech events were checked")
        if abs(rate - confirmed / n_checked) > 1e-9:
            raise ContractError(f"{where} but {confirmed} of its {n_checked} checked events are visually_confirmed")


def _check_schema(table: pa.Table, schema: pa.Schema) -> str:
    name = table_name(schema)
    if table.schema.names != schema.names:
        missing = [column for column in schema.names if column not in table.schema.names]
        unexpected = [column for column in table.schema.names if column not in schema.names]
        raise ContractError(
            f"{name}: columns {table.schema.names} do not match the schema "
            f"(missing {missing}, unexpected {unexpected}, or out of order)"
        )
    for field in schema:
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise ContractError(f"{name}: column {field.name} has type {actual}, expected {field.type}")
    for field in schema:
        if not field.nullable:
            _check_mask(name, table, field.name, pc.is_null(table.column(field.name)), "is null (non-null column)")
    return name


def _check_mask(name: str, table: pa.Table, column: str, bad: pa.ChunkedArray | pa.Array, problem: str) -> None:
    """Raise for the first row where ``bad`` is true (null counts as fine: nullability is checked separately)."""
    bad = pc.fill_null(bad, False)
    if len(bad) and pc.any(bad).as_py():
        index = pc.index(bad, True).as_py()
        value = table.column(column)[index].as_py()
        raise ContractError(f"{name}: row {index}: {column}={value!r} {problem}")


def _check_range(
    name: str,
    table: pa.Table,
    column: str,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    values = table.column(column)
    below = pc.less(values, low) if low_inclusive else pc.less_equal(values, low)
    above = pc.greater(values, high) if high_inclusive else pc.greater_equal(values, high)
    bad = pc.or_(below, above)
    if pa.types.is_floating(values.type):
        # NaN compares false with every bound, so it needs its own test.
        bad = pc.or_(bad, pc.is_nan(values))
    interval = f"{'[' if low_inclusive else '('}{low:g}, {high:g}{']' if high_inclusive else ')'}"
    _check_mask(name, table, column, bad, f"out of range {interval}")


def _check_positive(name: str, table: pa.Table, column: str) -> None:
    _check_range(name, table, column, 0, math.inf, low_inclusive=False)


def _check_in(name: str, table: pa.Table, column: str, allowed: Iterable[object]) -> None:
    allowed = list(allowed)
    values = table.column(column)
    if pa.types.is_dictionary(values.type):
        values = pc.cast(values, values.type.value_type)
    # Nulls pass here: whether a column may be null is the schema's rule, checked in _check_schema.
    not_allowed = pc.and_(
        pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed, type=values.type)))
    )
    _check_mask(name, table, column, not_allowed, f"is not one of {allowed}")


def _check_pattern(name: str, table: pa.Table, column: str, pattern: re.Pattern[str], problem: str) -> None:
    values = pc.cast(table.column(column), pa.string())
    _check_mask(name, table, column, pc.invert(pc.match_substring_regex(values, f"^(?:{pattern.pattern})$")), problem)


def _check_non_empty(name: str, table: pa.Table, column: str) -> None:
    values = pc.cast(table.column(column), pa.string())
    _check_mask(name, table, column, pc.equal(pc.utf8_length(values), 0), "is empty")


def _check_unique(name: str, table: pa.Table, columns: list[str]) -> None:
    first_row_of_key: dict[tuple[object, ...], int] = {}
    for index, key in enumerate(zip(*(table.column(column).to_pylist() for column in columns), strict=True)):
        if key in first_row_of_key:
            shown = ", ".join(f"{column}={value!r}" for column, value in zip(columns, key, strict=True))
            raise ContractError(f"{name}: row {index}: {shown} duplicates row {first_row_of_key[key]}")
        first_row_of_key[key] = index


def _check_one_recipe_hash(named_tables: dict[str, pa.Table]) -> None:
    first: tuple[str, str] | None = None
    for name, table in named_tables.items():
        hashes = table.column("recipe_hash")
        for recipe_hash in pc.unique(hashes).to_pylist():
            if first is None:
                first = (recipe_hash, name)
            elif recipe_hash != first[0]:
                row = pc.index(hashes, recipe_hash).as_py()
                raise ContractError(
                    f"{name}: row {row}: recipe_hash={recipe_hash!r} but {first[1]} has {first[0]!r}; "
                    "all manifests must come from one recipe"
                )
