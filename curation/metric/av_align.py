"""Spatial AV-Align, the SAVGBench metric, and the same rule for verification (docs/conventions.md, "Spatial
AV-Align, as this project computes it").

A sound localised at label frame f (100 ms frames, 10 per second) at horizontal pixel x is matched when any person
box in video frames round(f·fps/10) ± 1 overlaps [x − 40, x + 40] px horizontally. Pixels are those of the
content picture (256×144 for SAVGBench, letterbox bars excluded). Intervals that only touch count as overlapping:
the rule is written with "overlaps" and the boundary is where an implementation has to choose.

Verification scores the annotated x of onscreen events with `match_boxes`. `savgbench evaluate` scores
localisations with `match_boxes_authors`, the rule exactly as the benchmark's authors' script computes it (same
section): truncated integer pixels, the last video frame clamped, off-picture sounds scored, a clip without boxes
all FN.
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
    "AUTHORS_VIDEO_FPS",
    "AUTHORS_VIDEO_FRAMES",
    "AuthorsRuleError",
    "authors_video_frame",
    "match_boxes_authors",
    "align_counts",
    "onscreen_mask",
]

# The metric's constants, as the authors' code uses them.
HALF_WIDTH_PX = 40.0
TOLERANCE_FRAMES = 1
# The authors' clips: video frames 0–19 at 4 fps (5 s), label frames at 10 fps.
AUTHORS_VIDEO_FPS = 4
AUTHORS_VIDEO_FRAMES = 20


class AuthorsRuleError(ValueError):
    """A localisation the authors' rule cannot score: its video frame is outside the clip (the message names it)."""


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
    frames, x, box_frame, x0, x1 = _sounds_and_boxes(np.asarray(label_frame, dtype=np.int64), x_px,
                                                     box_video_frame, box_x0_px, box_x1_px)
    if box_frame.size == 0 or frames.size == 0:
        return np.zeros(frames.shape, dtype=bool)
    # Sounds × boxes: a clip has at most a few hundred of each, so the full matrix is small.
    sound_video_frame = video_frame_of_label_frame(frames, video_fps)
    near_in_time = np.abs(box_frame[None, :] - sound_video_frame[:, None]) <= tolerance_frames
    overlaps = (x0[None, :] <= x[:, None] + half_width_px) & (x1[None, :] >= x[:, None] - half_width_px)
    return np.any(near_in_time & overlaps, axis=1)


def authors_video_frame(label_frame, *, video_fps: int = AUTHORS_VIDEO_FPS,
                        n_video_frames: int = AUTHORS_VIDEO_FRAMES) -> np.ndarray:
    """Video frame k = round(f · fps / 10) of each label frame (numpy rounding, half to even), with k = n_video_frames
    clamped to the last frame (label frames 49–51 look at frames 18–19). Raises AuthorsRuleError for any other k
    outside 0 … n_video_frames − 1."""
    frames = np.asarray(label_frame).reshape(-1)
    k = np.round(frames * video_fps / 10).astype(np.int64)
    k[k == n_video_frames] = n_video_frames - 1
    outside = (k < 0) | (k >= n_video_frames)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise AuthorsRuleError(f"label frame {frames[first]} is video frame {k[first]}, outside the clip's "
                               f"0–{n_video_frames - 1}")
    return k


def match_boxes_authors(
    label_frame,
    x_px,
    box_video_frame,
    box_x0_px,
    box_x1_px,
    *,
    video_fps: int = AUTHORS_VIDEO_FPS,
    n_video_frames: int = AUTHORS_VIDEO_FRAMES,
) -> np.ndarray:
    """For each localised sound (label frame f, pixel x) of one clip, whether the authors' rule makes it a TP.

    With no boxes at all every sound is an FN. Else k = `authors_video_frame(f)` and a box in frames k − 1 … k + 1
    matches when int(x1) ≥ int(x) − 40 and int(x0) ≤ int(x) + 40, int truncating toward zero as Python's. Any x is
    scored, inside the picture or not; classes are not compared. Exact for |pixel| < 2**53; a non-finite x raises
    ValueError (Python's int() refuses it too).
    """
    frames, x, box_frame, x0, x1 = _sounds_and_boxes(np.asarray(label_frame), x_px, box_video_frame, box_x0_px,
                                                     box_x1_px)
    for name, values in (("x_px", x), ("box x0_px", x0), ("box x1_px", x1)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} {values[~np.isfinite(values)][0]} is not a finite pixel")
    if box_frame.size == 0 or frames.size == 0:
        return np.zeros(frames.shape, dtype=bool)
    sound_video_frame = authors_video_frame(frames, video_fps=video_fps, n_video_frames=n_video_frames)
    # Integer-valued floats: np.trunc is int() and ± 40 stays exact below 2**53.
    x_int, x0_int, x1_int = np.trunc(x), np.trunc(x0), np.trunc(x1)
    near_in_time = np.abs(box_frame[None, :] - sound_video_frame[:, None]) <= TOLERANCE_FRAMES
    overlaps = (x1_int[None, :] >= x_int[:, None] - HALF_WIDTH_PX) & (x0_int[None, :] <= x_int[:, None] + HALF_WIDTH_PX)
    return np.any(near_in_time & overlaps, axis=1)


def onscreen_mask(x_px, content_width_px: float) -> np.ndarray:
    """A finite x inside the picture, 0 ≤ x ≤ W (where `match_boxes` has a box to compare with).

    `savgbench evaluate` does not use it: the authors' rule scores sounds off the picture too.
    """
    x = np.asarray(x_px, dtype=np.float64)
    return np.isfinite(x) & (x >= 0.0) & (x <= content_width_px)


def align_counts(matched) -> AlignCounts:
    """TP and FN of one clip from `match_boxes`' result."""
    matched = np.asarray(matched, dtype=bool)
    tp = int(matched.sum())
    return AlignCounts(tp=tp, fn=int(matched.size - tp))


def _sounds_and_boxes(label_frame: np.ndarray, x_px, box_video_frame, box_x0_px, box_x1_px):
    """The sounds' (label frames, x) and the boxes' (video frames, x0, x1) as flat arrays, checked to pair up."""
    frames = label_frame.reshape(-1)
    x = np.asarray(x_px, dtype=np.float64).reshape(-1)
    box_frame = np.asarray(box_video_frame, dtype=np.int64).reshape(-1)
    x0 = np.asarray(box_x0_px, dtype=np.float64).reshape(-1)
    x1 = np.asarray(box_x1_px, dtype=np.float64).reshape(-1)
    if frames.shape != x.shape:
        raise ValueError(f"label_frame has {frames.size} values but x_px has {x.size}")
    if not box_frame.size == x0.size == x1.size:
        raise ValueError(f"box arrays differ in length: {box_frame.size}, {x0.size}, {x1.size}")
    return frames, x, box_frame, x0, x1
