"""How the recordings' per-recording outputs add up to what the run's manifests and report are written from.

Plain functions (no Prefect): the curate flow's body (`flows.pipeline.run_curation`) calls them between tasks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from data_contracts.manifests import RecordingRow, RejectRow
from tasks.curate_recording import RecordingOutput

__all__ = ["PairCounts", "output_rejects", "mark_render_failure", "sum_stage_seconds", "count_pairs"]


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


def mark_render_failure(recordings: Sequence[RecordingRow], output: RecordingOutput) -> list[RecordingRow]:
    """The recordings rows with the output's recording marked rejected (for the failure's reason) when rendering
    dropped it; the rows unchanged otherwise. Order is kept."""
    if output.failure is None:
        return list(recordings)
    return [replace(r, status="rejected", reason=output.failure.reason) if r.recording_id == output.recording_id
            else r for r in recordings]


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
