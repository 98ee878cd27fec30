"""Annotation CSVs: parsing, validation messages, writing, and the real STARSS22 sample."""

import re
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_contracts import (
    ANNOTATION_SCHEMA,
    AnnotationRow,
    DuplicateAnnotationWarning,
    annotations_to_table,
    parse_annotations,
    read_annotations,
    write_annotations_csv,
)
from tests.helpers import assert_file_refused, refused, starss22_sample

STARSS23_TEXT = "0,1,2,10,-20,150\n1,0,0,-180,90,0\n1,9,1,12.5,-0.5,99.5\n"
STARSS22_TEXT = "0,1,2,10,-20\n1,0,0,-180,90\n1,9,1,12.5,-0.5\n"
EXPECTED_ROWS_WITHOUT_DISTANCE = [
    AnnotationRow(frame=0, class_id=1, source_index=2, azimuth_deg=10.0, elevation_deg=-20.0),
    AnnotationRow(frame=1, class_id=0, source_index=0, azimuth_deg=-180.0, elevation_deg=90.0),
    AnnotationRow(frame=1, class_id=9, source_index=1, azimuth_deg=12.5, elevation_deg=-0.5),
]


def test_starss23_and_starss22_files_parse_to_the_same_rows_but_distance():
    rows_23 = parse_annotations(STARSS23_TEXT, "a.csv")
    rows_22 = parse_annotations(STARSS22_TEXT, "b.csv")
    assert rows_22 == EXPECTED_ROWS_WITHOUT_DISTANCE
    assert [row.distance_cm for row in rows_23] == [150.0, 0.0, 99.5]
    assert [AnnotationRow(r.frame, r.class_id, r.source_index, r.azimuth_deg, r.elevation_deg) for r in rows_23] == (
        rows_22
    )


def test_crlf_blank_lines_surrounding_whitespace_and_integral_floats_are_tolerated():
    text = "\r\n0.0, 1 ,2,10,-20  \r\n\r\n   \n1,0,0,-180,90\r\n1,9,1.0,12.5,-0.5\t\n\n"
    assert parse_annotations(text, "t.csv") == EXPECTED_ROWS_WITHOUT_DISTANCE


def test_rows_keep_file_order_and_overlapping_events_repeat_the_frame():
    rows = parse_annotations("7,1,0,0,0\n3,1,0,0,0\n3,1,1,5,5\n", "t.csv")
    assert [(row.frame, row.source_index) for row in rows] == [(7, 0), (3, 0), (3, 1)]


def test_verbatim_repeated_row_is_dropped_with_a_warning():
    with pytest.warns(
        DuplicateAnnotationWarning, match=re.escape("t.csv: dropped 2 verbatim repeated rows (first on line 2)")
    ):
        rows = parse_annotations("5,1,0,10,0\n5,1,0,10,0\n6,1,0,10,0\n5,1,0,10.0,0.0\n", "t.csv")
    assert rows == [AnnotationRow(5, 1, 0, 10.0, 0.0), AnnotationRow(6, 1, 0, 10.0, 0.0)]


BAD_FILES = {
    "azimuth above 180": ("0,1,0,200,0\n", {}, "t.csv: line 1: azimuth_deg=200.0 out of range [-180, 180]"),
    "azimuth below -180": (
        "0,1,0,10,0\n1,1,0,-180.5,0\n",
        {},
        "t.csv: line 2: azimuth_deg=-180.5 out of range [-180, 180]",
    ),
    "elevation above 90": ("0,1,0,10,91\n", {}, "t.csv: line 1: elevation_deg=91.0 out of range [-90, 90]"),
    "elevation below -90": ("0,1,0,10,-90.25\n", {}, "t.csv: line 1: elevation_deg=-90.25 out of range [-90, 90]"),
    "unknown class": ("0,13,0,10,0\n", {}, "t.csv: line 1: class_id=13 is not a STARSS23 class (0-12)"),
    "negative frame": ("-1,1,0,10,0\n", {}, "t.csv: line 1: frame=-1 is negative"),
    "negative class": ("0,-2,0,10,0\n", {}, "t.csv: line 1: class_id=-2 is negative"),
    "negative source index": ("0,1,-1,10,0\n", {}, "t.csv: line 1: source_index=-1 is negative"),
    "non-integer frame": ("3.5,1,0,10,0\n", {}, "t.csv: line 1: frame='3.5' is not an integer"),
    "non-integer class": ("3,1.25,0,10,0\n", {}, "t.csv: line 1: class_id='1.25' is not an integer"),
    "too few columns": (
        "0,1,0,10\n",
        {},
        "t.csv: line 1: 4 columns in '0,1,0,10', expected 5 (STARSS22) or 6 (STARSS23)",
    ),
    "too many columns": (
        "0,1,0,10,0,100,7\n",
        {},
        "t.csv: line 1: 7 columns in '0,1,0,10,0,100,7', expected 5 (STARSS22) or 6 (STARSS23)",
    ),
    "mixed column counts": (
        "0,1,0,10,0\n1,1,0,10,0,100\n",
        {},
        "t.csv: line 2: 6 columns in '1,1,0,10,0,100' but line 1 has 5; one file must not mix STARSS22 and "
        "STARSS23 rows",
    ),
    "empty file": ("", {}, "t.csv: no annotation rows (empty file)"),
    "only blank lines": ("\n  \r\n\n", {}, "t.csv: no annotation rows (empty file)"),
    "header row": (
        "frame,class,source_index,azimuth,elevation\n0,1,0,10,0\n",
        {},
        "t.csv: line 1: 'frame,class,source_index,azimuth,elevation' looks like a header; annotation CSVs have no "
        "header row",
    ),
    "non-numeric cell": ("0,1,0,abc,0\n", {}, "t.csv: line 1: azimuth_deg='abc' is not a number"),
    "empty cell": ("0,1,0,,0\n", {}, "t.csv: line 1: azimuth_deg='' is not a number"),
    "nan cell": ("0,1,0,10,nan\n", {}, "t.csv: line 1: elevation_deg='nan' is not a number"),
    "overflowing number": ("0,1,0,1e999,0\n", {}, "t.csv: line 1: azimuth_deg='1e999' is not a finite number"),
    "negative distance": ("0,1,0,10,0,-5\n", {}, "t.csv: line 1: distance_cm=-5.0 is negative or not finite"),
    "duplicate row with other values": (
        "5,1,0,10,0\n5,1,0,20,0\n",
        {},
        "t.csv: line 2: duplicate (frame, class_id, source_index)=(5, 1, 0) with different values '5,1,0,20,0', "
        "first on line 1",
    ),
    "frame beyond max_frame": (
        "0,1,0,10,0\n600,1,0,10,0\n",
        {"max_frame": 599},
        "t.csv: line 2: frame=600 is beyond the recording's end (max_frame=599)",
    ),
    "line numbers count blank lines": ("\n\n0,1,0,10,0\n\n0,1,0,10,100\n", {}, "t.csv: line 5:"),
}


@pytest.mark.parametrize(("text", "kwargs", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_annotation_file_raises_naming_file_line_and_value(text, kwargs, message):
    with refused(message):
        parse_annotations(text, "t.csv", **kwargs)


def test_frame_at_max_frame_is_accepted():
    assert parse_annotations("599,1,0,10,0\n", "t.csv", max_frame=599)[0].frame == 599


def test_read_annotations_names_the_missing_path(tmp_path):
    assert_file_refused(tmp_path / "nope.csv", None, read_annotations, "cannot read annotation file")


def test_read_annotations_errors_name_the_path(tmp_path):
    assert_file_refused(tmp_path / "fold1_room1_mix001.csv", "0,1,0,10,0\n0,4,0,10,95\n", read_annotations,
                        "line 2: elevation_deg=95.0")


def test_write_sorts_rows_and_writes_integral_values_as_integers(tmp_path):
    path = tmp_path / "out.csv"
    rows = [
        AnnotationRow(3, 9, 0, 12.5, -0.0, 250.0),
        AnnotationRow(1, 1, 1, -90.0, 45.0, 80.25),
        AnnotationRow(1, 1, 0, 0.0, 0.0, 0.0),
        AnnotationRow(1, 0, 0, 180.0, -90.0, 1.0),
    ]
    write_annotations_csv(path, rows)
    assert path.read_text() == "1,0,0,180,-90,1\n1,1,0,0,0,0\n1,1,1,-90,45,80.25\n3,9,0,12.5,0,250\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_write_without_distance_gives_a_starss22_file(tmp_path):
    path = tmp_path / "out.csv"
    write_annotations_csv(path, EXPECTED_ROWS_WITHOUT_DISTANCE)
    assert path.read_text() == STARSS22_TEXT
    assert read_annotations(path) == EXPECTED_ROWS_WITHOUT_DISTANCE


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "no annotation rows to write"),
        (
            [AnnotationRow(0, 1, 0, 0.0, 0.0, 10.0), AnnotationRow(1, 1, 0, 0.0, 0.0)],
            "1 of 2 rows have distance_cm; a file has it on every row (STARSS23) or on none (STARSS22)",
        ),
        ([AnnotationRow(0, 1, 0, 0.0, 0.0), AnnotationRow(0, 1, 0, 190.0, 0.0)], "row 1: azimuth_deg=190.0 out of"),
        ([AnnotationRow(0, 1, 0, 0.0, 0.0), AnnotationRow(0, 1, 0, 0.0, 0.0)], "row 1: duplicate (frame, class_id"),
        ([AnnotationRow(2.5, 1, 0, 0.0, 0.0)], "row 0: frame=2.5 is not an integer"),
        ([AnnotationRow(0, 20, 0, 0.0, 0.0)], "row 0: class_id=20 is not a STARSS23 class"),
    ],
)
def test_write_rejects_rows_it_could_not_read_back_and_keeps_the_old_file(tmp_path, rows, message):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with refused(f"{path}: {message}"):
        write_annotations_csv(path, rows)
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


_angle = st.floats(allow_nan=False, allow_infinity=False)
_row_key = st.tuples(st.integers(0, 20_000), st.integers(0, 12), st.integers(0, 30))


@st.composite
def _annotation_rows(draw):
    keys = draw(st.lists(_row_key, min_size=1, max_size=40, unique=True))
    with_distance = draw(st.booleans())
    rows = []
    for frame, class_id, source_index in keys:
        distance_cm = draw(st.floats(0, 1e6)) if with_distance else None
        azimuth_deg = draw(st.floats(-180, 180) | st.integers(-180, 180).map(float))
        elevation_deg = draw(st.floats(-90, 90))
        rows.append(AnnotationRow(frame, class_id, source_index, azimuth_deg, elevation_deg, distance_cm))
    return rows


# No example database: it would write .hypothesis/ into the project tree.
@settings(max_examples=150, deadline=None, database=None)
@given(rows=_annotation_rows())
def test_write_then_read_gives_the_rows_back_sorted(rows):
    # A fresh directory per example: pytest's tmp_path is shared by all hypothesis examples of one test.
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "round_trip.csv"
        write_annotations_csv(path, rows)
        assert read_annotations(path) == sorted(rows, key=lambda row: (row.frame, row.class_id, row.source_index))


def test_annotations_to_table_uses_the_schema_and_null_distance():
    table = annotations_to_table(EXPECTED_ROWS_WITHOUT_DISTANCE)
    assert table.schema == ANNOTATION_SCHEMA
    assert str(table.schema.field("frame").type) == "int32"
    assert str(table.schema.field("class_id").type) == "int16"
    assert table.column("azimuth_deg").to_pylist() == [10.0, -180.0, 12.5]
    assert table.column("distance_cm").null_count == 3
    assert annotations_to_table([]).schema == ANNOTATION_SCHEMA


def test_all_real_starss22_files_parse():
    sample = starss22_sample()
    files = sorted(sample.glob("*/*.csv"))
    assert len(files) == 67
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows_per_file = {path.relative_to(sample).as_posix(): read_annotations(path) for path in files}
    # The released sample has 118,627 lines; fold3_room21_mix023 repeats 1024 of them verbatim.
    assert sum(len(rows) for rows in rows_per_file.values()) == 118_627 - 1024
    assert [str(warning.message) for warning in caught] == [
        f"{sample}/dev-train-sony/fold3_room21_mix023.csv: dropped 1024 verbatim repeated rows "
        "(first on line 103)"
    ]
    assert all(row.distance_cm is None for rows in rows_per_file.values() for row in rows)


def test_known_rows_of_a_real_starss22_file():
    rows = read_annotations(starss22_sample() / "dev-train-sony" / "fold3_room21_mix002.csv")
    assert len(rows) == 852
    assert rows[0] == AnnotationRow(frame=9, class_id=1, source_index=1, azimuth_deg=-97.0, elevation_deg=-20.0)
    assert rows[-1] == AnnotationRow(frame=1387, class_id=1, source_index=2, azimuth_deg=-87.0, elevation_deg=-6.0)
