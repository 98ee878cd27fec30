"""The run's funnel: a Prefect table artifact and the same table in `<output>/report/summary.md`; with the
verification stage, the set-level visual confirmation of onscreen speech events too."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from data_contracts._atomic import write_text_atomic
from data_contracts.classes import SPLITS, TARGET_CLASSES
from tasks._run_context import in_prefect_run, run_logger


def funnel_rows(recordings, n_candidates: int, n_qualifying: int, clips: pa.Table, rejects: pa.Table,
                seconds: dict[str, float]):
    """[{"stage", "count"}] rows: recordings found/accepted, candidates, qualifying, kept, rejects, per split/class.

    `clips` needs only the columns split and n_<target>_frames, `rejects` only reason (e.g. read with
    `pq.read_table(path, columns=...)`): counted with Arrow compute, no row becomes a Python object.
    """
    rows = [
        {"stage": "recordings found", "count": len(recordings)},
        {"stage": "recordings accepted", "count": sum(r.status == "ok" for r in recordings)},
        {"stage": "candidate (window, view) pairs", "count": n_candidates},
        {"stage": "qualifying pairs", "count": n_qualifying},
        {"stage": "clips kept", "count": clips.num_rows},
    ]
    reasons = pc.value_counts(pc.cast(rejects.column("reason"), pa.string())).to_pylist() if rejects.num_rows else []
    for item in sorted(reasons, key=lambda item: item["values"]):
        rows.append({"stage": f"rejected: {item['values']}", "count": item["counts"]})
    split = pc.cast(clips.column("split"), pa.string())
    for name in SPLITS:
        in_split = pc.fill_null(pc.equal(split, name), False)
        rows.append({"stage": f"clips in {name}", "count": _count(in_split)})
        for target in TARGET_CLASSES:
            n = _count(pc.and_(in_split, pc.greater(clips.column(f"n_{target}_frames"), 0)))
            rows.append({"stage": f"clips in {name} with onscreen {target}", "count": n})
    for name, value in sorted(seconds.items()):
        rows.append({"stage": f"seconds: {name}", "count": round(value, 2)})
    return rows


# The columns of the clips and rejects manifests the funnel counts.
FUNNEL_CLIP_COLUMNS = ["split", *(f"n_{target}_frames" for target in TARGET_CLASSES)]
FUNNEL_REJECT_COLUMNS = ["reason"]


def _count(mask) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


VERIFICATION_CHECKED = "onscreen speech events checked by the detector"
VERIFICATION_CONFIRMED = "onscreen speech events visually confirmed"
VERIFICATION_RATE = "visual confirmation rate (ground-truth Spatial AV-Align)"
_HEADER_STAGES = ("candidate (window, view) pairs", "qualifying pairs")


def verification_rows(events: pa.Table):
    """[{"stage", "count"}] rows of the verification stage: events checked, confirmed, and the pooled rate (the
    ground-truth Spatial AV-Align of the set); no rows when the events table has no verification column or value."""
    if "visually_confirmed" not in events.column_names:
        return []
    confirmed = events.column("visually_confirmed")
    n_checked = len(confirmed) - confirmed.null_count
    if not n_checked:
        return []
    n_confirmed = int(pc.sum(pc.cast(confirmed, pa.int64())).as_py())
    return [
        {"stage": VERIFICATION_CHECKED, "count": n_checked},
        {"stage": VERIFICATION_CONFIRMED, "count": n_confirmed},
        {"stage": VERIFICATION_RATE, "count": round(n_confirmed / n_checked, 4)},
    ]


def _events_verification_rows(output_dir: str):
    """verification_rows of the events manifest just written under output_dir (none if it has no such column)."""
    path = Path(output_dir) / "manifests" / "events.parquet"
    if not path.is_file() or "visually_confirmed" not in pq.read_schema(path).names:
        return []
    return verification_rows(pq.read_table(path, columns=["visually_confirmed"]))


def read_summary_rows(path: Path):
    """The [{"stage", "count"}] rows of a summary.md written by `report` (numbers parsed, text kept)."""
    rows = []
    for line in path.read_text().splitlines()[4:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2:
            continue
        stage, text = cells
        try:
            count = int(text)
        except ValueError:
            try:
                count = float(text)
            except ValueError:
                count = text
        rows.append({"stage": stage, "count": count})
    return rows


def refresh_summary(output_dir: Path, recordings, clips: pa.Table, events: pa.Table, rejects: pa.Table) -> str:
    """Rewrite `report/summary.md` after the manifests changed outside the flow (`savgbench verify OUT`).

    The counts only the flow knew (candidate and qualifying pairs, stage seconds) are kept from the old summary
    ("unknown" without one); everything else is recomputed from the tables. Returns the summary's path.
    """
    path = Path(output_dir) / "report" / "summary.md"
    old = {row["stage"]: row["count"] for row in read_summary_rows(path)} if path.is_file() else {}
    seconds = {stage.removeprefix("seconds: "): count for stage, count in old.items() if stage.startswith("seconds: ")}
    rows = funnel_rows(recordings, old.get(_HEADER_STAGES[0], "unknown"), old.get(_HEADER_STAGES[1], "unknown"),
                       clips, rejects, seconds)
    _write_summary(path, rows + verification_rows(events))
    return str(path)


def _write_summary(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "# SAVGBench curation summary\n\n" + markdown_table(rows))


def markdown_table(rows) -> str:
    lines = ["| stage | count |", "| --- | ---: |"]
    lines += [f"| {r['stage']} | {r['count']} |" for r in rows]
    return "\n".join(lines) + "\n"


@task(name="report", cache_policy=NO_CACHE)
def report(output_dir: str, recordings, n_candidates: int, n_qualifying: int, seconds: dict[str, float]) -> str:
    """Publish the funnel as a Prefect artifact and write `report/summary.md`; returns the summary's path.

    The clips and rejects are counted from the manifests just published under output_dir, reading only the
    columns the funnel needs. When the events manifest has verification results, their set-level figures
    (`verification_rows`) end the table.
    """
    manifests = Path(output_dir) / "manifests"
    clips = pq.read_table(manifests / "clips.parquet", columns=FUNNEL_CLIP_COLUMNS)
    rejects = pq.read_table(manifests / "rejects.parquet", columns=FUNNEL_REJECT_COLUMNS)
    rows = funnel_rows(recordings, n_candidates, n_qualifying, clips, rejects, seconds)
    rows += _events_verification_rows(output_dir)
    path = Path(output_dir) / "report" / "summary.md"
    _write_summary(path, rows)
    if in_prefect_run():  # a plain call (Task.fn) has no run to attach the artifact to
        create_table_artifact(table=rows, key="curate-funnel", description=f"Curation funnel for {output_dir}")
    run_logger(__name__).info("report: %s", path)
    return str(path)
