"""Per-clip label files, in the format the recipe's `label_format` names; their conventions are written here once.

`savgbench` (the default), as in the SAVGBench release: rows `frame,class,x,y`, no header; the onscreen events of
interest only; frame = 100 ms label frame from the clip start, class = STARSS class id, x/y = pixels of the content
picture (2 decimals), sorted by frame, class, x, y.

`dcase2025`, as in the DCASE2025 Task 3 stereo SELD dataset: a header `frame,class,source,azimuth,distance,onscreen`,
then one row per annotated event (every class, onscreen or not) and label frame of the clip, sorted by frame, class,
source; every value an integer:
- frame: label frame (100 ms) from the clip start; class: STARSS class id; source: the annotation's source index.
- azimuth: the event's direction relative to the view in degrees (+ = left; `curation.selection.project_events`),
  folded to the front half, because a stereo pair cannot tell front from back: 180° − φ for φ > 90°, −180° − φ
  for φ < −90° (`fold_azimuth_to_front_deg`), then rounded to the nearest degree (halves to even; integral
  annotations seen from integral views are whole degrees already).
- distance: the annotation's distance in cm, rounded; empty where the annotation has none (STARSS22's 5-column
  files record no distance).
- onscreen: 1 iff the event is inside the picture by the exact pinhole test (`curation.geometry.pinhole_project`:
  the same test as the events manifest's `onscreen` and the SAVGBench labels), else 0. The challenge's own generator
  uses a raster lookup instead, which calls events up to ~1.5° outside the picture onscreen.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from curation.plan import ClipEvents
from data_contracts.recipe import LABEL_FORMATS

__all__ = ["DCASE2025_HEADER", "LABEL_FORMATS", "clip_label_csv", "dcase2025_csv", "dcase2025_rows",
           "fold_azimuth_to_front_deg", "savgbench_csv"]

DCASE2025_HEADER = ("frame", "class", "source", "azimuth", "distance", "onscreen")


def fold_azimuth_to_front_deg(azimuth_deg):
    """Azimuths in [-180, 180] folded to the front half [-90, 90]: mirrored about the left-right axis, so a
    direction behind the listener maps to the front direction a stereo pair hears it at (100° → 80°, −170° → −10°,
    ±180° → 0°)."""
    azimuth = np.asarray(azimuth_deg, dtype=np.float64)
    return np.where(azimuth > 90, 180 - azimuth, np.where(azimuth < -90, -180 - azimuth, azimuth))


def savgbench_csv(events: ClipEvents) -> str:
    """The SAVGBench per-clip metadata CSV of a clip's events (see the module docstring)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for frame, class_id, x_px, y_px in events.metadata_rows():
        writer.writerow([frame, class_id, f"{x_px:.2f}", f"{y_px:.2f}"])
    return out.getvalue()


def dcase2025_rows(events: ClipEvents) -> list[tuple[int, int, int, int, int | None, int]]:
    """(frame, class, source, azimuth, distance or None, onscreen) of every event of the clip, in track order
    (frame, class, source): the DCASE2025 label rows (see the module docstring)."""
    shared, view = events.shared, events.view_index
    index = np.arange(events.first, events.stop)
    track, projection = shared.track, shared.projection
    azimuth = np.rint(fold_azimuth_to_front_deg(projection.relative_azimuth_deg[view, index])).astype(np.int64)
    distance = (np.full(index.shape, np.nan) if track.distance_cm is None else track.distance_cm[index])
    columns = [(track.frame[index] - events.start_frame).tolist(), track.class_id[index].tolist(),
               track.source_index[index].tolist(), azimuth.tolist(),
               [None if np.isnan(d) else int(np.rint(d)) for d in distance.tolist()],
               projection.onscreen[view, index].astype(np.int64).tolist()]
    return list(zip(*columns))


def dcase2025_csv(events: ClipEvents) -> str:
    """The DCASE2025 per-clip label CSV of a clip's events: the header, then `dcase2025_rows` (an empty field for a
    missing distance)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DCASE2025_HEADER)
    writer.writerows(tuple("" if value is None else value for value in row) for row in dcase2025_rows(events))
    return out.getvalue()


_WRITERS = {"savgbench": savgbench_csv, "dcase2025": dcase2025_csv}


def clip_label_csv(events: ClipEvents, label_format: str) -> str:
    """A clip's label file in `label_format` (one of `LABEL_FORMATS`, the recipe's `label_format`)."""
    try:
        writer = _WRITERS[label_format]
    except KeyError:
        raise ValueError(f"label_format {label_format!r}: expected one of {', '.join(LABEL_FORMATS)}") from None
    return writer(events)
