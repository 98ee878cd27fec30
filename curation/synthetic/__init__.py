"""Synthetic STARSS-style recordings for the demo and the tests: FOA wav, equirectangular mp4, annotation CSV.

`generator` writes recordings in the STARSS23 folder layout (from generated events, or following real annotation
trajectories); `sprites` cuts the people it draws from the photos ultralytics ships. Not part of the pipeline: the
pipeline runs the same on these recordings and on a real download.

May import: the top level of `curation` (geometry, foa, media) and `data_contracts`. Not `curation.metric`,
`curation.audit`, `tasks`, `flows` or Prefect.
"""
