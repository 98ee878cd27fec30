"""Row dataclasses <-> pyarrow tables, shared by the annotation and manifest contracts.

Each schema carries its table name in its metadata (key ``table``) so that errors can name the table.
Row numbers in messages are 0-based table row indices, as pandas shows them.
"""

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import pyarrow as pa

from data_contracts.errors import ContractError

Row = TypeVar("Row")


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


def columns_to_table(columns: dict[str, Sequence[Any]], schema: pa.Schema) -> pa.Table:
    """A table with ``schema`` from one list of Python values per column (``rows_to_table`` without the rows).

    Raises ContractError naming the columns that do not match the schema, or the row, column and value that cannot
    be stored in the column's type.
    """
    name = table_name(schema)
    _require_same_columns(name, list(columns), schema.names, "column")
    arrays = []
    for field in schema:
        values = columns[field.name]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            raise _conversion_error(name, field, values) from None
    return pa.Table.from_arrays(arrays, schema=schema)


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


def _conversion_error(name: str, field: pa.Field, values: list[Any]) -> ContractError:
    # Arrow reports a failed column without the row; converting one value at a time finds the row to name.
    for index, value in enumerate(values):
        try:
            pa.array([value], type=field.type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            return ContractError(f"{name}: row {index}: {field.name}={value!r} cannot be stored as {field.type}: {exc}")
    return ContractError(f"{name}: column {field.name} cannot be stored as {field.type}")
