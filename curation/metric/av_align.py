"""Spatial AV-Align, the SAVGBench metric, and the same rule for verification (docs/conventions.md, "Spatial
AV-Align, as this project computes it").

A sound localised at label frame f (100 ms frames, 10 per second) at horizontal pixel x is matched when any person
box in video frames round(f·fps/10) ± 1 overlaps [x − 40, x + 40] px horizontally. Pixels are those of the
content picture (256×144 for SAVGBench, letterbox bars excluded). Intervals that only touch count as overlapping:
the rule is written with "overlaps" and the boundary is where an implementation has to choose.

The metric scores localisations from an audio localiser; verification scores the annotated x of onscreen events.
Both go through `match_boxes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

# The label frame → video frame rule of the metric is the time base's, re-exported here as part of the metric.
from data_contracts.timebase import video_frame_of_label_frame

__all__ = [
    "HALF_WIDTH_PX",
    "TOLERANCE_FRAMES",
    "AlignCounts",
    "video_frame_of_label_frame",
    "match_boxes",
    "align_counts",
    "onscreen_mask",
]

# The metric's constants, as the authors' code uses them.
HALF_WIDTH_PX = 40.0
TOLERANCE_FRAMES = 1


@dataclass(frozen=True)
class AlignCounts:
    """True positives and false negatives of Spatial AV-Align; `score` is TP / (TP + FN), NaN with nothing scored."""

    tp: int
    fn: int

    @property
    def n_scored(self) -> int:
        return self.tp + self.fn

    @property
    def score(self) -> float:
        return self.tp / self.n_scored if self.n_scored else float("nan")

    def __add__(self, other: "AlignCounts") -> "AlignCounts":
        return AlignCounts(self.tp + other.tp, self.fn + other.fn)

    @classmethod
    def pooled(cls, counts: Iterable["AlignCounts"]) -> "AlignCounts":
        """Counts summed over clips: the set-level score pools TP and FN, it does not average clip scores."""
        total = cls(0, 0)
        for item in counts:
            total = total + item
        return total


def match_boxes(
    label_frame,
    x_px,
    box_video_frame,
    box_x0_px,
    box_x1_px,
    *,
    video_fps: float,
    half_width_px: float = HALF_WIDTH_PX,
    tolerance_frames: int = TOLERANCE_FRAMES,
) -> np.ndarray:
    """For each localised sound (label frame f, pixel x), whether any box matches it (bool array, one per sound).

    A box in video frame k with horizontal extent [x0, x1] matches when |k − round(f·fps/10)| ≤ tolerance_frames
    and x0 ≤ x + half_width_px and x1 ≥ x − half_width_px. All pixels are content pixels of one clip.
    """
    frames = np.asarray(label_frame, dtype=np.int64).reshape(-1)
    x = np.asarray(x_px, dtype=np.float64).reshape(-1)
    box_frame = np.asarray(box_video_frame, dtype=np.int64).reshape(-1)
    x0 = np.asarray(box_x0_px, dtype=np.float64).reshape(-1)
    x1 = np.asarray(box_x1_px, dtype=np.float64).reshape(-1)
    if frames.shape != x.shape:
        raise ValueError(f"label_frame has {frames.size} values but x_px has {x.size}")
    if not box_frame.size == x0.size == x1.size:
        raise ValueError(f"box arrays differ in length: {box_frame.size}, {x0.size}, {x1.size}")
    if box_frame.size == 0 or frames.size == 0:
        return np.zeros(frames.shape, dtype=bool)
    # Sounds × boxes: a clip has at most a few hundred of each, so the full matrix is small.
    sound_video_frame = video_frame_of_label_frame(frames, video_fps)
    near_in_time = np.abs(box_frame[None, :] - sound_video_frame[:, None]) <= tolerance_frames
    overlaps = (x0[None, :] <= x[:, None] + half_width_px) & (x1[None, :] >= x[:, None] - half_width_px)
    return np.any(near_in_time & overlaps, axis=1)


def onscreen_mask(x_px, content_width_px: float) -> np.ndarray:
    """Localisations the metric can score: a finite x inside the picture, 0 ≤ x ≤ W.

    A sound localised off the picture has no box to be compared with; it is neither a TP nor an FN.
    """
    x = np.asarray(x_px, dtype=np.float64)
    return np.isfinite(x) & (x >= 0.0) & (x <= content_width_px)


def align_counts(matched) -> AlignCounts:
    """TP and FN of one clip from `match_boxes`' result."""
    matched = np.asarray(matched, dtype=bool)
    tp = int(matched.sum())
    return AlignCounts(tp=tp, fn=int(matched.size - tp))
