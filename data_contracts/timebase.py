"""The time base: 100 ms label frames, seconds, audio samples and video frames, and the conversions between them.

Every conversion of the pipeline, the synthetic generator, the metric and the audit page between these units is
here, each with its rounding named and explained. The roundings differ on purpose, and a different rounding is a
different function (a partial last frame counts when drawing a recording, not when planning clips from one), so
pick the function by what the number means, never by what rounds "nicely".

Label frame f covers [f · 0.1 s, (f + 1) · 0.1 s). `LABEL_FRAME_S` is the float 0.1, which is not exactly a tenth:
a time on a frame boundary, divided by it, can land a few units in the last place on either side of the integer
(0.3 / 0.1 = 2.9999999999999996). The float conversions therefore add a small tolerance before they floor or ceil;
the tolerance is far below one audio sample (42 µs at 24 kHz), so it never moves a time that is really inside a
frame. Exact conversions (the render's decoding grid) use `LABEL_FRAME_FRACTION_S`, the rational 1/10.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = [
    "LABEL_FRAMES_PER_S",
    "LABEL_FRAME_S",
    "LABEL_FRAME_FRACTION_S",
    "whole_label_frames",
    "label_frames_covering",
    "nearest_label_frames",
    "label_frame_start_s",
    "label_frames_to_manifest_s",
    "label_frame_of_time",
    "label_frame_of_video_frame",
    "video_frame_of_label_frame",
    "samples_per_label_frame",
    "nearest_index_at_rate",
    "label_frames_to_fraction_s",
    "grid_tick_of_label_frame",
]

# Label frames per second, an integer so that frame counts convert to video frames and samples without rounding.
LABEL_FRAMES_PER_S = 10

# Duration of one annotation (label) frame in seconds (the float nearest 0.1): frame f covers [f·0.1 s, (f+1)·0.1 s).
LABEL_FRAME_S = 1 / LABEL_FRAMES_PER_S

# The same duration as an exact rational, for arithmetic that must not round (the render's decoding grid).
LABEL_FRAME_FRACTION_S = Fraction(1, LABEL_FRAMES_PER_S)

# Tolerance, in label frames, of a whole-frame count: 1e-6 frames = 0.1 µs, far less than one audio sample, so a
# recording short of a whole frame by even one sample does not count that frame, while a duration that is an exact
# multiple of 0.1 s up to float error (or after rounding to the microsecond, as the manifests store it) does.
_WHOLE_FRAME_TOLERANCE = 1e-6

# Tolerance, in label frames, of a time on a label-frame boundary: a time exactly on a boundary (up to float error)
# starts the new frame. 1e-9 frames = 0.1 ns.
_BOUNDARY_TOLERANCE = 1e-9


# ----------------------------------------------------------------------------------------------------------------
# Durations in seconds → label frame counts


def whole_label_frames(duration_s: float) -> int:
    """Whole 100 ms label frames in a recording of duration_s ≥ 0 s: a partial last frame does not count.

    floor(duration_s / 0.1 + 1e-6). The annotations of a recording may use frames 0 .. this − 1, and the clip
    windows are laid out on them: a window must not run past the audio and video that exist.
    """
    return math.floor(duration_s / LABEL_FRAME_S + _WHOLE_FRAME_TOLERANCE)


def label_frames_covering(duration_s: float) -> int:
    """Label frames needed to cover [0, duration_s): a partial last frame counts; at least 1.

    ceil(duration_s / 0.1 − 1e-9). A synthetic recording of duration_s draws and sounds every frame that any of its
    samples or video frames falls in, so it needs the partial last frame too, but not a frame that a duration on a
    boundary only touches.
    """
    return max(1, math.ceil(duration_s / LABEL_FRAME_S - _BOUNDARY_TOLERANCE))


def nearest_label_frames(duration_s: float) -> int:
    """The whole number of label frames nearest to duration_s: round(duration_s / 0.1), halves to even.

    For a length drawn in seconds that must become a number of frames (a synthetic event's on or off time), where
    neither a floor nor a ceil is meant.
    """
    return int(round(duration_s / LABEL_FRAME_S))


# ----------------------------------------------------------------------------------------------------------------
# Label frames → seconds


def label_frame_start_s(label_frame):
    """Start time in seconds of label frame f (int, or an int array): f · 0.1, unrounded (float or float array)."""
    return label_frame * LABEL_FRAME_S


def label_frames_to_manifest_s(n_label_frames: int) -> float:
    """n label frames in seconds as the manifests store them: round(n · 0.1, 6), to the microsecond.

    The rounding keeps float noise out of the manifests (3 · 0.1 = 0.30000000000000004 is stored as 0.3), so that
    start_s and duration_s read back as the decimal a person would write.
    """
    return round(n_label_frames * LABEL_FRAME_S, 6)


# ----------------------------------------------------------------------------------------------------------------
# Seconds, audio samples and video frames → label frames


def label_frame_of_time(time_s):
    """Label frame (int64 array, or int64 for a scalar) that contains time_s: floor(time_s / 0.1 + 1e-9).

    A time on a frame boundary, up to float error, belongs to the frame that starts there. Audio sample n at
    rate r is at time n / r; an STFT window belongs to the frame that holds its centre.
    """
    return np.floor(np.asarray(time_s, dtype=np.float64) / LABEL_FRAME_S + _BOUNDARY_TOLERANCE).astype(np.int64)


def label_frame_of_video_frame(video_frame: int, fps: Fraction | float) -> int:
    """The label frame that video frame k, shown from k / fps seconds, displays: floor(k / fps / 0.1 + 1e-9).

    A video frame shows the label frame its start time falls in (`label_frame_of_time`); fps is converted to a float
    before the division.
    """
    return int(label_frame_of_time(video_frame / float(fps)))


# ----------------------------------------------------------------------------------------------------------------
# Label frames → video frames, audio samples


def video_frame_of_label_frame(label_frame, video_fps: float) -> np.ndarray:
    """Video frame index round(f · fps / 10) shown nearest the start of label frame f (int64, same shape).

    Computed as f · fps · 0.1 and rounded half to even like Python's round() (the Spatial AV-Align rule: the metric
    looks for a person in the video frames around this one); at 4 fps no label frame falls on a half.
    """
    return np.rint(np.asarray(label_frame, dtype=np.float64) * float(video_fps) * LABEL_FRAME_S).astype(np.int64)


def samples_per_label_frame(rate_hz: float) -> int:
    """Audio samples in one label frame at rate_hz, to the nearest sample: round(rate_hz · 0.1) (2400 at 24 kHz)."""
    return int(round(rate_hz * LABEL_FRAME_S))


# ----------------------------------------------------------------------------------------------------------------
# Seconds → audio samples, video frames


def nearest_index_at_rate(time_s: float, rate_hz: Fraction | float) -> int:
    """Index of the sample of a stream at rate_hz (audio samples, or video frames at fps) nearest to time_s.

    int(round(time_s · float(rate_hz))), halves to even. Also the number of samples in a duration of time_s, to
    the nearest sample: where a clip's audio starts in the prepared audio, how long a synthetic recording is.
    """
    return int(round(time_s * float(rate_hz)))


# ----------------------------------------------------------------------------------------------------------------
# Exact label frames → decoding-grid ticks


def label_frames_to_fraction_s(n_label_frames: int) -> Fraction:
    """n label frames as an exact number of seconds: n / 10."""
    return Fraction(n_label_frames) * LABEL_FRAME_FRACTION_S


def grid_tick_of_label_frame(label_frame: int, rate_hz: Fraction) -> int:
    """Tick of a time grid at the exact rate_hz at the start of label frame f ≥ 0: floor(f / 10 · rate_hz).

    Rational arithmetic, so the only rounding is the floor, and on the render's decoding grid there is none: that
    grid's rate is chosen so that every window start (a multiple of the hop) falls on a tick.
    """
    return int(label_frames_to_fraction_s(label_frame) * rate_hz)
