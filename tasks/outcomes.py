"""How the recordings' per-recording outputs add up to what the run's manifests and report are written from.

Plain functions (no Prefect): the curate flow's body (`flows.pipeline.run_curation`) calls them between tasks.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Sequence

from curation.discover import SourceRecording
from data_contracts.manifests import RecordingRow, RejectRow
from tasks.curate_recording import RecordingOutput

__all__ = ["INTERNAL_ERROR", "PairCounts", "output_rejects", "mark_rejected", "mark_render_failure",
           "internal_error_reject", "internal_error_row", "relative_detail", "sum_stage_seconds", "count_pairs"]

# The reason of a recording whose task raised an exception nobody expected: a bug, or a case no check knows yet.
INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class PairCounts:
    """Candidate (window, view) pairs over the run's recordings, and those the selection rule lets qualify."""

    n_candidates: int
    n_qualifying: int


def output_rejects(output: RecordingOutput) -> list[RejectRow]:
    """The reject rows one rendered recording adds to the run's: its rejected clips, then, if rendering dropped the
    whole recording, that failure."""
    rejects = list(output.rejects)
    if output.failure is not None:
        rejects.append(output.failure)
    return rejects


def mark_rejected(recordings: Sequence[RecordingRow], recording_id: str, reason: str) -> list[RecordingRow]:
    """The recordings rows with `recording_id`'s marked rejected for `reason`, the others unchanged. Order is kept."""
    return [replace(r, status="rejected", reason=reason) if r.recording_id == recording_id else r
            for r in recordings]


def mark_render_failure(recordings: Sequence[RecordingRow], output: RecordingOutput) -> list[RecordingRow]:
    """The recordings rows with the output's recording marked rejected (for the failure's reason) when rendering
    dropped it; the rows unchanged otherwise. Order is kept."""
    if output.failure is None:
        return list(recordings)
    return mark_rejected(recordings, output.recording_id, output.failure.reason)


def internal_error_reject(stage: str, recording_id: str, exc: BaseException, recipe_hash: str) -> RejectRow:
    """The rejects row of a recording whose `stage` task ("inspect", "plan", "render", "verify") raised `exc`:
    reason `internal_error`, detail "<ExceptionType>: <message>"."""
    return RejectRow(stage, recording_id, None, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", recipe_hash)


def internal_error_row(source: SourceRecording, split: str, recipe_hash: str) -> RecordingRow:
    """The recordings row of a recording whose inspection raised, so that it has no row of its own: what discovery
    knows of it (id, folder, split, file paths), rejected as `internal_error`."""
    return RecordingRow(recording_id=source.recording_id, source_folder=source.source_folder, split=split,
                        audio_path=source.audio_path, video_path=source.video_path, metadata_path=source.metadata_path,
                        duration_s=None, status="rejected", reason=INTERNAL_ERROR, audio_sha256=None,
                        video_sha256=None, metadata_sha256=None, recipe_hash=recipe_hash)


def relative_detail(detail: str, source_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> str:
    """`detail` with the source and output roots left out of the paths it names, so that a rejects table is the same
    wherever the folders are: every `<root>/` prefix removed, for each root as given (made absolute) and resolved
    (symlinks followed). The longest prefix goes first, should one root lie inside the other."""
    prefixes = set()
    for root in (Path(source_dir), Path(output_dir)):
        for spelling in (root.absolute(), root.resolve()):
            if spelling.parent != spelling:  # the filesystem root: every absolute path starts with it
                prefixes.add(f"{spelling}/")
    for prefix in sorted(prefixes, key=len, reverse=True):
        detail = detail.replace(prefix, "")
    return detail


def sum_stage_seconds(outputs: Iterable[RecordingOutput]) -> dict[str, float]:
    """Seconds per render stage summed over the outputs, added in the order given (float sums depend on it)."""
    seconds: dict[str, float] = defaultdict(float)
    for output in outputs:
        for stage, value in output.seconds.items():
            seconds[stage] += value
    return dict(seconds)


def count_pairs(outputs: Iterable[RecordingOutput]) -> PairCounts:
    """Candidate and qualifying (window, view) pairs summed over the outputs."""
    outputs = list(outputs)
    return PairCounts(sum(o.n_candidates for o in outputs), sum(o.n_qualifying for o in outputs))
