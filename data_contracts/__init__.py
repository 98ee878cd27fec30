"""Data contracts of the SAVGBench curation pipeline: row types, pyarrow schemas, validators and the recipe.

Every validation failure raises :class:`ContractError`, whose message names the file or table, the line or row,
and the offending value.
"""

from data_contracts.annotations import (
    ANNOTATION_SCHEMA,
    AnnotationRow,
    DuplicateAnnotationWarning,
    annotations_to_table,
    parse_annotations,
    read_annotations,
    write_annotations_csv,
)
from data_contracts.classes import CLASS_NAMES, LABEL_FRAME_S, SPLITS, TARGET_CLASSES
from data_contracts.errors import ContractError
from data_contracts.manifests import (
    CLIPS_SCHEMA,
    EVENTS_SCHEMA,
    RECORDINGS_SCHEMA,
    REJECTS_SCHEMA,
    STATUSES,
    ClipRow,
    EventRow,
    RecordingRow,
    RejectRow,
    make_clip_id,
    recording_id_problem,
    columns_to_table,
    rows_to_table,
    table_to_rows,
    validate_clips,
    validate_events,
    validate_manifests,
    validate_recordings,
    validate_rejects,
)
from data_contracts.recipe import Recipe, dump_recipe_yaml, load_recipe

__all__ = [
    "ANNOTATION_SCHEMA",
    "CLASS_NAMES",
    "CLIPS_SCHEMA",
    "EVENTS_SCHEMA",
    "LABEL_FRAME_S",
    "RECORDINGS_SCHEMA",
    "REJECTS_SCHEMA",
    "SPLITS",
    "STATUSES",
    "TARGET_CLASSES",
    "AnnotationRow",
    "ClipRow",
    "ContractError",
    "DuplicateAnnotationWarning",
    "EventRow",
    "Recipe",
    "RecordingRow",
    "RejectRow",
    "annotations_to_table",
    "dump_recipe_yaml",
    "load_recipe",
    "make_clip_id",
    "recording_id_problem",
    "parse_annotations",
    "read_annotations",
    "columns_to_table",
    "rows_to_table",
    "table_to_rows",
    "validate_clips",
    "validate_events",
    "validate_manifests",
    "validate_recordings",
    "validate_rejects",
    "write_annotations_csv",
]
