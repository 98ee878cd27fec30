"""The audit report: `<output>/report/index.html` (see `curation.audit.page`), linked from the run as a markdown
artifact."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from curation.audit.page import class_balance, write_report
from data_contracts.classes import TARGET_CLASSES
from tasks._run_context import in_prefect_run, run_logger


def audit_markdown(html_path: Path, balance: pd.DataFrame) -> str:
    """The artifact's text: where the page is, how to open it, and the class balance so the run shows it too."""
    header = "| " + " | ".join(balance.columns) + " |"
    rule = "| " + " | ".join("---" for _ in balance.columns) + " |"
    rows = ["| " + " | ".join(str(value) for value in row) + " |" for row in balance.itertuples(index=False)]
    return "\n".join([
        "# SAVGBench audit",
        "",
        f"Report page (static, open it from disk): [`{html_path}`]({html_path.as_uri()})",
        "",
        "Funnel, rejects, class balance, event positions, clips per view and recording, contact sheets per split "
        "and a top-down plot per recording.",
        "",
        header,
        rule,
        *rows,
        "",
    ])


@task(name="audit", cache_policy=NO_CACHE)
def audit(output_dir: str) -> str:
    """Write the audit page for a curated output and link it as the `curate-audit` artifact; returns its path.

    Works inside the curate flow or called on its own (Prefect records it as a standalone task run).
    """
    path = write_report(output_dir)  # reads every manifest whole (pandas), events included
    balance = class_balance(pd.read_parquet(Path(output_dir) / "manifests" / "clips.parquet",
                                            columns=["split", *(f"n_{t}_frames" for t in TARGET_CLASSES)]))
    if in_prefect_run():  # a plain call (Task.fn) has no run to attach the artifact to
        create_markdown_artifact(markdown=audit_markdown(path, balance), key="curate-audit",
                                 description=f"Audit report for {output_dir}")
    run_logger(__name__).info("audit report: %s", path)
    return str(path)
