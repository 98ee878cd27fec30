"""How the recordings' summaries (`tasks.curate_recording.RecordingSummary`) add up to what the run's manifests
and report are written from.

Plain functions (no Prefect): the curate flow's body (`flows.pipeline.run_curation`) calls them between tasks.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from curation.discover import SourceRecording
from data_contracts.manifests import RecordingRow, RejectRow

if TYPE_CHECKING:  # tasks.curate_recording imports this module
    from tasks.curate_recording import RecordingSummary

__all__ = ["INTERNAL_ERROR", "PairCounts", "mark_rejected", "mark_render_failure",
           "internal_error_reject", "internal_error_row", "relative_detail", "sum_stage_seconds", "count_pairs"]

# The reason of a recording whose task raised an exception nobody expected: a bug, or a case no check knows yet.
INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class PairCounts:
    """Candidate (window, view) pairs over the run's recordings, and those the selection rule lets qualify."""

    n_candidates: int
    n_qualifying: int


def mark_rejected(recordings: Sequence[RecordingRow], recording_id: str, reason: str) -> list[RecordingRow]:
    """The recordings rows with `recording_id`'s marked rejected for `reason`, the others unchanged. Order is kept."""
    return [replace(r, status="rejected", reason=reason) if r.recording_id == recording_id else r
            for r in recordings]


def mark_render_failure(recordings: Sequence[RecordingRow], summary: RecordingSummary) -> list[RecordingRow]:
    """The recordings rows with the summary's recording marked rejected (for the failure's reason) when rendering
    dropped it; the rows unchanged otherwise. Order is kept."""
    if summary.failure is None:
        return list(recordings)
    return mark_rejected(recordings, summary.recording_id, summary.failure.reason)


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


def sum_stage_seconds(summaries: Iterable[RecordingSummary]) -> dict[str, float]:
    """Seconds per render stage summed over the recordings' summaries, added in the order given (float sums depend
    on it)."""
    seconds: dict[str, float] = defaultdict(float)
    for summary in summaries:
        for stage, value in summary.seconds.items():
            seconds[stage] += value
    return dict(seconds)


def count_pairs(summaries: Iterable[RecordingSummary]) -> PairCounts:
    """Candidate and qualifying (window, view) pairs summed over the recordings' summaries."""
    summaries = list(summaries)
    return PairCounts(sum(s.n_candidates for s in summaries), sum(s.n_qualifying for s in summaries))
