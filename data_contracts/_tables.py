"""Row dataclasses <-> pyarrow tables, shared by the annotation and manifest contracts.

Each schema carries its table name in its metadata (key ``table``) so that errors can name the table.
Row numbers in messages are 0-based table row indices, as pandas shows them.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data_contracts.errors import ContractError

Row = TypeVar("Row")

_CONVERSION_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError)


def named_schema(name: str, fields: list[pa.Field]) -> pa.Schema:
    """Build a schema whose metadata records the table ``name`` used in error messages."""
    return pa.schema(fields, metadata={"table": name})


def table_name(schema: pa.Schema, default: str = "table") -> str:
    """The table name stored by :func:`named_schema`, or ``default`` for schemas without one."""
    metadata = schema.metadata or {}
    return metadata.get(b"table", default.encode()).decode()


def rows_to_table(rows: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """Convert dataclass rows (all of one type, fields named as the schema's columns) to a table with ``schema``.

    An empty sequence gives an empty table with ``schema``. Raises ContractError naming the row, column and value
    that cannot be stored in the column's type.
    """
    name = table_name(schema)
    if not rows:
        return schema.empty_table()
    row_type = type(rows[0])
    _require_same_columns(name, _field_names(row_type), schema.names, row_type.__name__)
    for index, row in enumerate(rows):
        if type(row) is not row_type:
            raise ContractError(f"{name}: row {index}: expected {row_type.__name__}, got {type(row).__name__}")
    return columns_to_table({field.name: [getattr(row, field.name) for row in rows] for field in schema}, schema)


def columns_to_table(columns: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
    """A table with ``schema`` from one sequence of values per column (``rows_to_table`` without the rows).

    Each column may be a list of Python values; a numpy array: numeric or bool (converted without per-value Python
    work), a ``numpy.ma.MaskedArray`` (masked values become nulls), or an object array of str / None; or a pyarrow
    Array or ChunkedArray, cast to the field's type when it differs (e.g. string to dictionary). Raises ContractError
    naming the columns that do not match the schema, columns of unequal lengths, or the row, column and value that
    cannot be stored in the column's type.
    """
    name = table_name(schema)
    _require_same_columns(name, list(columns), schema.names, "column")
    lengths = {column: len(columns[column]) for column in schema.names}
    if len(set(lengths.values())) > 1:
        raise ContractError(f"{name}: columns have different lengths: {lengths}")
    return pa.Table.from_arrays([_column_array(name, field, columns[field.name]) for field in schema], schema=schema)


def table_to_rows(table: pa.Table, row_type: type[Row]) -> list[Row]:
    """Convert ``table`` to a list of ``row_type`` dataclass instances (dictionary columns come back as ``str``)."""
    names = _field_names(row_type)
    _require_same_columns(table_name(table.schema, row_type.__name__), names, table.column_names, row_type.__name__)
    return [row_type(**record) for record in table.select(names).to_pylist()]


def _field_names(row_type: type) -> list[str]:
    if not dataclasses.is_dataclass(row_type):
        raise ContractError(f"{row_type.__name__} is not a dataclass row type")
    return [field.name for field in dataclasses.fields(row_type)]


def _require_same_columns(name: str, field_names: list[str], column_names: list[str], row_type_name: str) -> None:
    missing = [column for column in field_names if column not in column_names]
    unexpected = [column for column in column_names if column not in field_names]
    if missing or unexpected:
        raise ContractError(
            f"{name}: columns do not match {row_type_name} fields: missing {missing}, unexpected {unexpected}"
        )


def _column_array(name: str, field: pa.Field, values: Any) -> pa.Array | pa.ChunkedArray:
    """``values`` (one column as columns_to_table takes it) as an Arrow array of ``field``'s type."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)) and values.type == field.type:
        return values
    try:
        return _convert(values, field.type)
    except _CONVERSION_ERRORS:
        raise _conversion_error(name, field, values) from None


def _convert(values: Any, arrow_type: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pc.cast(values, arrow_type)
    if isinstance(values, np.ma.MaskedArray):
        return pa.array(values.data, type=arrow_type, mask=np.ma.getmaskarray(values))
    # numpy arrays (numeric, bool, str or object) and lists: Arrow converts them in C++, numeric ones without
    # touching a Python object.
    return pa.array(values, type=arrow_type)


def _conversion_error(name: str, field: pa.Field, values: Any) -> ContractError:
    # Arrow reports a failed column without the row. Conversion is value by value, so halving the range that fails
    # finds the first failing row in O(log n) conversions of slices.
    low, high = 0, len(values)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            _convert(values[low:middle], field.type)
        except _CONVERSION_ERRORS:
            high = middle
        else:
            low = middle
    try:
        _convert(values[low:high], field.type)
    except _CONVERSION_ERRORS as exc:
        value = _python_value(values, low)
        return ContractError(f"{name}: row {low}: {field.name}={value!r} cannot be stored as {field.type}: {exc}")
    return ContractError(f"{name}: column {field.name} cannot be stored as {field.type}")


def _python_value(values: Any, index: int) -> Any:
    value = values[index]
    if isinstance(value, pa.Scalar):
        return value.as_py()
    if isinstance(value, np.generic):
        return value.item()
    return value
