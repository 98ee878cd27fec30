"""The SAVGBench metric, Spatial AV-Align, and what it needs: a person detector and a sound localiser.

`av_align` is the rule (a localised sound matched by a person box within ±40 px, ±1 video frame); `detect` runs an
ultralytics person detector on frames; `localize` is the training-free mid-side localiser; `evaluate` scores a
folder of generated clips (`savgbench evaluate`). The pipeline's visual verification stage (`tasks.verify`) uses
`detect` and `av_align` with annotated instead of localised positions.

May import: the top level of `curation` (geometry, media, perspective) and `data_contracts`. Not
`curation.synthetic`, `curation.audit`, `tasks`, `flows` or Prefect.
"""
