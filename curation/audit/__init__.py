"""The audit page of a curated set (`savgbench audit`, and the last step of the curate flow).

`page` reads the manifests, draws tables, plots and contact sheets, and writes `report/index.html`; its functions
take DataFrames or frames, so a notebook can use them too.

May import: the top level of `curation` (geometry, media) and `data_contracts`. Not `curation.synthetic`,
`curation.metric`, `tasks`, `flows` or Prefect.
"""
