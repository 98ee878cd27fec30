"""The run's funnel: a Prefect table artifact and the same table in `<output>/report/summary.md`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from data_contracts._atomic import write_text_atomic
from data_contracts.classes import SPLITS, TARGET_CLASSES


def funnel_rows(recordings, n_candidates: int, n_qualifying: int, clips: pa.Table, rejects,
                seconds: dict[str, float]):
    """[{"stage", "count"}] rows: recordings found/accepted, candidates, qualifying, kept, rejects, per split/class."""
    rows = [
        {"stage": "recordings found", "count": len(recordings)},
        {"stage": "recordings accepted", "count": sum(r.status == "ok" for r in recordings)},
        {"stage": "candidate (window, view) pairs", "count": n_candidates},
        {"stage": "qualifying pairs", "count": n_qualifying},
        {"stage": "clips kept", "count": clips.num_rows},
    ]
    split = clips.column("split").to_pylist()
    frames = {t: clips.column(f"n_{t}_frames").to_pylist() for t in TARGET_CLASSES}
    for reason, count in sorted(Counter(r.reason for r in rejects).items()):
        rows.append({"stage": f"rejected: {reason}", "count": count})
    for name in SPLITS:
        in_split = [i for i, s in enumerate(split) if s == name]
        rows.append({"stage": f"clips in {name}", "count": len(in_split)})
        for target in TARGET_CLASSES:
            n = sum(frames[target][i] > 0 for i in in_split)
            rows.append({"stage": f"clips in {name} with onscreen {target}", "count": n})
    for name, value in sorted(seconds.items()):
        rows.append({"stage": f"seconds: {name}", "count": round(value, 2)})
    return rows


def markdown_table(rows) -> str:
    lines = ["| stage | count |", "| --- | ---: |"]
    lines += [f"| {r['stage']} | {r['count']} |" for r in rows]
    return "\n".join(lines) + "\n"


@task(name="report", cache_policy=NO_CACHE)
def report(output_dir: str, recordings, n_candidates: int, n_qualifying: int, clips: pa.Table, rejects,
           seconds: dict[str, float]) -> str:
    """Publish the funnel as a Prefect artifact and write `report/summary.md`; returns the summary's path."""
    rows = funnel_rows(recordings, n_candidates, n_qualifying, clips, rejects, seconds)
    path = Path(output_dir) / "report" / "summary.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "# SAVGBench curation summary\n\n" + markdown_table(rows))
    create_table_artifact(table=rows, key="curate-funnel", description=f"Curation funnel for {output_dir}")
    get_run_logger().info("report: %s", path)
    return str(path)
