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
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_contracts._tables import columns_to_table, named_schema, rows_to_table, table_name, table_to_rows
from data_contracts.classes import CLASS_NAMES, SPLITS, TARGET_CLASSES
from data_contracts.timebase import LABEL_FRAME_S
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
    "ManifestChecker",
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
    "validate_part",
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
    ``target_class`` is the clip's target class, the one with more of these frames: "instrument" when
    ``n_instrument_frames`` > ``n_speech_frames``, else "speech" (the class balance counts clips by it). Paths are
    relative to the output root. ``visual_confirmation_rate`` is the fraction of the clip's onscreen speech events
    that the verification stage confirmed with a person box (None: not verified, or no such event). ``foa_path`` is
    the clip's first-order ambisonics rotated to the view (4-channel float WAV), None when the recipe's
    ``audio_outputs`` does not ask for it.
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
    target_class: str
    video_path: str
    audio_path: str
    metadata_path: str
    recipe_hash: str
    visual_confirmation_rate: float | None = None
    foa_path: str | None = None


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
    """Spatial AV-Align of one generated video: ``tp`` and ``fn`` over its localisations (every active one, inside
    the picture or not, by the authors' rule: docs/conventions.md), ``score`` = tp / (tp + fn) or None when nothing
    was scored. ``video_path`` is as found (relative
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
        pa.field("target_class", _category(), nullable=False),
        pa.field("video_path", pa.string(), nullable=False),
        pa.field("audio_path", pa.string(), nullable=False),
        pa.field("metadata_path", pa.string(), nullable=False),
        pa.field("recipe_hash", pa.string(), nullable=False),
        pa.field("visual_confirmation_rate", pa.float64(), nullable=True),
        pa.field("foa_path", pa.string(), nullable=True),
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

_SCHEMAS = {table_name(schema): schema
            for schema in (RECORDINGS_SCHEMA, CLIPS_SCHEMA, EVENTS_SCHEMA, REJECTS_SCHEMA, DETECTIONS_SCHEMA)}
# Class names by class id (index), for looking names up in Arrow.
_CLASS_NAME_OF_ID = pa.array([CLASS_NAMES.get(class_id) for class_id in range(max(CLASS_NAMES) + 1)], pa.string())

# Reject reasons are grouped and counted by code, so a code must stay a plain identifier.
_REASON_CODE = re.compile(r"[a-z][a-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# What make_clip_id accepts as a recording id: no path separators, spaces or leading dot in file names.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What make_clip_id puts after "<recording_id>_": exactly two underscores, so a clip id names its recording.
_CLIP_ID_SUFFIX = re.compile(r"f[0-9]{5,}_az[+-][0-9]{3}(?:\.[0-9]{3})?_el[+-][0-9]{2}(?:\.[0-9]{3})?")


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
    ok = _is_value(table.column("status"), "ok")
    ok_rows = ok.to_numpy(zero_copy_only=False)
    first_row = _first_occurrence(table.column("recording_id"))
    index = _first_true((first_row != np.arange(table.num_rows)) & (ok_rows[first_row] | ok_rows))
    if index is not None:
        recording_id = table.column("recording_id")[index].as_py()
        raise ContractError(f"{name}: row {index}: recording_id={recording_id!r} duplicates row {first_row[index]}, "
                            "and one of them has status 'ok'")
    _check_non_empty(name, table, "recording_id")
    _check_in(name, table, "split", SPLITS)
    _check_in(name, table, "status", STATUSES)
    _check_positive(name, table, "duration_s")
    for column in ("video_gaps", "trimmed_s", "annotation_rows_dropped"):
        _check_range(name, table, column, 0, math.inf)
    for column in ("audio_sha256", "video_sha256", "metadata_sha256"):
        _check_pattern(name, table, column, _SHA256, "is not a lowercase hex sha256")
    # A recording feeding clips needs a split and all three files; anything less must be a rejected one.
    for column in ("split", "audio_path", "video_path", "metadata_path"):
        _check_mask(name, table, column, pc.and_(ok, pc.is_null(table.column(column))), "is null for status 'ok'")
    rejected_without_reason = pc.and_(pc.invert(ok), pc.is_null(table.column("reason")))
    _check_mask(name, table, "reason", rejected_without_reason, "is null for status 'rejected'")
    _check_pattern(name, table, "reason", _REASON_CODE, "is not a reason code (lowercase_with_underscores)")


def validate_clips(table: pa.Table) -> None:
    """Check a clips table: schema, non-null columns, unique clip ids, split, times, view angles, counts, and each
    target_class against its counts."""
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
    for column in ("video_path", "audio_path", "metadata_path", "foa_path"):
        _check_non_empty(name, table, column)
    _check_range(name, table, "visual_confirmation_rate", 0, 1)
    _check_in(name, table, "target_class", TARGET_CLASSES)
    # The rule of curation.selection.clip_target_class: the class with more onscreen frames, ties to speech.
    speech, instrument = (table.column(column) for column in ("n_speech_frames", "n_instrument_frames"))
    instrument_wins = pc.greater(instrument, speech)
    index = _first_true(pc.not_equal(_is_value(table.column("target_class"), "instrument"), instrument_wins))
    if index is not None:
        expected = "instrument" if instrument_wins[index].as_py() else "speech"
        raise ContractError(f"{name}: row {index}: target_class={table.column('target_class')[index].as_py()!r} but "
                            f"n_speech_frames={speech[index].as_py()} and n_instrument_frames="
                            f"{instrument[index].as_py()} make it {expected!r} (the class with more onscreen frames; "
                            "ties: 'speech')")


def validate_events(table: pa.Table) -> None:
    """Check an events table: schema, classes and names, angles relative to the view, onscreen <=> pixels."""
    name = _check_schema(table, EVENTS_SCHEMA)
    _check_unique(name, table, ["clip_id", "frame", "class_id", "source_index"])
    _check_range(name, table, "frame", 0, math.inf)
    _check_range(name, table, "source_index", 0, math.inf)
    _check_in(name, table, "class_id", list(CLASS_NAMES))
    # The class id each name belongs to, looked up once per dictionary value; an unknown name gets null.
    class_id_of_name = _on_values(table.column("class_name"),
                                  lambda names: pc.index_in(names, value_set=_CLASS_NAME_OF_ID))
    class_ids = table.column("class_id")
    index = _first_true(pc.fill_null(pc.not_equal(class_id_of_name, class_ids), True))
    if index is not None:
        class_name, class_id = table.column("class_name")[index].as_py(), class_ids[index].as_py()
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
    confirmed_elsewhere = pc.and_(pc.invert(_onscreen_speech(table)), pc.is_valid(table.column("visually_confirmed")))
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
    Vectorised (Arrow compute and numpy, no Python loop over rows).
    """
    tables = _validate_tables(recordings, clips, events, rejects, detections)
    _check_one_recipe_hash(tables)
    _check_links(recordings, clips, events, rejects, detections)


def validate_part(recording: RecordingRow | dict, clips: pa.Table, events: pa.Table, rejects: pa.Table,
                  detections: pa.Table | None = None) -> None:
    """Validate one recording's part of the manifests: the tables it adds, and their links within the recording.

    ``recording`` is the recording's row (a RecordingRow, or a dict of its fields). Every check of
    :func:`validate_manifests` applies, with the recording as the only row of recordings; besides, every clip is of
    this recording and its clip id, like any rejected clip id, is of the form :func:`make_clip_id` gives it
    (``<recording_id>_f<frame>_az..._el...``), so clip ids of different recordings never collide (see
    :class:`ManifestChecker`).
    """
    row = _recording_row(recording)
    recordings = rows_to_table([row], RECORDINGS_SCHEMA)
    tables = _validate_tables(recordings, clips, events, rejects, detections)
    _check_one_recipe_hash(tables)
    _check_clips_of_recording(clips, rejects, row.recording_id)
    _check_links(recordings, clips, events, rejects, detections)


class ManifestChecker:
    """Cross-recording checks of manifests merged from per-recording parts, one part at a time.

    Built with the run's recordings table (validated here); :meth:`add_part` is called once per recording, in the
    order the merge writes the parts, with that recording's tables, already checked by :func:`validate_part`. It
    checks what no single part can: the recording is in recordings (with status "ok" if it keeps clips, in the
    split and source folder its clips name) and was not merged before, and every part comes from one recipe. Row
    numbers in its errors count rows of the merged table, parts in the order they were added.

    Clip ids are unique across the merged clips without keeping them: a part's clip ids are unique and each is
    ``<recording_id>_f<frame>_az<angle>_el<angle>``, a suffix with exactly two underscores, so the recording id is
    what remains of a clip id without its last three ``_``-separated fields; as recording ids are unique, two
    parts' clip ids differ. So the checker re-checks, per part (cheap, vectorised), that its clips are of its
    recording with such ids and unique, that its rejected clip ids are of its recording too and not kept, and that
    its events and detections refer to its own clips: then the merged events and detections link to the merged
    clips, and no rejected clip of any part is kept. Memory is O(number of recordings): the recordings' status,
    split and folder, the set of merged ids, and row counts.
    """

    def __init__(self, recordings: pa.Table):
        validate_recordings(recordings)
        _check_one_recipe_hash({"recordings": recordings})
        hashes = pc.unique(recordings.column("recipe_hash")).to_pylist()
        self._recipe_hash: tuple[str, str] | None = (hashes[0], "recordings") if hashes else None
        columns = [_as_strings(recordings.column(column)).to_pylist()
                   for column in ("recording_id", "status", "split", "source_folder")]
        # Last row wins for an id listed twice (allowed for rejected rows only, so the status is the same).
        self._recordings = {recording_id: rest for recording_id, *rest in zip(*columns, strict=True)}
        self._merged: set[str] = set()
        self._rows = dict.fromkeys(("clips", "events", "rejects", "detections"), 0)
        self._finished = False

    def add_part(self, recording_id: str, clips: pa.Table, events: pa.Table, rejects: pa.Table,
                 detections: pa.Table | None = None) -> None:
        """Check one recording's part against the recordings and the parts added before it (see the class)."""
        where = f"part of recording {recording_id!r}"
        if self._finished:
            raise ContractError(f"{where}: added after finish()")
        if recording_id in self._merged:
            raise ContractError(f"{where}: recording_id={recording_id!r} was merged before; a recording has one part")
        if recording_id not in self._recordings:
            raise ContractError(f"{where}: recording_id={recording_id!r} is not in recordings")
        tables = {"clips": clips, "events": events, "rejects": rejects}
        if detections is not None:
            tables["detections"] = detections
        for name, table in tables.items():
            _check_schema(table, _SCHEMAS[name])
        self._check_recipe_hash(tables)
        status, split, source_folder = self._recordings[recording_id]
        offset = self._rows["clips"]
        if clips.num_rows:
            if status != "ok":
                raise ContractError(f"clips: row {offset}: recording_id={recording_id!r} has status {status!r} in "
                                    "recordings, not 'ok'")
            for column, expected in (("split", split), ("source_folder", source_folder)):
                other = pc.invert(_is_value(clips.column(column), expected))
                _check_mask("clips", clips, column, other, f"but recordings says {expected!r}", row_offset=offset)
        _check_clips_of_recording(clips, rejects, recording_id, row_offsets=(offset, self._rows["rejects"]))
        _check_unique("clips", clips, ["clip_id"], row_offset=offset)
        clip_ids = clips.column("clip_id")
        _check_mask("events", events, "clip_id", pc.invert(pc.is_in(events.column("clip_id"), value_set=clip_ids)),
                    f"is not in clips of its {where}", row_offset=self._rows["events"])
        _check_mask("rejects", rejects, "clip_id", pc.is_in(rejects.column("clip_id"), value_set=clip_ids),
                    "is rejected but also kept in clips", row_offset=self._rows["rejects"])
        if detections is not None:
            unknown = pc.invert(pc.is_in(detections.column("clip_id"), value_set=clip_ids))
            _check_mask("detections", detections, "clip_id", unknown, f"is not in clips of its {where}",
                        row_offset=self._rows["detections"])
        self._merged.add(recording_id)
        for name, table in tables.items():
            self._rows[name] += table.num_rows

    def finish(self) -> None:
        """Close the checker: every rule was checked as the parts came, so this only refuses later parts."""
        self._finished = True

    def _check_recipe_hash(self, tables: dict[str, pa.Table]) -> None:
        for name, table in tables.items():
            hashes = table.column("recipe_hash")
            for recipe_hash in pc.unique(hashes).to_pylist():
                if self._recipe_hash is None:
                    self._recipe_hash = (recipe_hash, name)
                elif recipe_hash != self._recipe_hash[0]:
                    row = self._rows[name] + pc.index(hashes, recipe_hash).as_py()
                    raise ContractError(
                        f"{name}: row {row}: recipe_hash={recipe_hash!r} but {self._recipe_hash[1]} has "
                        f"{self._recipe_hash[0]!r}; all manifests must come from one recipe"
                    )


def _recording_row(recording: RecordingRow | dict) -> RecordingRow:
    if isinstance(recording, RecordingRow):
        return recording
    try:
        return RecordingRow(**recording)
    except TypeError as exc:
        raise ContractError(f"recordings: the part's recording {recording!r} is not a RecordingRow: {exc}") from None


def _validate_tables(recordings: pa.Table, clips: pa.Table, events: pa.Table, rejects: pa.Table,
                     detections: pa.Table | None) -> dict[str, pa.Table]:
    """Validate each table on its own; the tables by name."""
    validate_recordings(recordings)
    validate_clips(clips)
    validate_events(events)
    validate_rejects(rejects)
    tables = {"recordings": recordings, "clips": clips, "events": events, "rejects": rejects}
    if detections is not None:
        validate_detections(detections)
        tables["detections"] = detections
    return tables


def _check_clips_of_recording(clips: pa.Table, rejects: pa.Table, recording_id: str, *,
                              row_offsets: tuple[int, int] = (0, 0)) -> None:
    """Every clip is of ``recording_id`` with a clip id of it (make_clip_id's form), and so is every rejected clip
    id. ``row_offsets`` are added to the clips' and the rejects' row numbers."""
    _check_mask("clips", clips, "recording_id", pc.not_equal(clips.column("recording_id"), recording_id),
                f"is not the part's recording {recording_id!r}", row_offset=row_offsets[0])
    problem = f"is not a clip id of the part's recording ({recording_id}_f<frame>_az<angle>_el<angle>)"
    for (name, table), offset in zip((("clips", clips), ("rejects", rejects)), row_offsets, strict=True):
        clip_ids = table.column("clip_id")
        prefix = f"{recording_id}_"
        suffix = pc.utf8_slice_codeunits(clip_ids, len(prefix))
        of_recording = pc.and_(pc.starts_with(clip_ids, prefix),
                               pc.match_substring_regex(suffix, f"^{_CLIP_ID_SUFFIX.pattern}$"))
        _check_mask(name, table, "clip_id", pc.invert(of_recording), problem, row_offset=offset)


def _check_links(recordings: pa.Table, clips: pa.Table, events: pa.Table, rejects: pa.Table,
                 detections: pa.Table | None) -> None:
    """The cross-table rules of validate_manifests but the recipe hash, on tables valid on their own."""
    _check_clip_recordings(recordings, clips)
    clip_ids = clips.column("clip_id")
    clip_of_event = pc.index_in(events.column("clip_id"), value_set=clip_ids)
    _check_event_clips(clips, events, clip_of_event)
    kept = pc.is_in(rejects.column("clip_id"), value_set=clip_ids)
    _check_mask("rejects", rejects, "clip_id", kept, "is rejected but also kept in clips")
    _check_confirmation_rates(clips, events, clip_of_event)
    if detections is not None:
        unknown = pc.invert(pc.is_in(detections.column("clip_id"), value_set=clip_ids))
        _check_mask("detections", detections, "clip_id", unknown, "is not in clips")


def _check_clip_recordings(recordings: pa.Table, clips: pa.Table) -> None:
    """Each clip's recording is in recordings with status ok, in the clip's split and source folder; one split per
    recording."""
    if clips.num_rows == 0:
        return
    recording_ids = clips.column("recording_id")
    split, folder = _as_strings(clips.column("split")), _as_strings(clips.column("source_folder"))
    first_row = _first_occurrence(recording_ids)
    first_split = pc.take(split, first_row)
    at = pc.index_in(recording_ids, value_set=recordings.column("recording_id"))
    status, recording_split, recording_folder = (
        pc.take(_as_strings(recordings.column(column)), at) for column in ("status", "split", "source_folder")
    )

    def where(index: int) -> str:
        return f"clips: row {index}: recording_id={recording_ids[index].as_py()!r}"

    _raise_first([
        (pc.not_equal(split, first_split),
         lambda i: f"{where(i)} is in split {split[i].as_py()!r} but row {first_row[i]} puts it in "
                   f"{first_split[i].as_py()!r}; a recording must feed one split only"),
        (pc.is_null(at), lambda i: f"{where(i)} is not in recordings"),
        (pc.not_equal(status, "ok"),
         lambda i: f"{where(i)} has status {status[i].as_py()!r} in recordings, not 'ok'"),
        (pc.not_equal(split, recording_split),
         lambda i: f"{where(i)}: split={split[i].as_py()!r} but recordings says {recording_split[i].as_py()!r}"),
        (pc.not_equal(folder, recording_folder),
         lambda i: f"{where(i)}: source_folder={folder[i].as_py()!r} but recordings says "
                   f"{recording_folder[i].as_py()!r}"),
    ])


def _check_event_clips(clips: pa.Table, events: pa.Table, clip_of_event: pa.ChunkedArray) -> None:
    """Each event's clip (row ``clip_of_event`` of clips) exists, is of the event's recording, and lasts past the
    event's frame."""
    if events.num_rows == 0:
        return
    clip_ids, recording_ids, frames = (events.column(column) for column in ("clip_id", "recording_id", "frame"))
    recording_of_clip = pc.take(clips.column("recording_id"), clip_of_event)
    # nearest_label_frames, vectorised: round(duration_s / 0.1), halves to even.
    clip_label_frames = pc.round(pc.divide(clips.column("duration_s"), LABEL_FRAME_S), round_mode="half_to_even")
    label_frames = pc.take(clip_label_frames, clip_of_event)

    def where(index: int) -> str:
        return f"events: row {index}"

    _raise_first([
        (pc.is_null(clip_of_event), lambda i: f"{where(i)}: clip_id={clip_ids[i].as_py()!r} is not in clips"),
        (pc.not_equal(recording_ids, recording_of_clip),
         lambda i: f"{where(i)}: recording_id={recording_ids[i].as_py()!r} but clip {clip_ids[i].as_py()!r} is "
                   f"from {recording_of_clip[i].as_py()!r}"),
        (pc.greater_equal(frames, label_frames),
         lambda i: f"{where(i)}: frame={frames[i].as_py()} is beyond clip {clip_ids[i].as_py()!r}, whose label "
                   f"frames are 0..{label_frames[i].as_py() - 1:g}"),
    ])


def _check_confirmation_rates(clips: pa.Table, events: pa.Table, clip_of_event: pa.ChunkedArray) -> None:
    """Each clip's visual_confirmation_rate against its events' visually_confirmed (see validate_manifests); every
    event's clip is row ``clip_of_event`` of clips."""
    rates, confirmed = clips.column("visual_confirmation_rate"), events.column("visually_confirmed")
    if rates.null_count == len(rates) and confirmed.null_count == len(confirmed):
        return  # not verified: nothing to compare
    counts_of_events = pa.table({
        "clip": clip_of_event,
        "speech": pc.cast(_onscreen_speech(events), pa.int64()),
        "checked": pc.cast(pc.is_valid(confirmed), pa.int64()),
        "confirmed": pc.cast(pc.fill_null(confirmed, False), pa.int64()),
    })
    per_clip = counts_of_events.group_by("clip").aggregate([(c, "sum") for c in ("speech", "checked", "confirmed")])
    clip_rows = per_clip.column("clip").to_numpy()
    counts = {}
    for column in ("speech", "checked", "confirmed"):
        counts[column] = np.zeros(clips.num_rows, dtype=np.int64)
        counts[column][clip_rows] = per_clip.column(f"{column}_sum").to_numpy()
    n_speech, n_checked, n_confirmed = counts["speech"], counts["checked"], counts["confirmed"]
    rate_set = rates.is_valid().to_numpy(zero_copy_only=False)
    rate = rates.to_numpy(zero_copy_only=False)
    fraction = np.divide(n_confirmed, n_checked, out=np.zeros(len(rate)), where=n_checked > 0)
    clip_ids = clips.column("clip_id")

    def where(index: int) -> str:
        return (f"clips: row {index}: visual_confirmation_rate={rates[index].as_py()!r} of clip "
                f"{clip_ids[index].as_py()!r}")

    _raise_first([
        (~rate_set & (n_checked > 0),
         lambda i: f"{where(i)} is null but {n_checked[i]} of its events have visually_confirmed"),
        (rate_set & (n_checked == 0), lambda i: f"{where(i)} is set but none of its events has visually_confirmed"),
        (rate_set & (n_checked != n_speech),
         lambda i: f"{where(i)}: only {n_checked[i]} of its {n_speech[i]} onscreen speech events were checked"),
        (rate_set & (n_checked > 0) & (np.abs(np.where(rate_set, rate, 0.0) - fraction) > 1e-9),
         lambda i: f"{where(i)} but {n_confirmed[i]} of its {n_checked[i]} checked events are visually_confirmed"),
    ])


def _onscreen_speech(events: pa.Table) -> pa.ChunkedArray:
    """Per event: onscreen with target class "speech" (False, never null)."""
    return pc.fill_null(pc.and_(events.column("onscreen"), _is_value(events.column("target_class"), "speech")), False)


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
        if not field.nullable and table.column(field.name).null_count:
            _check_mask(name, table, field.name, pc.is_null(table.column(field.name)), "is null (non-null column)")
    return name


def _first_true(mask: pa.ChunkedArray | pa.Array | np.ndarray) -> int | None:
    """Index of the first true value of ``mask`` (null counts as false), or None."""
    if isinstance(mask, np.ndarray):
        hits = np.flatnonzero(mask)
        return int(hits[0]) if hits.size else None
    # any() and index() both pass over nulls.
    if len(mask) == 0 or not pc.any(mask).as_py():
        return None
    return pc.index(mask, True).as_py()


def _raise_first(checks: list[tuple[pa.ChunkedArray | np.ndarray, Callable[[int], str]]]) -> None:
    """Raise for the first row where any check's mask is true, with the message of the first check failing there.

    The same error a loop over the rows applying the checks in order would raise.
    """
    failures = [(index, order) for order, (mask, _) in enumerate(checks)
                if (index := _first_true(mask)) is not None]
    if failures:
        index, order = min(failures)
        raise ContractError(checks[order][1](index))


def _check_mask(name: str, table: pa.Table, column: str, bad: pa.ChunkedArray | pa.Array, problem: str, *,
                row_offset: int = 0) -> None:
    """Raise for the first row where ``bad`` is true (null counts as fine: nullability is checked separately).

    ``row_offset`` is added to the row number in the message (the table is a part of a larger one).
    """
    index = _first_true(bad)
    if index is not None:
        value = table.column(column)[index].as_py()
        raise ContractError(f"{name}: row {row_offset + index}: {column}={value!r} {problem}")


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

    def not_allowed(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        # Nulls pass here: whether a column may be null is the schema's rule, checked in _check_schema.
        return pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed, type=values.type))))

    _check_mask(name, table, column, _on_values(table.column(column), not_allowed), f"is not one of {allowed}")


def _check_pattern(name: str, table: pa.Table, column: str, pattern: re.Pattern[str], problem: str) -> None:
    def mismatch(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
        return pc.invert(pc.match_substring_regex(values, f"^(?:{pattern.pattern})$"))

    _check_mask(name, table, column, _on_values(table.column(column), mismatch), problem)


def _check_non_empty(name: str, table: pa.Table, column: str) -> None:
    empty = _on_values(table.column(column), lambda values: pc.equal(pc.utf8_length(values), 0))
    _check_mask(name, table, column, empty, "is empty")


def _check_unique(name: str, table: pa.Table, columns: list[str], *, row_offset: int = 0) -> None:
    """Raise for the first row whose ``columns`` repeat an earlier row's, naming that earlier row.

    Each key column becomes integer codes; the codes, packed into one int64 when their ranges allow, are sorted
    (stable, so equal keys keep their row order) and neighbours compared.
    """
    if table.num_rows < 2:
        return
    encoded = [_codes(table.column(column)) for column in columns]
    if math.prod(size for _, _, size in encoded) < 2**63:
        key = np.zeros(table.num_rows, dtype=np.int64)
        for codes, low, size in encoded:
            key *= size
            key += codes.to_numpy()
            key -= low
        if np.all(key[1:] > key[:-1]):
            return  # already in key order, each key once: the common case of rows written clip after clip
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        same_as_previous = sorted_key[1:] == sorted_key[:-1]
    else:
        keys = [codes.to_numpy() for codes, _, _ in encoded]
        order = np.lexsort(keys[::-1])
        same_as_previous = np.logical_and.reduce([key[order][1:] == key[order][:-1] for key in keys])
    if not same_as_previous.any():
        return
    # Sorted positions 1.. of repeated keys; each run of one key starts at its first (lowest) row.
    repeated = np.flatnonzero(same_as_previous) + 1
    position = repeated[np.argmin(order[repeated])]
    run_starts = np.flatnonzero(~same_as_previous[:position]) + 1
    first = order[run_starts[-1] if run_starts.size else 0]
    index = int(order[position])
    shown = ", ".join(f"{column}={table.column(column)[index].as_py()!r}" for column in columns)
    raise ContractError(f"{name}: row {row_offset + index}: {shown} duplicates row {row_offset + int(first)}")


def _codes(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, int, int]:
    """``column`` as integer codes (equal values, equal codes; null a value of its own), the lowest code and the
    number of codes from it: integers are their own codes, anything else is dictionary-encoded."""
    if pa.types.is_integer(column.type) and column.null_count == 0 and len(column):
        low, high = (scalar.as_py() for scalar in pc.min_max(column).values())
        return column, low, high - low + 1
    dictionary, indices = _dictionary_and_indices(pc.dictionary_encode(_as_strings(column)))
    return pc.fill_null(indices, len(dictionary)), 0, len(dictionary) + 1


def _first_occurrence(column: pa.ChunkedArray) -> np.ndarray:
    """Per row, the index of the first row holding the same value."""
    codes, _, _ = _codes(column)
    _, first_rows, inverse = np.unique(codes.to_numpy(), return_index=True, return_inverse=True)
    return first_rows[inverse]


def _on_values(column: pa.ChunkedArray, function: Callable[[pa.Array], pa.Array]) -> pa.ChunkedArray:
    """``function`` of ``column``'s values. For a dictionary column it runs once per dictionary value and is taken
    by index, so no value is materialised per row (null rows give null)."""
    if not pa.types.is_dictionary(column.type):
        return function(column)
    dictionary, indices = _dictionary_and_indices(column)
    return pc.take(function(dictionary), indices)


def _dictionary_and_indices(column: pa.ChunkedArray) -> tuple[pa.Array, pa.ChunkedArray]:
    """One dictionary for all chunks of a dictionary column, and the indices into it."""
    if column.num_chunks == 0:
        return pa.array([], type=column.type.value_type), pa.chunked_array([], type=column.type.index_type)
    dictionary = column.chunk(0).dictionary
    if not all(chunk.dictionary.equals(dictionary) for chunk in column.chunks[1:]):
        column = pa.table({"column": column}).unify_dictionaries().column(0)
        dictionary = column.chunk(0).dictionary
    return dictionary, pa.chunked_array([chunk.indices for chunk in column.chunks], type=column.type.index_type)


def _as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary column as its values (for small tables, or before encoding); other columns as they are."""
    return pc.cast(column, column.type.value_type) if pa.types.is_dictionary(column.type) else column


def _is_value(column: pa.ChunkedArray, value: str) -> pa.ChunkedArray:
    """Per row: the value equals ``value`` (null for null), computed on the dictionary for a dictionary column."""
    return _on_values(column, lambda values: pc.equal(values, value))


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
