"""Vectorised validation: every check's error on tables of several chunks (a dictionary per chunk) with the bad row
deep inside, the first failing row and check as a row-by-row loop finds them, validate_part, ManifestChecker, and the
fast paths of columns_to_table."""

import math
import re
from dataclasses import asdict, replace

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    ContractError,
    ManifestChecker,
    columns_to_table,
    make_clip_id,
    rows_to_table,
    table_to_rows,
    validate_clips,
    validate_events,
    validate_manifests,
    validate_part,
    validate_recordings,
    validate_rejects,
)
from data_contracts.manifests import DETECTIONS_SCHEMA, EventRow, validate_detections
from tests.helpers import refused
from tests.test_contracts_manifests import (
    CLIP,
    DETECTION,
    HASH,
    OFFSCREEN_EVENT,
    ONSCREEN_EVENT,
    RECORDING,
    REJECT,
    REJECTED_RECORDING,
)

OTHER_HASH = "fedcba9876543210"
RECORDING_ID = RECORDING.recording_id
N_CLIPS = 8
AT = 250  # where the bad row goes in the tables of several hundred rows


def clip_of(recording_id: str, k: int, **changes):
    clip_id = make_clip_id(recording_id, 5 * k, 10.0, 0.0)
    return replace(CLIP, clip_id=clip_id, recording_id=recording_id, start_frame=5 * k, start_s=round(0.5 * k, 6),
                   video_path=f"generation/video/{clip_id}.mp4", **changes)


CLIPS = [clip_of(RECORDING_ID, k) for k in range(N_CLIPS)]


def events_of(clip, **changes) -> list[EventRow]:
    """50 label frames of a 5 s clip, each with an onscreen talker and an offscreen telephone."""
    return [replace(event, clip_id=clip.clip_id, recording_id=clip.recording_id, frame=frame, **changes)
            for frame in range(50) for event in (ONSCREEN_EVENT, replace(OFFSCREEN_EVENT, source_index=1))]


EVENTS = [event for clip in CLIPS for event in events_of(clip)]  # 800 rows


def chunked(rows, schema, n_chunks: int = 4) -> pa.Table:
    """rows as a table of ``n_chunks`` chunks, each converted on its own (so each has its own dictionaries)."""
    size = max(1, -(-len(rows) // n_chunks))
    parts = [rows_to_table(rows[start:start + size], schema) for start in range(0, len(rows), size)]
    return pa.concat_tables(parts) if parts else schema.empty_table()


def with_row(rows, index, row):
    return [*rows[:index], row, *rows[index:]]


def recordings_rows(n: int = 300):
    """n recordings, every third one rejected, the ok ones in two splits."""
    rows = []
    for k in range(n):
        recording_id = f"fold{k % 6 + 1}_room{k % 9 + 1}_mix{k:03d}"
        if k % 3 == 2:
            rows.append(replace(REJECTED_RECORDING, recording_id=recording_id))
        else:
            rows.append(replace(RECORDING, recording_id=recording_id, split=("generation", "evaluation")[k % 2]))
    return rows


RECORDINGS = recordings_rows()
GOOD_CLIPS = [clip_of(RECORDING_ID, k) for k in range(300)]
REJECTS = [replace(REJECT, recording_id=f"rec{k}", detail=f"detail {k}") for k in range(300)]
DETECTIONS = [replace(DETECTION, clip_id=CLIPS[k % N_CLIPS].clip_id, frame=k % 20) for k in range(300)]

TABLES = {
    "recordings": (RECORDINGS_SCHEMA, RECORDINGS, validate_recordings),
    "clips": (CLIPS_SCHEMA, GOOD_CLIPS, validate_clips),
    "events": (EVENTS_SCHEMA, EVENTS, validate_events),
    "rejects": (REJECTS_SCHEMA, REJECTS, validate_rejects),
    "detections": (DETECTIONS_SCHEMA, DETECTIONS, validate_detections),
}

# One case per check of each validator: (table, row inserted at AT, the error naming row AT).
R, C, E = RECORDINGS[4], GOOD_CLIPS[4], EVENTS[4]
BAD_ROWS = {
    "recordings: same folder and id twice": (
        "recordings", RECORDINGS[2],
        (f"recordings: row {AT}: source_folder='dev-train-sony', recording_id={RECORDINGS[2].recording_id!r} "
         "duplicates row 2")),
    "recordings: id twice, one ok": (
        "recordings", replace(R, source_folder="dev-test-sony"),
        f"recordings: row {AT}: recording_id={R.recording_id!r} duplicates row 4, and one of them has status 'ok'"),
    "recordings: empty id": (
        "recordings", replace(R, recording_id=""), f"recordings: row {AT}: recording_id='' is empty"),
    "recordings: unknown split": (
        "recordings", replace(R, recording_id="x", split="train"),
        f"recordings: row {AT}: split='train' is not one of ['generation', 'evaluation']"),
    "recordings: unknown status": (
        "recordings", replace(R, recording_id="x", status="maybe"),
        f"recordings: row {AT}: status='maybe' is not one of ['ok', 'rejected']"),
    "recordings: null status": (
        "recordings", replace(R, recording_id="x", status=None),
        f"recordings: row {AT}: status=None is null (non-null column)"),
    "recordings: NaN duration": (
        "recordings", replace(R, recording_id="x", duration_s=math.nan),
        f"recordings: row {AT}: duration_s=nan out of range (0, inf]"),
    "recordings: negative video gaps": (
        "recordings", replace(R, recording_id="x", video_gaps=-1),
        f"recordings: row {AT}: video_gaps=-1 out of range [0, inf]"),
    "recordings: negative trim": (
        "recordings", replace(R, recording_id="x", trimmed_s=-0.5),
        f"recordings: row {AT}: trimmed_s=-0.5 out of range [0, inf]"),
    "recordings: negative rows dropped": (
        "recordings", replace(R, recording_id="x", annotation_rows_dropped=-2),
        f"recordings: row {AT}: annotation_rows_dropped=-2 out of range [0, inf]"),
    "recordings: bad sha256": (
        "recordings", replace(R, recording_id="x", metadata_sha256="A" * 64),
        f"recordings: row {AT}: metadata_sha256={'A' * 64!r} is not a lowercase hex sha256"),
    "recordings: ok without split": (
        "recordings", replace(R, recording_id="x", split=None),
        f"recordings: row {AT}: split=None is null for status 'ok'"),
    "recordings: ok without metadata": (
        "recordings", replace(R, recording_id="x", metadata_path=None),
        f"recordings: row {AT}: metadata_path=None is null for status 'ok'"),
    "recordings: rejected without reason": (
        "recordings", replace(REJECTED_RECORDING, recording_id="x", reason=None),
        f"recordings: row {AT}: reason=None is null for status 'rejected'"),
    "recordings: reason not a code": (
        "recordings", replace(REJECTED_RECORDING, recording_id="x", reason="No-video"),
        f"recordings: row {AT}: reason='No-video' is not a reason code"),
    "clips: duplicate id": ("clips", C, f"clips: row {AT}: clip_id={C.clip_id!r} duplicates row 4"),
    "clips: null id": ("clips", replace(C, clip_id=None), f"clips: row {AT}: clip_id=None is null (non-null column)"),
    "clips: empty id": ("clips", replace(C, clip_id=""), f"clips: row {AT}: clip_id='' is empty"),
    "clips: unknown split": (
        "clips", clip_of("x", 0, split="test"),
        f"clips: row {AT}: split='test' is not one of ['generation', 'evaluation']"),
    "clips: negative start frame": (
        "clips", replace(clip_of("x", 0), start_frame=-5), f"clips: row {AT}: start_frame=-5 out of range [0, inf]"),
    "clips: start_s off the grid": (
        "clips", replace(clip_of("x", 3), start_s=1.55), f"clips: row {AT}: start_s=1.55 is not start_frame * 0.1 s"),
    "clips: NaN start_s": (
        "clips", replace(clip_of("x", 3), start_s=math.nan), f"clips: row {AT}: start_s=nan is not start_frame"),
    "clips: zero duration": (
        "clips", clip_of("x", 0, duration_s=0.0), f"clips: row {AT}: duration_s=0.0 out of range (0, inf]"),
    "clips: azimuth 360": (
        "clips", clip_of("x", 0, view_azimuth_deg=360.0),
        f"clips: row {AT}: view_azimuth_deg=360.0 out of range [-180, 360)"),
    "clips: elevation -91": (
        "clips", clip_of("x", 0, view_elevation_deg=-91.0),
        f"clips: row {AT}: view_elevation_deg=-91.0 out of range [-90, 90]"),
    "clips: zero horizontal fov": (
        "clips", clip_of("x", 0, h_fov_deg=0.0), f"clips: row {AT}: h_fov_deg=0.0 out of range (0, 180)"),
    "clips: vertical fov 180": (
        "clips", clip_of("x", 0, v_fov_deg=180.0), f"clips: row {AT}: v_fov_deg=180.0 out of range (0, 180)"),
    "clips: negative count": (
        "clips", clip_of("x", 0, n_speech_frames=-1), f"clips: row {AT}: n_speech_frames=-1 out of range [0, inf]"),
    "clips: count past the clip": (
        "clips", clip_of("x", 0, n_instrument_frames=51),
        f"clips: row {AT}: n_instrument_frames=51 exceeds the clip's label frames (duration_s / 0.1 s)"),
    "clips: empty path": ("clips", clip_of("x", 0, metadata_path=""), f"clips: row {AT}: metadata_path='' is empty"),
    "clips: rate below 0": (
        "clips", clip_of("x", 0, visual_confirmation_rate=-0.5),
        f"clips: row {AT}: visual_confirmation_rate=-0.5 out of range [0, 1]"),
    "events: duplicate": (
        "events", replace(E, azimuth_deg=1.0),
        (f"events: row {AT}: clip_id={E.clip_id!r}, frame={E.frame}, class_id={E.class_id}, "
         f"source_index={E.source_index} duplicates row 4")),
    "events: null recording": (
        "events", replace(E, frame=60, recording_id=None), f"events: row {AT}: recording_id=None is null"),
    "events: negative frame": ("events", replace(E, frame=-1), f"events: row {AT}: frame=-1 out of range [0, inf]"),
    "events: negative source index": (
        "events", replace(E, source_index=-1), f"events: row {AT}: source_index=-1 out of range [0, inf]"),
    "events: unknown class id": (
        "events", replace(E, frame=60, class_id=13),
        f"events: row {AT}: class_id=13 is not one of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]"),
    "events: class name of another id": (
        "events", replace(E, frame=60, class_name="Female speech"),
        f"events: row {AT}: class_name='Female speech' but class_id=1 is 'Male speech'"),
    "events: unknown class name": (
        "events", replace(E, frame=60, class_name="Dog"),
        f"events: row {AT}: class_name='Dog' but class_id=1 is 'Male speech'"),
    "events: unknown target class": (
        "events", replace(E, frame=60, target_class="voice"),
        f"events: row {AT}: target_class='voice' is not one of ['speech', 'instrument']"),
    "events: azimuth -180.5": (
        "events", replace(E, frame=60, azimuth_deg=-180.5), f"events: row {AT}: azimuth_deg=-180.5 out of range"),
    "events: NaN elevation": (
        "events", replace(E, frame=60, elevation_deg=math.nan), f"events: row {AT}: elevation_deg=nan out of range"),
    "events: onscreen without x": (
        "events", replace(E, frame=60, x_px=None), f"events: row {AT}: x_px=None is null for an onscreen event"),
    "events: offscreen with y": (
        "events", replace(EVENTS[5], frame=60, y_px=3.0),
        f"events: row {AT}: y_px=3.0 is set for an offscreen event (must be null)"),
    "events: NaN pixel": (
        "events", replace(E, frame=60, y_px=math.nan), f"events: row {AT}: y_px=nan is NaN (use null for no pixel)"),
    "events: offscreen speech confirmed": (
        "events", replace(E, frame=60, onscreen=False, x_px=None, y_px=None, visually_confirmed=True),
        f"events: row {AT}: visually_confirmed=True is set for an event that is not onscreen speech"),
    "rejects: empty stage": ("rejects", replace(REJECT, stage=""), f"rejects: row {AT}: stage='' is empty"),
    "rejects: reason not a code": (
        "rejects", replace(REJECT, reason="2bad"), f"rejects: row {AT}: reason='2bad' is not a reason code"),
    "rejects: null recipe hash": (
        "rejects", replace(REJECT, recipe_hash=None), f"rejects: row {AT}: recipe_hash=None is null"),
    "detections: empty clip id": (
        "detections", replace(DETECTION, clip_id=""), f"detections: row {AT}: clip_id='' is empty"),
    "detections: negative frame": (
        "detections", replace(DETECTION, frame=-3), f"detections: row {AT}: frame=-3 out of range [0, inf]"),
    "detections: score NaN": (
        "detections", replace(DETECTION, score=math.nan), f"detections: row {AT}: score=nan out of range [0, 1]"),
    "detections: negative x1": (
        "detections", replace(DETECTION, x0=0.0, x1=-1.0), f"detections: row {AT}: x1=-1.0 out of range [0, inf]"),
    "detections: x1 < x0": (
        "detections", replace(DETECTION, x1=100.0), f"detections: row {AT}: x1=100.0 is less than x0"),
    "detections: y1 < y0": (
        "detections", replace(DETECTION, y1=10.0), f"detections: row {AT}: y1=10.0 is less than y0"),
}


@pytest.mark.parametrize("name", TABLES)
def test_good_tables_of_several_chunks_validate(name):
    schema, rows, validate = TABLES[name]
    table = chunked(rows, schema)
    assert table.column(0).num_chunks == 4
    validate(table)


@pytest.mark.parametrize(("name", "row", "message"), BAD_ROWS.values(), ids=BAD_ROWS.keys())
def test_each_check_names_the_row_column_and_value_deep_in_a_chunked_table(name, row, message):
    schema, rows, validate = TABLES[name]
    with refused(message):
        validate(chunked(with_row(rows, AT, row), schema))


def test_a_class_name_check_reads_each_chunks_own_dictionary():
    # Each chunk has a dictionary of its own names in its own order; the bad name is in the last chunk.
    telephones = [replace(OFFSCREEN_EVENT, frame=f, source_index=0) for f in range(10)]
    talkers = [replace(ONSCREEN_EVENT, frame=f) for f in range(10)]
    bad = replace(ONSCREEN_EVENT, frame=20, class_id=3)  # named "Male speech", id of "Telephone"
    table = pa.concat_tables([rows_to_table(telephones, EVENTS_SCHEMA), rows_to_table(talkers + [bad], EVENTS_SCHEMA)])
    assert table.column("class_name").chunk(0).dictionary.to_pylist() == ["Telephone"]
    with refused("events: row 20: class_name='Male speech' but class_id=3 is 'Telephone'"):
        validate_events(table)


def test_of_two_problems_the_first_row_wins_then_the_first_check():
    # Row 3 fails the last link check of the row loop, row 4 the first one: row 3 is named.
    events = [*EVENTS[:3], replace(EVENTS[3], frame=50), replace(EVENTS[4], clip_id="nope")]
    with refused(f"events: row 3: frame=50 is beyond clip {CLIPS[0].clip_id!r}"):
        validate_manifests(*manifests(events=events))
    # One row with an unknown clip and another recording: the unknown clip is named, as the loop checked it first.
    events = [*EVENTS[:3], replace(EVENTS[3], clip_id="nope", recording_id="other")]
    with refused("events: row 3: clip_id='nope' is not in clips"):
        validate_manifests(*manifests(events=events))


def unique_reference(keys):
    """The first row whose key repeats an earlier one, and that earlier row, by a loop over the rows."""
    first = {}
    for index, key in enumerate(keys):
        if key in first:
            return index, first[key]
        first[key] = index
    return None


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 1)), min_size=0, max_size=30))
def test_the_duplicate_named_is_the_one_a_row_loop_finds(keys):
    rows = [replace(ONSCREEN_EVENT, clip_id=f"clip{clip}", frame=frame, source_index=source)
            for clip, frame, source in keys]
    table = chunked(rows, EVENTS_SCHEMA, n_chunks=3)
    expected = unique_reference(keys)
    if expected is None:
        validate_events(table)
    else:
        index, first = expected
        clip, frame, source = keys[index]
        with refused(f"events: row {index}: clip_id='clip{clip}', frame={frame}, class_id=1, source_index={source} "
                     f"duplicates row {first}"):
            validate_events(table)


def test_duplicates_are_found_when_the_keys_are_too_wide_to_pack():
    # Frames and source indices spanning their whole types: the key codes no longer fit one int64 together.
    rows = [replace(ONSCREEN_EVENT, frame=0, source_index=-32768), replace(ONSCREEN_EVENT, frame=2**31 - 1),
            replace(ONSCREEN_EVENT, clip_id="other", frame=0, source_index=32767),
            replace(ONSCREEN_EVENT, frame=2**31 - 1, azimuth_deg=3.0)]
    with refused(f"events: row 3: clip_id={ONSCREEN_EVENT.clip_id!r}, frame=2147483647, class_id=1, source_index=0 "
                 "duplicates row 1"):
        validate_events(rows_to_table(rows, EVENTS_SCHEMA))


# ---- validate_manifests: the links, with the bad row deep in chunked tables

LINKED_RECORDINGS = [RECORDING, REJECTED_RECORDING, replace(RECORDING, recording_id="fold4_room1_mix001",
                                                              source_folder="eval-sony", split="evaluation")]
OTHER_CLIP = clip_of("fold4_room1_mix001", 0, split="evaluation", source_folder="eval-sony")


def manifests(recordings=None, clips=None, events=None, rejects=None, detections=None):
    return (
        chunked(LINKED_RECORDINGS if recordings is None else recordings, RECORDINGS_SCHEMA, n_chunks=2),
        chunked(CLIPS + [OTHER_CLIP] if clips is None else clips, CLIPS_SCHEMA),
        chunked(EVENTS if events is None else events, EVENTS_SCHEMA),
        chunked([REJECT] * 3 if rejects is None else rejects, REJECTS_SCHEMA, n_chunks=2),
        None if detections is None else chunked(detections, DETECTIONS_SCHEMA),
    )


def verified(clip_rate: float = 0.5):
    """The first clip verified: its 50 onscreen talkers checked, every other one confirmed."""
    events = [replace(e, visually_confirmed=e.frame % 2 == 0) if e.onscreen and e.clip_id == CLIPS[0].clip_id else e
              for e in EVENTS]
    clips = [replace(CLIPS[0], visual_confirmation_rate=clip_rate), *CLIPS[1:]]
    return {"clips": clips, "events": events}


def test_linked_manifests_of_several_chunks_validate():
    validate_manifests(*manifests())
    validate_manifests(*manifests(**verified(), detections=DETECTIONS))


BAD_LINKS = {
    "a recording in two splits": (
        {"clips": [*CLIPS[:5], replace(CLIPS[5], split="evaluation"), *CLIPS[6:]]},
        (f"clips: row 5: recording_id={RECORDING_ID!r} is in split 'evaluation' but row 0 puts it in 'generation'; "
         "a recording must feed one split only")),
    "a clip of no recording": (
        {"clips": [*CLIPS[:6], clip_of("fold9_room9_mix999", 0)]},
        "clips: row 6: recording_id='fold9_room9_mix999' is not in recordings"),
    "a clip of a rejected recording": (
        {"clips": [*CLIPS[:6], clip_of(REJECTED_RECORDING.recording_id, 0)]},
        (f"clips: row 6: recording_id={REJECTED_RECORDING.recording_id!r} has status 'rejected' in recordings, "
         "not 'ok'")),
    "a clip in another split than its recording": (
        {"clips": [*CLIPS[:6], replace(OTHER_CLIP, split="generation")]},
        "clips: row 6: recording_id='fold4_room1_mix001': split='generation' but recordings says 'evaluation'"),
    "a clip in another folder than its recording": (
        {"clips": [*CLIPS[:6], replace(OTHER_CLIP, source_folder="eval-tau")]},
        "clips: row 6: recording_id='fold4_room1_mix001': source_folder='eval-tau' but recordings says 'eval-sony'"),
    "an event of no clip": (
        {"events": with_row(EVENTS, AT, replace(EVENTS[0], clip_id="nope"))},
        f"events: row {AT}: clip_id='nope' is not in clips"),
    "an event of another recording than its clip": (
        {"events": with_row(EVENTS, AT, replace(EVENTS[0], frame=70, recording_id="fold4_room1_mix001"))},
        (f"events: row {AT}: recording_id='fold4_room1_mix001' but clip {CLIPS[0].clip_id!r} is from "
         f"{RECORDING_ID!r}")),
    "an event after its clip": (
        {"events": with_row(EVENTS, AT, replace(EVENTS[0], frame=50))},
        f"events: row {AT}: frame=50 is beyond clip {CLIPS[0].clip_id!r}, whose label frames are 0..49"),
    "an event of another recipe": (
        {"events": with_row(EVENTS, AT, replace(EVENTS[0], frame=60, recipe_hash=OTHER_HASH))},
        (f"events: row {AT}: recipe_hash={OTHER_HASH!r} but recordings has {HASH!r}; all manifests must come from "
         "one recipe")),
    "a rejected clip also kept": (
        {"rejects": [REJECT, REJECT, replace(REJECT, clip_id=CLIPS[3].clip_id)]},
        f"rejects: row 2: clip_id={CLIPS[3].clip_id!r} is rejected but also kept in clips"),
    "a rate but no checked event": (
        {**verified(), "clips": [*verified()["clips"][:4], replace(CLIPS[4], visual_confirmation_rate=1.0),
                                 *CLIPS[5:]]},
        (f"clips: row 4: visual_confirmation_rate=1.0 of clip {CLIPS[4].clip_id!r} is set but none of its events "
         "has visually_confirmed")),
    "checked events but no rate": (
        {**verified(), "clips": CLIPS},
        (f"clips: row 0: visual_confirmation_rate=None of clip {CLIPS[0].clip_id!r} is null but 50 of its events "
         "have visually_confirmed")),
    "an onscreen talker unchecked": (
        {"clips": verified()["clips"],
         "events": [replace(e, visually_confirmed=None) if e.frame == 7 and e.onscreen else e
                    for e in verified()["events"]]},
        (f"clips: row 0: visual_confirmation_rate=0.5 of clip {CLIPS[0].clip_id!r}: only 49 of its 50 onscreen "
         "speech events were checked")),
    "a rate that is not the confirmed fraction": (
        verified(clip_rate=0.25),
        (f"clips: row 0: visual_confirmation_rate=0.25 of clip {CLIPS[0].clip_id!r} but 25 of its 50 checked events "
         "are visually_confirmed")),
    "a detection of no clip": (
        {"detections": with_row(DETECTIONS, AT, replace(DETECTION, clip_id="nope"))},
        f"detections: row {AT}: clip_id='nope' is not in clips"),
}


@pytest.mark.parametrize(("tables", "message"), BAD_LINKS.values(), ids=BAD_LINKS.keys())
def test_each_link_check_names_the_row_and_value(tables, message):
    with refused(message):
        validate_manifests(*manifests(**tables))


# ---- validate_part

PART = {"clips": CLIPS, "events": EVENTS, "rejects": [replace(REJECT, recording_id=RECORDING_ID, stage="render",
                                                              clip_id=make_clip_id(RECORDING_ID, 500, 0.0, 0.0),
                                                              reason="clipped")]}


def part_tables(clips=None, events=None, rejects=None, detections=None):
    return (chunked(PART["clips"] if clips is None else clips, CLIPS_SCHEMA),
            chunked(PART["events"] if events is None else events, EVENTS_SCHEMA),
            chunked(PART["rejects"] if rejects is None else rejects, REJECTS_SCHEMA),
            None if detections is None else chunked(detections, DETECTIONS_SCHEMA))


def test_a_good_part_validates_given_the_row_or_a_dict():
    validate_part(RECORDING, *part_tables())
    validate_part(asdict(RECORDING), *part_tables(**verified(), detections=DETECTIONS))


def test_a_rejected_recording_may_have_a_part_without_clips():
    validate_part(REJECTED_RECORDING, *part_tables(clips=[], events=[], rejects=[REJECT]))


def test_a_part_refuses_a_recording_that_is_not_a_row():
    with refused("recordings: the part's recording {'recording_id': 'x'} is not a RecordingRow"):
        validate_part({"recording_id": "x"}, *part_tables())


BAD_PARTS = {
    "a clip of another recording": (
        RECORDING, {"clips": [*CLIPS, OTHER_CLIP]},
        f"clips: row {N_CLIPS}: recording_id='fold4_room1_mix001' is not the part's recording {RECORDING_ID!r}"),
    "a clip id not made of its recording's id": (
        RECORDING, {"clips": [*CLIPS[:2], replace(CLIPS[2], clip_id=f"{RECORDING_ID}_extra")]},
        (f"clips: row 2: clip_id='{RECORDING_ID}_extra' is not a clip id of the part's recording "
         f"({RECORDING_ID}_f<frame>_az<angle>_el<angle>)")),
    "a clip id of a longer recording id": (
        # "<id>_f00001_f00000_..." starts with "<id>_" but is a clip id of recording "<id>_f00001".
        RECORDING, {"clips": [replace(CLIPS[0], clip_id=make_clip_id(f"{RECORDING_ID}_f00001", 0, 10.0, 0.0))]},
        (f"clips: row 0: clip_id='{RECORDING_ID}_f00001_f00000_az+010_el+00' is not a clip id of the part's "
         "recording")),
    "clips of a rejected recording": (
        replace(RECORDING, status="rejected", reason="too_short"), {},
        f"clips: row 0: recording_id={RECORDING_ID!r} has status 'rejected' in recordings, not 'ok'"),
    "clips in another split than the recording": (
        replace(RECORDING, split="evaluation"), {},
        f"clips: row 0: recording_id={RECORDING_ID!r}: split='generation' but recordings says 'evaluation'"),
    "the recording's row is invalid": (
        replace(RECORDING, duration_s=-1.0), {}, "recordings: row 0: duration_s=-1.0 out of range (0, inf]"),
    "a table is invalid on its own": (
        RECORDING, {"events": with_row(EVENTS, AT, replace(EVENTS[0], frame=70, azimuth_deg=200.0))},
        f"events: row {AT}: azimuth_deg=200.0 out of range [-180, 180]"),
    "an event of a clip outside the part": (
        RECORDING, {"events": with_row(EVENTS, AT, replace(EVENTS[0], clip_id=OTHER_CLIP.clip_id))},
        f"events: row {AT}: clip_id={OTHER_CLIP.clip_id!r} is not in clips"),
    "an event past its clip": (
        RECORDING, {"events": with_row(EVENTS, AT, replace(EVENTS[0], frame=55))},
        f"events: row {AT}: frame=55 is beyond clip {CLIPS[0].clip_id!r}, whose label frames are 0..49"),
    "a rejected clip kept": (
        RECORDING, {"rejects": [replace(REJECT, clip_id=CLIPS[1].clip_id)]},
        f"rejects: row 0: clip_id={CLIPS[1].clip_id!r} is rejected but also kept in clips"),
    "a rejected clip of another recording": (
        RECORDING, {"rejects": [PART["rejects"][0], replace(REJECT, clip_id=OTHER_CLIP.clip_id)]},
        (f"rejects: row 1: clip_id={OTHER_CLIP.clip_id!r} is not a clip id of the part's recording "
         f"({RECORDING_ID}_f<frame>_az<angle>_el<angle>)")),
    "a wrong confirmation rate": (
        RECORDING, verified(clip_rate=1.0),
        (f"clips: row 0: visual_confirmation_rate=1.0 of clip {CLIPS[0].clip_id!r} but 25 of its 50 checked events "
         "are visually_confirmed")),
    "a detection outside the part": (
        RECORDING, {"detections": [replace(DETECTION, clip_id=CLIPS[0].clip_id),
                                   replace(DETECTION, clip_id=OTHER_CLIP.clip_id)]},
        f"detections: row 1: clip_id={OTHER_CLIP.clip_id!r} is not in clips"),
    "the recording of another recipe": (
        replace(RECORDING, recipe_hash=OTHER_HASH), {},
        (f"clips: row 0: recipe_hash={HASH!r} but recordings has {OTHER_HASH!r}; all manifests must come from one "
         "recipe")),
}


@pytest.mark.parametrize(("recording", "tables", "message"), BAD_PARTS.values(), ids=BAD_PARTS.keys())
def test_validate_part_names_the_row_and_value(recording, tables, message):
    with refused(message):
        validate_part(recording, *part_tables(**tables))


# ---- ManifestChecker

# Three recordings: two ok in two splits, one rejected; a part for each, the rejected one with a reject only.
A, B = RECORDING, replace(RECORDING, recording_id="fold4_room1_mix001", source_folder="eval-sony", split="evaluation")
CHECKER_RECORDINGS = [A, B, REJECTED_RECORDING]
B_CLIPS = [clip_of(B.recording_id, k, split="evaluation", source_folder="eval-sony") for k in range(3)]
B_EVENTS = [event for clip in B_CLIPS for event in events_of(clip)]


def checker():
    return ManifestChecker(chunked(CHECKER_RECORDINGS, RECORDINGS_SCHEMA, n_chunks=2))


def add(manifest_checker, recording_id, clips=(), events=(), rejects=(), detections=None):
    manifest_checker.add_part(
        recording_id, rows_to_table(list(clips), CLIPS_SCHEMA), rows_to_table(list(events), EVENTS_SCHEMA),
        rows_to_table(list(rejects), REJECTS_SCHEMA),
        None if detections is None else rows_to_table(list(detections), DETECTIONS_SCHEMA))


def test_checker_accepts_the_parts_of_a_run_and_their_merge_validates():
    parts = [(A.recording_id, CLIPS, EVENTS, PART["rejects"], DETECTIONS), (B.recording_id, B_CLIPS, B_EVENTS, [], []),
             (REJECTED_RECORDING.recording_id, [], [], [REJECT], [])]
    manifest_checker = checker()
    for part in parts:
        add(manifest_checker, *part)
    manifest_checker.finish()
    merged = [[row for part in parts for row in part[column]] for column in (1, 2, 3, 4)]
    validate_manifests(rows_to_table(CHECKER_RECORDINGS, RECORDINGS_SCHEMA),
                       *(rows_to_table(rows, schema) for rows, schema in
                         zip(merged, (CLIPS_SCHEMA, EVENTS_SCHEMA, REJECTS_SCHEMA, DETECTIONS_SCHEMA), strict=True)))


B_PART = (B.recording_id, B_CLIPS, B_EVENTS)
BAD_SECOND_PARTS = {
    "a recording merged twice": (
        (A.recording_id, CLIPS, EVENTS),
        (f"part of recording {A.recording_id!r}: recording_id={A.recording_id!r} was merged before; a recording has "
         "one part")),
    "a recording not in recordings": (
        ("fold9_room9_mix999", [], [], [REJECT]),
         "part of recording 'fold9_room9_mix999': recording_id='fold9_room9_mix999' is not in recordings"),
    "clips of a rejected recording": (
        (REJECTED_RECORDING.recording_id, [clip_of(REJECTED_RECORDING.recording_id, 0)]),
        (f"clips: row {N_CLIPS}: recording_id={REJECTED_RECORDING.recording_id!r} has status 'rejected' in "
         "recordings, not 'ok'")),
    "clips in another split than recordings says": (
        (B.recording_id, [*B_CLIPS[:2], replace(B_CLIPS[2], split="generation")], B_EVENTS),
        f"clips: row {N_CLIPS + 2}: split='generation' but recordings says 'evaluation'"),
    "clips in another folder than recordings says": (
        (B.recording_id, [replace(B_CLIPS[0], source_folder="eval-tau"), *B_CLIPS[1:]], B_EVENTS),
        f"clips: row {N_CLIPS}: source_folder='eval-tau' but recordings says 'eval-sony'"),
    "a clip of another recording": (
        (B.recording_id, [*B_CLIPS, replace(CLIPS[0], split="evaluation", source_folder="eval-sony")], B_EVENTS),
        f"clips: row {N_CLIPS + 3}: recording_id={A.recording_id!r} is not the part's recording {B.recording_id!r}"),
    "a clip id of another recording": (
        (B.recording_id, [*B_CLIPS[:1], replace(B_CLIPS[1], clip_id=CLIPS[1].clip_id)], B_EVENTS[:100]),
        f"clips: row {N_CLIPS + 1}: clip_id={CLIPS[1].clip_id!r} is not a clip id of the part's recording"),
    "a clip id twice in the part": (
        (B.recording_id, [*B_CLIPS, B_CLIPS[1]], B_EVENTS),
        f"clips: row {N_CLIPS + 3}: clip_id={B_CLIPS[1].clip_id!r} duplicates row {N_CLIPS + 1}"),
    "an event of a clip in another part": (
        (B.recording_id, B_CLIPS, with_row(B_EVENTS, 7, EVENTS[0])),
        (f"events: row {len(EVENTS) + 7}: clip_id={CLIPS[0].clip_id!r} is not in clips of its part of recording "
         f"{B.recording_id!r}")),
    "a rejected clip kept": (
        (B.recording_id, B_CLIPS, B_EVENTS, [replace(REJECT, clip_id=B_CLIPS[2].clip_id)]),
        f"rejects: row 1: clip_id={B_CLIPS[2].clip_id!r} is rejected but also kept in clips"),
    "a rejected clip of another part": (
        (B.recording_id, B_CLIPS, B_EVENTS, [replace(REJECT, clip_id=CLIPS[0].clip_id)]),
        (f"rejects: row 1: clip_id={CLIPS[0].clip_id!r} is not a clip id of the part's recording "
         f"({B.recording_id}_f<frame>_az<angle>_el<angle>)")),
    "a detection of a clip in another part": (
        (B.recording_id, B_CLIPS, B_EVENTS, [], [replace(DETECTION, clip_id=B_CLIPS[0].clip_id), DETECTION]),
        (f"detections: row 1: clip_id={DETECTION.clip_id!r} is not in clips of its part of recording "
         f"{B.recording_id!r}")),
    "a part of another recipe": (
        (B.recording_id, B_CLIPS, [*B_EVENTS[:5], replace(B_EVENTS[5], recipe_hash=OTHER_HASH)]),
        (f"events: row {len(EVENTS) + 5}: recipe_hash={OTHER_HASH!r} but recordings has {HASH!r}; all manifests "
         "must come from one recipe")),
}


@pytest.mark.parametrize(("second", "message"), BAD_SECOND_PARTS.values(), ids=BAD_SECOND_PARTS.keys())
def test_checker_names_rows_of_the_merged_tables(second, message):
    manifest_checker = checker()
    add(manifest_checker, A.recording_id, CLIPS, EVENTS, PART["rejects"], [])
    with refused(message):
        add(manifest_checker, *second)


def test_checker_refuses_parts_after_finish_and_invalid_recordings():
    manifest_checker = checker()
    manifest_checker.finish()
    with refused(f"part of recording {B.recording_id!r}: added after finish()"):
        add(manifest_checker, *B_PART)
    with refused("recordings: row 1: recording_id="):
        ManifestChecker(rows_to_table([A, replace(A, source_folder="dev-test-sony")], RECORDINGS_SCHEMA))


def test_checker_without_recordings_refuses_every_part():
    manifest_checker = ManifestChecker(RECORDINGS_SCHEMA.empty_table())
    with refused("part of recording 'x': recording_id='x' is not in recordings"):
        add(manifest_checker, "x")


# ---- columns_to_table

THREE_EVENTS = [ONSCREEN_EVENT, OFFSCREEN_EVENT, replace(ONSCREEN_EVENT, frame=2, visually_confirmed=False)]


def event_columns(**changes):
    """THREE_EVENTS' columns as lists, with ``changes`` in place of some."""
    columns = {name: [getattr(event, name) for event in THREE_EVENTS] for name in EVENTS_SCHEMA.names}
    return {**columns, **changes}


def test_numpy_masked_and_arrow_columns_give_the_rows_table():
    onscreen = np.array([True, False, True])
    columns = event_columns(
        clip_id=np.array([e.clip_id for e in THREE_EVENTS], dtype=object),
        recording_id=pa.chunked_array([[THREE_EVENTS[0].recording_id], [e.recording_id for e in THREE_EVENTS[1:]]]),
        frame=np.array([0, 1, 2], dtype=np.int64),
        class_id=np.array([1, 3, 1], dtype=np.int8),
        class_name=pa.array([e.class_name for e in THREE_EVENTS]),
        target_class=pa.array(["speech", None, "speech"]).dictionary_encode().cast(
            pa.dictionary(pa.int8(), pa.string())),
        source_index=np.zeros(3, dtype=np.int16),
        azimuth_deg=np.array([e.azimuth_deg for e in THREE_EVENTS]),
        onscreen=onscreen,
        x_px=np.ma.masked_array([146.2, 0.0, 146.2], mask=~onscreen),
        y_px=np.ma.masked_array([66.1, np.nan, 66.1], mask=~onscreen),
        recipe_hash=np.array([HASH] * 3, dtype=object),
        visually_confirmed=np.ma.masked_array([False, False, False], mask=[True, True, False]),
    )
    table = columns_to_table(columns, EVENTS_SCHEMA)
    assert table.schema == EVENTS_SCHEMA
    assert table_to_rows(table, EventRow) == THREE_EVENTS
    validate_events(table)


def test_numeric_numpy_columns_are_not_copied_when_their_type_matches():
    azimuth_deg = np.array([e.azimuth_deg for e in THREE_EVENTS])
    table = columns_to_table(event_columns(azimuth_deg=azimuth_deg), EVENTS_SCHEMA)
    buffer = table.column("azimuth_deg").chunk(0).buffers()[1]
    assert buffer.address == azimuth_deg.ctypes.data


BAD_COLUMNS = {
    "numpy int past int32": (
        {"frame": np.array([0, 1, 2**40])}, "events: row 2: frame=1099511627776 cannot be stored as int32"),
    "numpy float with a fraction": (
        {"source_index": np.array([0.0, 1.5, 0.0])}, "events: row 1: source_index=1.5 cannot be stored as int16"),
    "masked float with a fraction": (
        {"class_id": np.ma.masked_array([1.0, 3.0, 2.5], mask=[False, True, False])},
        "events: row 2: class_id=2.5 cannot be stored as int16"),
    "object array with a number": (
        {"clip_id": np.array(["a", "b", 5], dtype=object)}, "events: row 2: clip_id=5 cannot be stored as string"),
    "Arrow text as numbers": (
        {"azimuth_deg": pa.array(["1.5", "late", "2"])},
        "events: row 1: azimuth_deg='late' cannot be stored as double"),
    "Arrow chunks": (
        {"elevation_deg": pa.chunked_array([["1"], ["2", "high"]])},
        "events: row 2: elevation_deg='high' cannot be stored as double"),
    "a list": ({"x_px": [1.0, None, "left"]}, "events: row 2: x_px='left' cannot be stored as double"),
}


@pytest.mark.parametrize(("changes", "message"), BAD_COLUMNS.values(), ids=BAD_COLUMNS.keys())
def test_conversion_errors_name_the_row_column_and_value(changes, message):
    with refused(message):
        columns_to_table(event_columns(**changes), EVENTS_SCHEMA)


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(ContractError, match=re.escape("events: columns have different lengths: {'clip_id': 3, ")):
        columns_to_table(event_columns(frame=np.arange(4)), EVENTS_SCHEMA)
