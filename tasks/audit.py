"""The audit report: `<output>/report/index.html` (see `curation.audit.page`), with the funnel per split and target
class of the run's summary.md (`write_audit_page`, also behind `savgbench audit OUT`), linked from the run as a
markdown artifact."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from curation.audit.page import (
    NEAR_DUPLICATE_COLUMNS,
    class_balance,
    near_duplicate_summary,
    near_duplicates,
    write_report,
)
from data_contracts.classes import TARGET_CLASSES
from tasks._run_context import in_prefect_run, run_logger
from tasks.report import read_class_funnel_rows


def write_audit_page(output_dir: str | Path) -> Path:
    """Write the audit page of a curated output (`curation.audit.page.write_report`) with the selection's funnel per
    split and target class read from its `report/summary.md` (none when it has no such table, or no summary: the
    page says so); returns the page's path. The curate flow's `audit` task and `savgbench audit OUT` both call it."""
    summary = Path(output_dir) / "report" / "summary.md"
    class_funnel = read_class_funnel_rows(summary) if summary.is_file() else []
    return write_report(output_dir, class_funnel)


def _markdown_table(frame: pd.DataFrame) -> list[str]:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    return [header, rule, *("| " + " | ".join(str(value) for value in row) + " |"
                            for row in frame.itertuples(index=False))]


def audit_markdown(html_path: Path, balance: pd.DataFrame, near: pd.DataFrame) -> str:
    """The artifact's text: where the page is, how to open it, and the class balance and near-duplicates
    (`near_duplicate_summary`) so the run shows them too."""
    return "\n".join([
        "# SAVGBench audit",
        "",
        f"Report page (static, open it from disk): [`{html_path}`]({html_path.as_uri()})",
        "",
        "Funnel (with the selection's funnel per split and target class), rejects, class balance, near-duplicates "
        "per split, event positions, clips per view and recording, contact sheets per split and a top-down plot per "
        "recording.",
        "",
        *_markdown_table(balance),
        "",
        *_markdown_table(near),
        "",
    ])


@task(name="audit", cache_policy=NO_CACHE)
def audit(output_dir: str) -> str:
    """Write the audit page for a curated output and link it as the `curate-audit` artifact; returns its path.

    Works inside the curate flow or called on its own (Prefect records it as a standalone task run).
    """
    path = write_audit_page(output_dir)  # reads every manifest whole (pandas), events included
    clips = pd.read_parquet(Path(output_dir) / "manifests" / "clips.parquet",
                            columns=["split", *(f"n_{t}_frames" for t in TARGET_CLASSES), *NEAR_DUPLICATE_COLUMNS])
    balance = class_balance(clips)
    near = near_duplicate_summary(clips, near_duplicates(clips))
    if in_prefect_run():  # a plain call (Task.fn) has no run to attach the artifact to
        create_markdown_artifact(markdown=audit_markdown(path, balance, near), key="curate-audit",
                                 description=f"Audit report for {output_dir}")
    run_logger(__name__).info("audit report: %s", path)
    return str(path)
