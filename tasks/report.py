"""The run's funnel: Prefect table artifacts and the same tables in `<output>/report/summary.md`: the run's counts
(recordings, pairs, clips, rejects, seconds; with the verification stage, the set-level visual confirmation of
onscreen speech events too), then the selection's funnel per split and target class (`class_funnel_rows`)."""

from __future__ import annotations

from collections.abc import Mapping
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
from tasks.outcomes import RUN_FUNNEL_STAGES, SplitBudget


def funnel_rows(recordings, n_candidates: int, n_qualifying: int, clips: pa.Table, rejects: pa.Table,
                seconds: dict[str, float], budget_rows=()):
    """[{"stage", "count"}] rows: recordings found/accepted, candidates, qualifying, kept, rejects, per split/class,
    then `budget_rows` (`budget_summary`) and the seconds.

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
    rows += list(budget_rows)
    for name, value in sorted(seconds.items()):
        rows.append({"stage": f"seconds: {name}", "count": round(value, 2)})
    return rows


# The columns of the clips and rejects manifests the funnel counts.
FUNNEL_CLIP_COLUMNS = ["split", *(f"n_{target}_frames" for target in TARGET_CLASSES), "target_class"]
FUNNEL_REJECT_COLUMNS = ["reason"]
_BUDGET_PREFIX = "budget of "


def budget_summary(budgets: Mapping[str, SplitBudget]):
    """[{"stage", "count"}] rows of the clip budget of each split with accepted recordings
    (`tasks.outcomes.SplitBudget`): its accepted source hours and, with `max_clips_per_source_hour`, its budget B
    in clips; with `fill_max_near_duplicates`, the clips that filled it up per target class (of those that could)."""
    rows = []
    for split in SPLITS:
        budget = budgets[split]
        if not budget.source_hours:
            continue
        rows.append({"stage": f"{_BUDGET_PREFIX}{split}: accepted source hours",
                     "count": round(budget.source_hours, 4)})
        if budget.budget is not None:
            rows.append({"stage": f"{_BUDGET_PREFIX}{split}: clips (max_clips_per_source_hour x hours)",
                         "count": budget.budget})
        for target, count in budget.filled.items():
            rows.append({"stage": f"{_BUDGET_PREFIX}{split}: {target} clips filled up from de-duplicated ones "
                                  f"(of {budget.fill_candidates[target]} that could)", "count": count})
    return rows


# The funnel per split and target class: one column per (split, target class), then their sum.
FUNNEL_COLUMNS = tuple(f"{split} {target}" for split in SPLITS for target in TARGET_CLASSES)
FUNNEL_TOTAL = "all"
FUNNEL_TITLE = "## Funnel per split and target class"
FUNNEL_NOTE = ("Clips (window, view pairs) per split and target class at each step of the selection, in order; "
               "a policy that is off keeps every clip of the step before; a clip's target class is the one with "
               "more onscreen label frames in it (ties, and pairs with none: speech). \"after class balance\" is "
               "what the ratio keeps of a class (with a budget too, only where the ratio, not the budget, limits "
               "the class); \"after budget\" includes the clips that filled up a split de-duplication left short of "
               "its budget (`fill_max_near_duplicates`; the budget table counts them); \"rendered\" counts the clips "
               "written, before verification; \"kept\" the clips the manifests list.")
PLANNED_NOTE = "Planning only: nothing was rendered; \"rendered\" and \"kept\" count the planned clips."


def _stage_label(stage: str) -> str:
    return stage.replace("_", " ")


def class_funnel_rows(funnel: Mapping[str, Mapping[str, Mapping[str, int]]] | None, clips: pa.Table):
    """The selection's funnel per split and target class: one row per stage of `RUN_FUNNEL_STAGES`, {"stage",
    one count per column of `FUNNEL_COLUMNS`, "all"}. `funnel` (split -> target class -> stage -> count,
    `tasks.outcomes.sum_funnel`) gives every stage but "kept", which is counted from `clips` (columns split and
    target_class); a count no one knows (no funnel, or no target_class column) is "unknown"."""
    split = pc.cast(clips.column("split"), pa.string()) if "split" in clips.column_names else None
    target = (pc.cast(clips.column("target_class"), pa.string()) if "target_class" in clips.column_names else None)
    rows = []
    for stage in RUN_FUNNEL_STAGES:
        row = {"stage": _stage_label(stage)}
        for name in SPLITS:
            for target_class in TARGET_CLASSES:
                if stage == "kept":
                    count = ("unknown" if split is None or target is None
                             else _count(pc.and_(pc.equal(split, name), pc.equal(target, target_class))))
                else:
                    count = "unknown" if funnel is None else funnel[name][target_class][stage]
                row[f"{name} {target_class}"] = count
        counts = [row[column] for column in FUNNEL_COLUMNS]
        row[FUNNEL_TOTAL] = "unknown" if "unknown" in counts else sum(counts)
        rows.append(row)
    return rows


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


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _table_cells(lines) -> list[list[str]]:
    """The cells of each markdown table row among `lines` (header and separator rows left out)."""
    rows = []
    for line in lines:
        if not line.startswith("|") or line.startswith(("| ---", "| stage |")):
            continue
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def read_summary_rows(path: Path):
    """The [{"stage", "count"}] rows of a summary.md written by `report` (numbers parsed, text kept): its first
    table."""
    lines = path.read_text().splitlines()[4:]
    if FUNNEL_TITLE in lines:
        lines = lines[:lines.index(FUNNEL_TITLE)]
    return [{"stage": cells[0], "count": _number(cells[1])} for cells in _table_cells(lines) if len(cells) == 2]


def read_class_funnel_rows(path: Path):
    """The rows of the funnel per split and target class of a summary.md written by `report` (`class_funnel_rows`:
    {"stage", one count per column}, numbers parsed); none when it has no such table."""
    lines = path.read_text().splitlines()
    if FUNNEL_TITLE not in lines:
        return []
    lines = lines[lines.index(FUNNEL_TITLE) + 1:]
    header = next((line for line in lines if line.startswith("| stage |")), None)
    if header is None:
        return []
    columns = [cell.strip() for cell in header.strip().strip("|").split("|")]
    return [dict(zip(columns, [cells[0], *map(_number, cells[1:])])) for cells in _table_cells(lines)
            if len(cells) == len(columns)]


def class_funnel_lines(path: Path) -> list[str]:
    """The funnel per split and target class of a summary.md as an aligned text table to print (`savgbench plan`):
    a header line, one line per stage, then the budget of each split (its hours, its clips and the clips that
    filled it up, where a budget is set), then, for a plan run, the note that "rendered" and "kept" are planned
    counts. No lines when the summary has no such table."""
    rows = read_class_funnel_rows(path)
    if not rows:
        return []
    columns = list(rows[0])
    cells = [["funnel", *columns[1:]], *([str(row[column]) for column in columns] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join([line[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(line[1:], widths[1:]))])
             for line in cells]
    lines += [f"{row['stage']}: {row['count']}" for row in read_summary_rows(path)
              if row["stage"].startswith(_BUDGET_PREFIX)]
    if PLANNED_NOTE in path.read_text():
        lines.append(PLANNED_NOTE)
    return lines


def refresh_summary(output_dir: Path, recordings, clips: pa.Table, events: pa.Table, rejects: pa.Table) -> str:
    """Rewrite `report/summary.md` after the manifests changed outside the flow (`savgbench verify OUT`).

    The counts only the flow knew (candidate and qualifying pairs, the budgets, stage seconds, the funnel per split
    and class up to "rendered") are kept from the old summary ("unknown" without one); everything else is
    recomputed from the tables. Returns the summary's path.
    """
    path = Path(output_dir) / "report" / "summary.md"
    old_rows = read_summary_rows(path) if path.is_file() else []
    old = {row["stage"]: row["count"] for row in old_rows}
    seconds = {stage.removeprefix("seconds: "): count for stage, count in old.items() if stage.startswith("seconds: ")}
    budget_rows = [row for row in old_rows if row["stage"].startswith(_BUDGET_PREFIX)]
    rows = funnel_rows(recordings, old.get(_HEADER_STAGES[0], "unknown"), old.get(_HEADER_STAGES[1], "unknown"),
                       clips, rejects, seconds, budget_rows)
    old_funnel = {row["stage"]: row for row in read_class_funnel_rows(path)} if path.is_file() else {}
    class_rows = class_funnel_rows(None, clips)
    for row in class_rows:
        if row["stage"] != _stage_label("kept") and row["stage"] in old_funnel:
            row.update(old_funnel[row["stage"]])
    planned_only = path.is_file() and PLANNED_NOTE in path.read_text()
    _write_summary(path, rows + verification_rows(events), class_rows, planned_only)
    return str(path)


def _write_summary(path: Path, rows, class_rows, planned_only: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    notes = FUNNEL_NOTE + ("\n\n" + PLANNED_NOTE if planned_only else "")
    write_text_atomic(path, "# SAVGBench curation summary\n\n" + markdown_table(rows) + f"\n{FUNNEL_TITLE}\n\n"
                      + markdown_table(class_rows) + f"\n{notes}\n")


def markdown_table(rows) -> str:
    """Rows of equal keys as a markdown table: a column per key, the first (the stage) left-aligned, the others
    right-aligned."""
    columns = list(rows[0]) if rows else ["stage", "count"]
    lines = ["| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
    lines += ["| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@task(name="report", cache_policy=NO_CACHE)
def report(output_dir: str, recordings, n_candidates: int, n_qualifying: int, seconds: dict[str, float],
           funnel: Mapping[str, Mapping[str, Mapping[str, int]]] | None = None, planned_only: bool = False,
           budget_rows=None) -> str:
    """Publish the funnel as Prefect table artifacts and write `report/summary.md`; returns the summary's path.

    The clips and rejects are counted from the manifests just published under output_dir, reading only the
    columns the funnel needs. `budget_rows` (`budget_summary`, with a budget) follow the clips per split; when the
    events manifest has verification results, their set-level figures (`verification_rows`) end the table. A
    second table gives the funnel per split and target class (`class_funnel_rows`, from `funnel`: split -> target
    class -> stage -> count, `tasks.outcomes.sum_funnel`); `planned_only` (a plan run) says under it that
    "rendered" and "kept" count planned clips.
    """
    manifests = Path(output_dir) / "manifests"
    clips = pq.read_table(manifests / "clips.parquet", columns=FUNNEL_CLIP_COLUMNS)
    rejects = pq.read_table(manifests / "rejects.parquet", columns=FUNNEL_REJECT_COLUMNS)
    rows = funnel_rows(recordings, n_candidates, n_qualifying, clips, rejects, seconds, budget_rows or ())
    rows += _events_verification_rows(output_dir)
    class_rows = class_funnel_rows(funnel, clips)
    path = Path(output_dir) / "report" / "summary.md"
    _write_summary(path, rows, class_rows, planned_only)
    if in_prefect_run():  # a plain call (Task.fn) has no run to attach the artifact to
        create_table_artifact(table=rows, key="curate-funnel", description=f"Curation funnel for {output_dir}")
        create_table_artifact(table=class_rows, key="curate-funnel-by-class",
                              description=f"Selection funnel per split and target class for {output_dir}. "
                                          + FUNNEL_NOTE + (" " + PLANNED_NOTE if planned_only else ""))
    run_logger(__name__).info("report: %s", path)
    return str(path)
