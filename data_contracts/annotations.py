"""STARSS annotation CSVs: one row per active sound event per 100 ms label frame.

File format (no header): ``frame,class,source_index,azimuth,elevation[,distance_cm]``, 6 columns in STARSS23 and
5 in STARSS22. Azimuth is in degrees, counter-clockwise positive (+90 = left), in [-180, 180]; elevation in degrees,
up positive, in [-90, 90]; distance in centimetres. Error messages give 1-based line numbers of the file.
"""

import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from data_contracts._atomic import write_text_atomic
from data_contracts._tables import named_schema, rows_to_table
from data_contracts.classes import CLASS_NAMES
from data_contracts.errors import ContractError


@dataclass(frozen=True)
class AnnotationRow:
    """One active sound event in one label frame.

    ``frame`` counts 100 ms label frames from the start of the recording (frame 0 starts at t = 0 s);
    ``azimuth_deg``/``elevation_deg`` are the source direction in degrees in the STARSS convention;
    ``distance_cm`` is None for STARSS22 files, which do not record distance.
    """

    frame: int
    class_id: int
    source_index: int
    azimuth_deg: float
    elevation_deg: float
    distance_cm: float | None = None


ANNOTATION_SCHEMA = named_schema(
    "annotations",
    [
        pa.field("frame", pa.int32(), nullable=False),
        pa.field("class_id", pa.int16(), nullable=False),
        pa.field("source_index", pa.int16(), nullable=False),
        pa.field("azimuth_deg", pa.float64(), nullable=False),
        pa.field("elevation_deg", pa.float64(), nullable=False),
        pa.field("distance_cm", pa.float64(), nullable=True),
    ],
)


class DuplicateAnnotationWarning(UserWarning):
    """An annotation file repeats a row verbatim; the repeat was dropped (released STARSS22 files do this)."""


_COLUMNS = ("frame", "class_id", "source_index", "azimuth_deg", "elevation_deg", "distance_cm")
_INTEGER_COLUMNS = ("frame", "class_id", "source_index")
_COLUMN_COUNTS = (5, 6)
# Plain decimal numbers only: float() would also accept "nan", "inf" and "1_000", none of which is an annotation.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def parse_annotations(text: str, source: str, *, max_frame: int | None = None) -> list[AnnotationRow]:
    """Parse the text of one annotation CSV into rows, in file order.

    ``source`` names the file in error messages. ``max_frame`` is the last label frame (100 ms) the recording
    covers; a row after it raises. Blank lines, surrounding whitespace and CRLF line ends are tolerated.
    Two rows with the same (frame, class_id, source_index) but different values raise; a verbatim repeat of a
    row is dropped with a :class:`DuplicateAnnotationWarning` (STARSS22's fold3_room21_mix023 has 1024 of them).
    Raises ContractError naming ``source``, the 1-based line number and the bad value.
    """
    rows: list[AnnotationRow] = []
    first_of_key: dict[tuple[int, int, int], tuple[int, AnnotationRow]] = {}
    repeated_lines: list[int] = []
    file_column_count: int | None = None
    format_line_number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        where = f"{source}: line {line_number}"
        cells = [cell.strip() for cell in stripped.split(",")]
        if file_column_count is None and not any(_NUMBER.fullmatch(cell) for cell in cells):
            raise ContractError(f"{where}: {stripped!r} looks like a header; annotation CSVs have no header row",
                                "annotation_header")
        if len(cells) not in _COLUMN_COUNTS:
            raise ContractError(f"{where}: {len(cells)} columns in {stripped!r}, expected 5 (STARSS22) or 6 (STARSS23)",
                                "annotation_column_count")
        if file_column_count is None:
            file_column_count, format_line_number = len(cells), line_number
        elif len(cells) != file_column_count:
            raise ContractError(
                f"{where}: {len(cells)} columns in {stripped!r} but line {format_line_number} has "
                f"{file_column_count}; one file must not mix STARSS22 and STARSS23 rows",
                "annotation_column_count",
            )
        row = AnnotationRow(
            *(_parse_cell(where, name, cell) for name, cell in zip(_COLUMNS[: len(cells)], cells, strict=True))
        )
        _check_row(where, row, max_frame)
        key = (row.frame, row.class_id, row.source_index)
        if key in first_of_key:
            first_line_number, first_row = first_of_key[key]
            if row != first_row:
                raise ContractError(
                    f"{where}: duplicate (frame, class_id, source_index)={key} with different values {stripped!r}, "
                    f"first on line {first_line_number}",
                    "annotation_duplicate",
                )
            repeated_lines.append(line_number)
            continue
        first_of_key[key] = (line_number, row)
        rows.append(row)
    if not rows:
        raise ContractError(f"{source}: no annotation rows (empty file)", "annotation_empty")
    if repeated_lines:
        warnings.warn(
            f"{source}: dropped {len(repeated_lines)} verbatim repeated rows (first on line {repeated_lines[0]})",
            DuplicateAnnotationWarning,
            stacklevel=2,
        )
    return rows


def read_annotations(path: str | os.PathLike[str], *, max_frame: int | None = None) -> list[AnnotationRow]:
    """Read and validate one annotation CSV (see :func:`parse_annotations`); errors name ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path}: cannot read annotation file: {exc}", "annotation_unreadable") from exc
    return parse_annotations(text, str(path), max_frame=max_frame)


def write_annotations_csv(path: str | os.PathLike[str], rows: Iterable[AnnotationRow]) -> None:
    """Write rows as a headerless STARSS CSV sorted by (frame, class_id, source_index), atomically.

    Six columns when the rows carry ``distance_cm``, five (STARSS22) when none does. Integral values are written
    as integers, as in the released files. The rows are checked with the reader's rules first, so every file
    written here reads back; errors name ``path`` and the 0-based index of the offending row in ``rows``.
    """
    indexed = list(enumerate(rows))
    if not indexed:
        raise ContractError(f"{path}: no annotation rows to write")
    with_distance = sum(row.distance_cm is not None for _, row in indexed)
    if 0 < with_distance < len(indexed):
        raise ContractError(
            f"{path}: {with_distance} of {len(indexed)} rows have distance_cm; "
            "a file has it on every row (STARSS23) or on none (STARSS22)"
        )
    first_index_of_key: dict[tuple[int, int, int], int] = {}
    for index, row in indexed:
        where = f"{path}: row {index}"
        for name in _INTEGER_COLUMNS:
            value = getattr(row, name)
            # bool is an int subclass, but True as a class id is a bug upstream, not an annotation.
            if not isinstance(value, int) or isinstance(value, bool):
                raise ContractError(f"{where}: {name}={value!r} is not an integer")
        _check_row(where, row, max_frame=None)
        key = (row.frame, row.class_id, row.source_index)
        if key in first_index_of_key:
            raise ContractError(
                f"{where}: duplicate (frame, class_id, source_index)={key}, first in row {first_index_of_key[key]}"
            )
        first_index_of_key[key] = index
    ordered = sorted((row for _, row in indexed), key=lambda row: (row.frame, row.class_id, row.source_index))
    columns = _COLUMNS if with_distance else _COLUMNS[:5]
    lines = [",".join(_format_number(getattr(row, name)) for name in columns) for row in ordered]
    write_text_atomic(path, "\n".join(lines) + "\n")


def annotations_to_table(rows: Sequence[AnnotationRow]) -> pa.Table:
    """Rows as a pyarrow table with :data:`ANNOTATION_SCHEMA`."""
    return rows_to_table(rows, ANNOTATION_SCHEMA)


def _parse_cell(where: str, name: str, cell: str) -> int | float:
    if not _NUMBER.fullmatch(cell):
        raise ContractError(f"{where}: {name}={cell!r} is not a number", "annotation_not_numeric")
    value = float(cell)
    if not math.isfinite(value):
        raise ContractError(f"{where}: {name}={cell!r} is not a finite number", "annotation_not_numeric")
    if name in _INTEGER_COLUMNS:
        if not value.is_integer():
            raise ContractError(f"{where}: {name}={cell!r} is not an integer", "annotation_not_integer")
        return int(value)
    return value


def _check_row(where: str, row: AnnotationRow, max_frame: int | None) -> None:
    for name in _INTEGER_COLUMNS:
        if getattr(row, name) < 0:
            raise ContractError(f"{where}: {name}={getattr(row, name)} is negative", "annotation_negative")
    if max_frame is not None and row.frame > max_frame:
        raise ContractError(f"{where}: frame={row.frame} is beyond the recording's end (max_frame={max_frame})",
                            "annotation_beyond_end")
    if row.class_id not in CLASS_NAMES:
        raise ContractError(f"{where}: class_id={row.class_id} is not a STARSS23 class (0-{max(CLASS_NAMES)})",
                            "annotation_unknown_class")
    # Written as "not inside" so that NaN, which compares false with everything, is rejected too.
    if not -180.0 <= row.azimuth_deg <= 180.0:
        raise ContractError(f"{where}: azimuth_deg={row.azimuth_deg} out of range [-180, 180]", "annotation_out_of_range")
    if not -90.0 <= row.elevation_deg <= 90.0:
        raise ContractError(f"{where}: elevation_deg={row.elevation_deg} out of range [-90, 90]",
                            "annotation_out_of_range")
    if row.distance_cm is not None and not 0.0 <= row.distance_cm < math.inf:
        raise ContractError(f"{where}: distance_cm={row.distance_cm} is negative or not finite",
                            "annotation_out_of_range")


def _format_number(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    # repr gives the shortest text that parses back to the same float, so write -> read is exact.
    return str(int(value)) if value.is_integer() else repr(value)
