"""Manifest tables: row <-> table round trips, pandas dtypes, validators, cross-table checks and clip ids."""

import io
import math
import re
from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts import CLIPS_SCHEMA, EVENTS_SCHEMA, RECORDINGS_SCHEMA, REJECTS_SCHEMA, ContractError
from data_contracts import (ClipRow, EventRow, RecordingRow, RejectRow, make_clip_id, recording_id_problem, rows_to_table,
                            table_to_rows)
from data_contracts import validate_clips, validate_events, validate_manifests, validate_recordings, validate_rejects
from data_contracts.manifests import DETECTIONS_SCHEMA, DetectionRow, validate_detections
from tests.helpers import refused

HASH = "0123456789abcdef"
SHA = "a" * 64

RECORDING = RecordingRow(
    recording_id="fold3_room21_mix002",
    source_folder="dev-train-sony",
    split="generation",
    audio_path="foa_dev/dev-train-sony/fold3_room21_mix002.wav",
    video_path="video_dev/dev-train-sony/fold3_room21_mix002.mp4",
    metadata_path="metadata_dev/dev-train-sony/fold3_room21_mix002.csv",
    duration_s=138.9,
    status="ok",
    reason=None,
    audio_sha256=SHA,
    video_sha256=SHA,
    metadata_sha256=SHA,
    recipe_hash=HASH,
)
REJECTED_RECORDING = RecordingRow(
    recording_id="fold3_room21_mix001",
    source_folder="dev-train-sony",
    split="generation",
    audio_path="foa_dev/dev-train-sony/fold3_room21_mix001.wav",
    video_path=None,
    metadata_path="metadata_dev/dev-train-sony/fold3_room21_mix001.csv",
    duration_s=None,
    status="rejected",
    reason="no_video",
    audio_sha256=None,
    video_sha256=None,
    metadata_sha256=None,
    recipe_hash=HASH,
)
CLIP = ClipRow(
    clip_id="fold3_room21_mix002_f00150_az+010_el+00",
    split="generation",
    recording_id="fold3_room21_mix002",
    source_folder="dev-train-sony",
    start_frame=150,
    start_s=15.0,
    duration_s=5.0,
    view_azimuth_deg=10.0,
    view_elevation_deg=0.0,
    h_fov_deg=100.0,
    v_fov_deg=67.67274797076357,
    onscreen_frames=45,
    n_speech_frames=45,
    n_instrument_frames=0,
    target_class="speech",
    video_path="generation/video/fold3_room21_mix002_f00150_az+010_el+00.mp4",
    audio_path="generation/audio/fold3_room21_mix002_f00150_az+010_el+00.wav",
    metadata_path="generation/metadata/fold3_room21_mix002_f00150_az+010_el+00.csv",
    recipe_hash=HASH,
)
CLIP_2 = replace(CLIP, clip_id="fold3_room21_mix002_f00155_az+010_el+00", start_frame=155, start_s=15.5)
ONSCREEN_EVENT = EventRow(
    clip_id=CLIP.clip_id,
    recording_id="fold3_room21_mix002",
    frame=0,
    class_id=1,
    class_name="Male speech",
    target_class="speech",
    source_index=0,
    azimuth_deg=-12.5,
    elevation_deg=3.0,
    onscreen=True,
    x_px=146.2,
    y_px=66.1,
    recipe_hash=HASH,
)
OFFSCREEN_EVENT = replace(
    ONSCREEN_EVENT,
    frame=1,
    class_id=3,
    class_name="Telephone",
    target_class=None,
    azimuth_deg=170.0,
    onscreen=False,
    x_px=None,
    y_px=None,
)
REJECT = RejectRow(
    stage="discover",
    recording_id="fold3_room21_mix001",
    clip_id=None,
    reason="no_video",
    detail="no video_dev/*/fold3_room21_mix001.mp4",
    recipe_hash=HASH,
)
DETECTION = DetectionRow(
    clip_id=CLIP.clip_id, frame=3, class_name="person", score=0.875, x0=120.5, y0=20.0, x1=170.25, y1=130.0,
    recipe_hash=HASH,
)

TABLES = {
    "recordings": (RECORDINGS_SCHEMA, RecordingRow, [RECORDING, REJECTED_RECORDING], validate_recordings),
    "clips": (CLIPS_SCHEMA, ClipRow, [CLIP, CLIP_2], validate_clips),
    "events": (EVENTS_SCHEMA, EventRow, [ONSCREEN_EVENT, OFFSCREEN_EVENT], validate_events),
    "rejects": (
        REJECTS_SCHEMA,
        RejectRow,
        [REJECT, replace(REJECT, stage="render", reason="clipped")],
        validate_rejects,
    ),
    "detections": (
        DETECTIONS_SCHEMA,
        DetectionRow,
        [DETECTION, replace(DETECTION, frame=4, class_name="Fall", score=0.5)],
        validate_detections,
    ),
}
CATEGORICAL_COLUMNS = {
    "recordings": {"source_folder", "split", "status", "reason"},
    "clips": {"split", "source_folder", "target_class"},
    "events": {"class_name", "target_class"},
    "rejects": {"stage", "reason"},
    "detections": {"class_name"},
}
NUMERIC_COLUMNS = {
    "recordings": {"duration_s": "float64"},
    "clips": {
        "start_frame": "int32",
        "start_s": "float64",
        "duration_s": "float64",
        "view_azimuth_deg": "float64",
        "view_elevation_deg": "float64",
        "h_fov_deg": "float64",
        "v_fov_deg": "float64",
        "onscreen_frames": "int32",
        "n_speech_frames": "int32",
        "n_instrument_frames": "int32",
        "visual_confirmation_rate": "float64",
    },
    "events": {
        "frame": "int32",
        "class_id": "int16",
        "source_index": "int16",
        "azimuth_deg": "float64",
        "elevation_deg": "float64",
        "onscreen": "bool",
        "x_px": "float64",
        "y_px": "float64",
    },
    "rejects": {},
    "detections": {"frame": "int32", "score": "float64", "x0": "float64", "y0": "float64", "x1": "float64",
                   "y1": "float64"},
}


@pytest.mark.parametrize("name", TABLES)
def test_rows_to_table_to_rows_round_trip(name):
    schema, row_type, rows, validate = TABLES[name]
    table = rows_to_table(rows, schema)
    assert table.schema == schema
    assert table.num_rows == len(rows)
    validate(table)
    assert table_to_rows(table, row_type) == rows


@pytest.mark.parametrize("name", TABLES)
def test_every_table_has_a_non_null_recipe_hash(name):
    schema = TABLES[name][0]
    assert schema.field("recipe_hash").type == pa.string()
    assert not schema.field("recipe_hash").nullable


@pytest.mark.parametrize("name", TABLES)
def test_empty_rows_give_an_empty_table_that_validates(name):
    schema, row_type, _, validate = TABLES[name]
    table = rows_to_table([], schema)
    assert table.schema == schema
    assert table.num_rows == 0
    validate(table)
    assert table_to_rows(table, row_type) == []


@pytest.mark.parametrize("name", TABLES)
def test_pandas_sees_categoricals_and_numeric_dtypes(name):
    schema, _, rows, _ = TABLES[name]
    frame = rows_to_table(rows, schema).to_pandas()
    categorical = {column for column in frame.columns if isinstance(frame[column].dtype, pd.CategoricalDtype)}
    assert categorical == CATEGORICAL_COLUMNS[name]
    assert {column: str(frame[column].dtype) for column in NUMERIC_COLUMNS[name]} == NUMERIC_COLUMNS[name]


@pytest.mark.parametrize("name", TABLES)
def test_pandas_back_to_arrow_with_the_schema_validates(name):
    schema, row_type, rows, validate = TABLES[name]
    frame = rows_to_table(rows, schema).to_pandas()
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    validate(table)
    assert table_to_rows(table, row_type) == rows


@pytest.mark.parametrize("name", TABLES)
def test_parquet_round_trip_keeps_the_schema(name):
    schema, row_type, rows, validate = TABLES[name]
    buffer = io.BytesIO()
    pq.write_table(rows_to_table(rows, schema), buffer)
    buffer.seek(0)
    table = pq.read_table(buffer)
    assert table.schema.equals(schema)
    validate(table)
    assert table_to_rows(table, row_type) == rows


def test_rows_to_table_names_the_row_and_value_it_cannot_store():
    with pytest.raises(ContractError, match=re.escape("clips: row 1: start_s='late' cannot be stored as double")):
        rows_to_table([CLIP, replace(CLIP_2, start_s="late")], CLIPS_SCHEMA)


def test_rows_to_table_rejects_mixed_row_types():
    with pytest.raises(ContractError, match=re.escape("clips: row 1: expected ClipRow, got EventRow")):
        rows_to_table([CLIP, ONSCREEN_EVENT], CLIPS_SCHEMA)


def test_rows_to_table_rejects_rows_of_another_table():
    with pytest.raises(ContractError, match=re.escape("clips: columns do not match RecordingRow fields")):
        rows_to_table([RECORDING], CLIPS_SCHEMA)


def test_table_to_rows_rejects_missing_columns():
    table = rows_to_table([CLIP], CLIPS_SCHEMA).drop_columns(["v_fov_deg"])
    with pytest.raises(
        ContractError, match=re.escape("clips: columns do not match ClipRow fields: missing ['v_fov_deg']")
    ):
        table_to_rows(table, ClipRow)


BAD_TABLES = {
    "recordings: duplicate id": (
        "recordings",
        [RECORDING, replace(RECORDING, source_folder="dev-test-sony")],
        "recordings: row 1: recording_id='fold3_room21_mix002' duplicates row 0, and one of them has status 'ok'",
    ),
    "recordings: same folder and id twice": (
        "recordings",
        [replace(RECORDING, status="rejected", reason="duplicate_recording_id")] * 2,
        "recordings: row 1: source_folder='dev-train-sony', recording_id='fold3_room21_mix002' duplicates row 0",
    ),
    "recordings: unknown status": (
        "recordings",
        [replace(RECORDING, status="maybe")],
        "recordings: row 0: status='maybe' is not one of ['ok', 'rejected']",
    ),
    "recordings: unknown split": (
        "recordings",
        [REJECTED_RECORDING, replace(RECORDING, split="train")],
        "recordings: row 1: split='train' is not one of ['generation', 'evaluation']",
    ),
    "recordings: ok without video": (
        "recordings",
        [replace(RECORDING, video_path=None)],
        "recordings: row 0: video_path=None is null for status 'ok'",
    ),
    "recordings: rejected without reason": (
        "recordings",
        [replace(REJECTED_RECORDING, reason=None)],
        "recordings: row 0: reason=None is null for status 'rejected'",
    ),
    "recordings: reason not a code": (
        "recordings",
        [replace(REJECTED_RECORDING, reason="No video!")],
        "recordings: row 0: reason='No video!' is not a reason code",
    ),
    "recordings: zero duration": (
        "recordings",
        [replace(RECORDING, duration_s=0.0)],
        "recordings: row 0: duration_s=0.0 out of range (0, inf]",
    ),
    "recordings: bad sha256": (
        "recordings",
        [replace(RECORDING, audio_sha256="ABC")],
        "recordings: row 0: audio_sha256='ABC' is not a lowercase hex sha256",
    ),
    "recordings: null source folder": (
        "recordings",
        [replace(RECORDING, source_folder=None)],
        "recordings: row 0: source_folder=None is null (non-null column)",
    ),
    "clips: duplicate clip id": ("clips", [CLIP, CLIP], f"clips: row 1: clip_id={CLIP.clip_id!r} duplicates row 0"),
    "clips: unknown split": (
        "clips",
        [CLIP, replace(CLIP_2, split="train")],
        "clips: row 1: split='train' is not one of ['generation', 'evaluation']",
    ),
    "clips: view azimuth 360": (
        "clips",
        [replace(CLIP, view_azimuth_deg=360.0)],
        "clips: row 0: view_azimuth_deg=360.0 out of range [-180, 360)",
    ),
    "clips: view elevation 91": (
        "clips",
        [replace(CLIP, view_elevation_deg=91.0)],
        "clips: row 0: view_elevation_deg=91.0 out of range [-90, 90]",
    ),
    "clips: NaN view elevation": (
        "clips",
        [replace(CLIP, view_elevation_deg=math.nan)],
        "clips: row 0: view_elevation_deg=nan out of range [-90, 90]",
    ),
    "clips: negative start frame": (
        "clips",
        [replace(CLIP, start_frame=-5, start_s=-0.5)],
        "clips: row 0: start_frame=-5 out of range [0, inf]",
    ),
    "clips: start_s off the label grid": (
        "clips",
        [replace(CLIP, start_s=15.05)],
        "clips: row 0: start_s=15.05 is not start_frame * 0.1 s",
    ),
    "clips: zero duration": ("clips", [replace(CLIP, duration_s=0.0)], "clips: row 0: duration_s=0.0 out of range"),
    "clips: h_fov 180": (
        "clips",
        [replace(CLIP, h_fov_deg=180.0)],
        "clips: row 0: h_fov_deg=180.0 out of range (0, 180)",
    ),
    "clips: negative count": (
        "clips",
        [replace(CLIP, n_instrument_frames=-1)],
        "clips: row 0: n_instrument_frames=-1 out of range [0, inf]",
    ),
    "clips: more onscreen frames than the clip has": (
        "clips",
        [replace(CLIP, onscreen_frames=51)],
        "clips: row 0: onscreen_frames=51 exceeds the clip's label frames (duration_s / 0.1 s)",
    ),
    "clips: empty path": ("clips", [replace(CLIP, video_path="")], "clips: row 0: video_path='' is empty"),
    "clips: unknown target class": (
        "clips",
        [CLIP, replace(CLIP_2, target_class="music")],
        "clips: row 1: target_class='music' is not one of ['speech', 'instrument']",
    ),
    "clips: target class not the one with more frames": (
        "clips",
        [CLIP, replace(CLIP_2, n_speech_frames=10, n_instrument_frames=40)],
        "clips: row 1: target_class='speech' but n_speech_frames=10 and n_instrument_frames=40 make it "
        "'instrument' (the class with more onscreen frames; ties: 'speech')",
    ),
    "clips: a tie is speech": (
        "clips",
        [replace(CLIP, n_speech_frames=40, n_instrument_frames=40, target_class="instrument")],
        "clips: row 0: target_class='instrument' but n_speech_frames=40 and n_instrument_frames=40 make it 'speech'",
    ),
    "clips: null target class": (
        "clips",
        [replace(CLIP, target_class=None)],
        "clips: row 0: target_class=None is null (non-null column)",
    ),
    "events: azimuth 181": (
        "events",
        [ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, azimuth_deg=181.0)],
        "events: row 1: azimuth_deg=181.0 out of range [-180, 180]",
    ),
    "events: elevation -91": (
        "events",
        [replace(ONSCREEN_EVENT, elevation_deg=-91.0)],
        "events: row 0: elevation_deg=-91.0 out of range [-90, 90]",
    ),
    "events: negative frame": ("events", [replace(ONSCREEN_EVENT, frame=-1)], "events: row 0: frame=-1 out of range"),
    "events: unknown class": (
        "events",
        [replace(ONSCREEN_EVENT, class_id=13)],
        "events: row 0: class_id=13 is not one of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]",
    ),
    "events: class name mismatch": (
        "events",
        [replace(ONSCREEN_EVENT, class_name="Female speech")],
        "events: row 0: class_name='Female speech' but class_id=1 is 'Male speech'",
    ),
    "events: unknown target class": (
        "events",
        [replace(ONSCREEN_EVENT, target_class="music")],
        "events: row 0: target_class='music' is not one of ['speech', 'instrument']",
    ),
    "events: onscreen without pixel": (
        "events",
        [replace(ONSCREEN_EVENT, y_px=None)],
        "events: row 0: y_px=None is null for an onscreen event",
    ),
    "events: offscreen with pixel": (
        "events",
        [OFFSCREEN_EVENT, replace(OFFSCREEN_EVENT, frame=2, x_px=10.0)],
        "events: row 1: x_px=10.0 is set for an offscreen event (must be null)",
    ),
    "events: NaN pixel": (
        "events",
        [replace(ONSCREEN_EVENT, x_px=math.nan)],
        "events: row 0: x_px=nan is NaN (use null for no pixel)",
    ),
    "events: duplicate event": (
        "events",
        [ONSCREEN_EVENT, replace(ONSCREEN_EVENT, azimuth_deg=5.0)],
        f"events: row 1: clip_id={CLIP.clip_id!r}, frame=0, class_id=1, source_index=0 duplicates row 0",
    ),
    "rejects: reason not a code": (
        "rejects",
        [replace(REJECT, reason="No Video")],
        "rejects: row 0: reason='No Video' is not a reason code",
    ),
    "rejects: empty stage": ("rejects", [replace(REJECT, stage="")], "rejects: row 0: stage='' is empty"),
    "rejects: null detail": (
        "rejects",
        [replace(REJECT, detail=None)],
        "rejects: row 0: detail=None is null (non-null column)",
    ),
    "clips: confirmation rate above 1": (
        "clips",
        [replace(CLIP, visual_confirmation_rate=1.5)],
        "clips: row 0: visual_confirmation_rate=1.5 out of range [0, 1]",
    ),
    "events: offscreen event visually confirmed": (
        "events",
        [ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, visually_confirmed=False)],
        "events: row 1: visually_confirmed=False is set for an event that is not onscreen speech (must be null)",
    ),
    "events: onscreen instrument visually confirmed": (
        "events",
        [replace(ONSCREEN_EVENT, class_id=9, class_name="Musical instrument", target_class="instrument",
                 visually_confirmed=True)],
        "events: row 0: visually_confirmed=True is set for an event that is not onscreen speech (must be null)",
    ),
    "detections: score above 1": (
        "detections",
        [replace(DETECTION, score=1.5)],
        "detections: row 0: score=1.5 out of range [0, 1]",
    ),
    "detections: negative frame": (
        "detections",
        [replace(DETECTION, frame=-1)],
        "detections: row 0: frame=-1 out of range [0, inf]",
    ),
    "detections: box inside out": (
        "detections",
        [DETECTION, replace(DETECTION, x0=180.0)],
        "detections: row 1: x1=170.25 is less than x0",
    ),
    "detections: negative corner": (
        "detections",
        [replace(DETECTION, y0=-2.0)],
        "detections: row 0: y0=-2.0 out of range [0, inf]",
    ),
}


@pytest.mark.parametrize(("name", "rows", "message"), BAD_TABLES.values(), ids=BAD_TABLES.keys())
def test_validator_rejects_bad_table_naming_row_column_and_value(name, rows, message):
    schema, _, _, validate = TABLES[name]
    with refused(message):
        validate(rows_to_table(rows, schema))


@pytest.mark.parametrize("name", TABLES)
def test_validator_rejects_a_missing_column(name):
    schema, _, rows, validate = TABLES[name]
    table = rows_to_table(rows, schema).drop_columns(["recipe_hash"])
    with pytest.raises(
        ContractError, match=re.escape(f"{name}: columns") + ".*" + re.escape("missing ['recipe_hash']")
    ):
        validate(table)


@pytest.mark.parametrize("name", TABLES)
def test_validator_rejects_an_extra_column(name):
    schema, _, rows, validate = TABLES[name]
    table = rows_to_table(rows, schema)
    table = table.append_column("comment", pa.array(["x"] * table.num_rows))
    with pytest.raises(ContractError, match=re.escape("unexpected ['comment']")):
        validate(table)


def test_validator_rejects_a_wrong_column_type():
    table = rows_to_table([CLIP], CLIPS_SCHEMA)
    index = table.schema.get_field_index("view_azimuth_deg")
    table = table.set_column(index, "view_azimuth_deg", table.column(index).cast(pa.float32()))
    with pytest.raises(
        ContractError, match=re.escape("clips: column view_azimuth_deg has type float, expected double")
    ):
        validate_clips(table)


def test_target_class_is_the_class_with_more_onscreen_frames_ties_speech():
    instrument = replace(CLIP_2, n_speech_frames=5, n_instrument_frames=40, target_class="instrument")
    tie = replace(CLIP, clip_id=CLIP.clip_id.replace("f00150", "f00160"), start_frame=160, start_s=16.0,
                  n_speech_frames=30, n_instrument_frames=30)
    rows = [CLIP, instrument, tie]
    # In one chunk and in chunks of their own (each with its own dictionary).
    for table in (rows_to_table(rows, CLIPS_SCHEMA),
                  pa.concat_tables([rows_to_table([row], CLIPS_SCHEMA) for row in rows])):
        validate_clips(table)
        assert table.column("target_class").to_pylist() == ["speech", "instrument", "speech"]


def test_validator_rejects_plain_strings_where_categoricals_are_expected():
    table = rows_to_table([CLIP], CLIPS_SCHEMA)
    index = table.schema.get_field_index("split")
    table = table.set_column(index, "split", pa.array(["generation"]))
    with pytest.raises(ContractError, match=re.escape("clips: column split has type string, expected dictionary")):
        validate_clips(table)


def _manifests(recordings=None, clips=None, events=None, rejects=None, detections=None):
    return (
        rows_to_table(recordings if recordings is not None else [RECORDING, REJECTED_RECORDING], RECORDINGS_SCHEMA),
        rows_to_table(clips if clips is not None else [CLIP, CLIP_2], CLIPS_SCHEMA),
        rows_to_table(events if events is not None else [ONSCREEN_EVENT, OFFSCREEN_EVENT], EVENTS_SCHEMA),
        rows_to_table(rejects if rejects is not None else [REJECT], REJECTS_SCHEMA),
        None if detections is None else rows_to_table(detections, DETECTIONS_SCHEMA),
    )


def test_consistent_manifests_validate():
    validate_manifests(*_manifests())


def test_empty_manifests_validate():
    validate_manifests(*_manifests(recordings=[], clips=[], events=[], rejects=[]))
    validate_manifests(*_manifests(recordings=[], clips=[], events=[], rejects=[], detections=[]))


# CLIP's onscreen talker confirmed, CLIP_2 without onscreen speech (no rate); one box in CLIP.
VERIFIED = {
    "clips": [replace(CLIP, visual_confirmation_rate=1.0), CLIP_2],
    "events": [replace(ONSCREEN_EVENT, visually_confirmed=True), OFFSCREEN_EVENT],
    "detections": [DETECTION],
}


def test_verified_manifests_validate():
    validate_manifests(*_manifests(**VERIFIED))
    two_talkers = [replace(ONSCREEN_EVENT, visually_confirmed=True),
                   replace(ONSCREEN_EVENT, source_index=1, visually_confirmed=False)]
    validate_manifests(*_manifests(clips=[replace(CLIP, visual_confirmation_rate=0.5), CLIP_2], events=two_talkers))


EVALUATION_RECORDING = replace(
    RECORDING, recording_id="fold4_room23_mix001", source_folder="eval-sony", split="evaluation"
)
BAD_MANIFESTS = {
    "recording in two splits": (
        {
            "recordings": [RECORDING, EVALUATION_RECORDING],
            "clips": [CLIP, replace(CLIP_2, split="evaluation")],
        },
        "clips: row 1: recording_id='fold3_room21_mix002' is in split 'evaluation' but row 0 puts it in "
        "'generation'; a recording must feed one split only",
    ),
    "clip split differs from its recording": (
        {"clips": [replace(CLIP, split="evaluation"), replace(CLIP_2, split="evaluation")]},
        "clips: row 0: recording_id='fold3_room21_mix002': split='evaluation' but recordings says 'generation'",
    ),
    "clip source folder differs from its recording": (
        {"clips": [CLIP, replace(CLIP_2, source_folder="dev-test-sony")]},
        "clips: row 1: recording_id='fold3_room21_mix002': source_folder='dev-test-sony' but recordings says "
        "'dev-train-sony'",
    ),
    "clip from an unknown recording": (
        {"recordings": [REJECTED_RECORDING]},
        "clips: row 0: recording_id='fold3_room21_mix002' is not in recordings",
    ),
    "clip from a rejected recording": (
        {"recordings": [replace(RECORDING, status="rejected", reason="too_short")]},
        "clips: row 0: recording_id='fold3_room21_mix002' has status 'rejected' in recordings, not 'ok'",
    ),
    "event of an unknown clip": (
        {"events": [ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, clip_id="nope")]},
        "events: row 1: clip_id='nope' is not in clips",
    ),
    "event recording differs from its clip": (
        {"events": [replace(ONSCREEN_EVENT, recording_id="fold3_room21_mix001")]},
        f"events: row 0: recording_id='fold3_room21_mix001' but clip {CLIP.clip_id!r} is from 'fold3_room21_mix002'",
    ),
    "event after the clip's end": (
        {"events": [ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, frame=50)]},
        f"events: row 1: frame=50 is beyond clip {CLIP.clip_id!r}, whose label frames are 0..49",
    ),
    "two recipes": (
        {"events": [ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, recipe_hash="fedcba9876543210")]},
        "events: row 1: recipe_hash='fedcba9876543210' but recordings has '0123456789abcdef'; all manifests must "
        "come from one recipe",
    ),
    "rejected clip also kept": (
        {"rejects": [REJECT, replace(REJECT, stage="render", clip_id=CLIP_2.clip_id, reason="clipped")]},
        f"rejects: row 1: clip_id={CLIP_2.clip_id!r} is rejected but also kept in clips",
    ),
    "confirmation rate disagrees with the events": (
        {**VERIFIED, "clips": [replace(CLIP, visual_confirmation_rate=0.5), CLIP_2]},
        f"clips: row 0: visual_confirmation_rate=0.5 of clip {CLIP.clip_id!r} but 1 of its 1 checked events are "
        "visually_confirmed",
    ),
    "confirmation rate missing": (
        {**VERIFIED, "clips": [CLIP, CLIP_2]},
        f"clips: row 0: visual_confirmation_rate=None of clip {CLIP.clip_id!r} is null but 1 of its events have "
        "visually_confirmed",
    ),
    "an onscreen talker left unchecked": (
        {**VERIFIED, "events": [replace(ONSCREEN_EVENT, visually_confirmed=True),
                                replace(ONSCREEN_EVENT, source_index=1)]},
        f"clips: row 0: visual_confirmation_rate=1.0 of clip {CLIP.clip_id!r}: only 1 of its 2 onscreen speech "
        "events were checked",
    ),
    "a rate without checked events": (
        {**VERIFIED, "clips": [replace(CLIP, visual_confirmation_rate=1.0),
                               replace(CLIP_2, visual_confirmation_rate=1.0)]},
        f"clips: row 1: visual_confirmation_rate=1.0 of clip {CLIP_2.clip_id!r} is set but none of its events has "
        "visually_confirmed",
    ),
    "detection of an unknown clip": (
        {**VERIFIED, "detections": [DETECTION, replace(DETECTION, clip_id="nope")]},
        "detections: row 1: clip_id='nope' is not in clips",
    ),
    "detections of another recipe": (
        {**VERIFIED, "detections": [replace(DETECTION, recipe_hash="fedcba9876543210")]},
        "detections: row 0: recipe_hash='fedcba9876543210' but recordings has '0123456789abcdef'; all manifests "
        "must come from one recipe",
    ),
    "a table is invalid on its own": (
        {"clips": [CLIP, replace(CLIP_2, view_azimuth_deg=400.0)]},
        "clips: row 1: view_azimuth_deg=400.0 out of range [-180, 360)",
    ),
}


@pytest.mark.parametrize(("tables", "message"), BAD_MANIFESTS.values(), ids=BAD_MANIFESTS.keys())
def test_validate_manifests_catches_broken_links(tables, message):
    with refused(message):
        validate_manifests(*_manifests(**tables))


def test_clip_id_example_from_the_docs():
    assert make_clip_id("fold3_room21_mix001", 150, 10.0, 0.0) == "fold3_room21_mix001_f00150_az+010_el+00"


@pytest.mark.parametrize(
    ("start_frame", "azimuth_deg", "elevation_deg", "suffix"),
    [
        (0, 0, 0, "_f00000_az+000_el+00"),
        (0, -0.0, -0.0, "_f00000_az+000_el+00"),
        (5, 350.0, 45.0, "_f00005_az+350_el+45"),
        (5, -90.0, -30.0, "_f00005_az-090_el-30"),
        (123456, 12.5, -7.25, "_f123456_az+012.500_el-07.250"),
        (7, -0.125, 0.001, "_f00007_az-000.125_el+00.001"),
    ],
)
def test_clip_id_formats_frames_and_signed_angles(start_frame, azimuth_deg, elevation_deg, suffix):
    assert make_clip_id("rec", start_frame, azimuth_deg, elevation_deg) == "rec" + suffix


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("fold/1", 0, 0.0, 0.0), "clip id: recording_id='fold/1' is not filesystem-safe"),
        (("fold 1", 0, 0.0, 0.0), "clip id: recording_id='fold 1' is not filesystem-safe"),
        (("", 0, 0.0, 0.0), "clip id: recording_id='' is not filesystem-safe"),
        (("rec", -1, 0.0, 0.0), "clip id: start_frame=-1 is not a non-negative integer"),
        (("rec", 1.5, 0.0, 0.0), "clip id: start_frame=1.5 is not a non-negative integer"),
        (("rec", 0, 10.0001, 0.0), "clip id: view_azimuth_deg=10.0001 is not finite or has more than 3 decimals"),
        (("rec", 0, 0.0, math.nan), "clip id: view_elevation_deg=nan is not finite or has more than 3 decimals"),
    ],
)
def test_clip_id_rejects_unsafe_or_ambiguous_inputs(arguments, message):
    with refused(message):
        make_clip_id(*arguments)


_recording_ids = st.sampled_from(["fold3_room21_mix001", "fold3_room21_mix01", "fold3_room21_mix001_f00001", "a"])
_angles = st.integers(-180_000, 359_999).map(lambda thousandths: thousandths / 1000)
_clip_inputs = st.tuples(
    _recording_ids, st.integers(0, 200_000), _angles, st.integers(-90_000, 90_000).map(lambda t: t / 1000)
)


@settings(max_examples=300, deadline=None, database=None)
@given(first=_clip_inputs, second=_clip_inputs)
def test_clip_ids_differ_exactly_when_inputs_differ(first, second):
    first_id, second_id = make_clip_id(*first), make_clip_id(*second)
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", first_id)
    assert (first_id == second_id) == (first == second)


def test_clip_ids_of_adjacent_views_and_windows_are_distinct():
    ids = {
        make_clip_id(recording_id, frame, azimuth, elevation)
        for recording_id in ("fold3_room21_mix001", "fold3_room21_mix0")
        for frame in range(0, 100, 5)
        for azimuth in [*range(-180, 360, 10), 0.5, -0.5, 10.25]
        for elevation in (-90, -45.5, 0, 45.5, 90)
    }
    assert len(ids) == 2 * 20 * (54 + 3) * 5


@pytest.mark.parametrize("recording_id", ["fold3_room21_mix001", "a", "Rec-1.take2"])
def test_safe_recording_ids_have_no_problem(recording_id):
    assert recording_id_problem(recording_id) is None
    make_clip_id(recording_id, 0, 0.0, 0.0)


@pytest.mark.parametrize("recording_id", ["with space", "café", ".hidden", "-dash", "a/b", ""])
def test_unsafe_recording_ids_are_named_and_refused_by_make_clip_id(recording_id):
    problem = recording_id_problem(recording_id)
    assert problem is not None and repr(recording_id) in problem
    with pytest.raises(ContractError):
        make_clip_id(recording_id, 0, 0.0, 0.0)
