"""The curation library: pure math and media logic of the pipeline, no Prefect.

Top level, the pipeline itself, in the order a recording meets it: `discover` (pair the files of a STARSS-style
download), `splits` (which split a source folder feeds), `media` (probe, decode, encode), `geometry` (directions,
rotations, the pinhole camera), `selection` (onscreen events and the selection rule), `plan` (windows × views →
clips), `foa` (rotate the ambisonics, decode to stereo), `perspective` (equirectangular → perspective crops),
`render` (write each clip's mp4, wav and metadata csv).

Sub-packages, each beside the pipeline rather than part of it:
- `curation.synthetic`: the generator of synthetic STARSS-style recordings (demo and tests).
- `curation.metric`: the benchmark's Spatial AV-Align metric, its person detector and sound localiser.
- `curation.audit`: the static audit page of a curated set.

Imports point down: top-level modules import each other and `data_contracts` only, never a sub-package; a
sub-package imports the top level and `data_contracts`, never another sub-package; nothing here imports `tasks`,
`flows` or Prefect. `docs/architecture.md` draws the whole picture.
"""
