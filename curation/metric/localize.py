"""A training-free sound localiser for SAVGBench's mid-side stereo: per 100 ms label frame, is a sound active, and
at which horizontal pixel of the picture.

The stereo is L = W + Y', R = W − Y' (docs/conventions.md, "Mid-side stereo and the audio chain"), and a plane
wave from relative azimuth φ at elevation 0 has Y' = sin φ · W. In a time-frequency bin that one source
dominates, (|L| − |R|) / (|L| + |R|) is therefore sin φ, whatever the source's spectrum. Each frame's estimate is
the peak of the energy-weighted distribution of that ratio over its bins, so the loudest source wins and quieter
ones do not pull the estimate towards them (a mean would land between two sources). Mid-side stereo cannot tell
front from back: the estimate is the front direction, φ = asin(ratio), mapped to pixels with the project's pinhole
projection at elevation 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from curation.geometry import angles_to_unit, pinhole_project, vertical_fov_deg
from data_contracts.timebase import label_frame_of_time, samples_per_label_frame

__all__ = ["Localization", "localize_mid_side", "sin_azimuth_to_x_px"]

# STFT: 32 ms windows every 8 ms at 16 kHz, so a 100 ms label frame pools about 12 windows × 257 bins.
_WINDOW_S = 0.032
_HOP_S = 0.008
# Below this the high-pass (50 Hz) leaves little but hum.
_MIN_FREQUENCY_HZ = 100.0
# Histogram of the ratio over [-1, 1]: 0.025-wide cells, smoothed over ±2 cells; the peak is refined by the
# energy-weighted mean of the ratios within ±_PEAK_HALF_WIDTH of it.
_HISTOGRAM_CELLS = 80
_SMOOTH_CELLS = 5
_PEAK_HALF_WIDTH = 0.05


@dataclass(frozen=True)
class Localization:
    """Per label frame (100 ms) of a clip: `active`, the frame's `level_db` (dB re full scale, power of L and R),
    the estimated `sin_azimuth` of the dominant source relative to the view (+ = left) and its `x_px` in the
    content picture (outside [0, W] when off the picture; NaN where no bin could vote)."""

    active: np.ndarray
    level_db: np.ndarray
    sin_azimuth: np.ndarray
    x_px: np.ndarray


def sin_azimuth_to_x_px(sin_azimuth, h_fov_deg: float, content_width_px: int, content_height_px: int) -> np.ndarray:
    """Pixel x of the front direction whose sine of relative azimuth is given (elevation 0, pinhole projection):
    x = W/2 − tan(φ)·(W/2)/tan(h_fov/2) with φ = asin(sin_azimuth)."""
    azimuth_deg = np.rad2deg(np.arcsin(np.clip(np.asarray(sin_azimuth, dtype=np.float64), -1.0, 1.0)))
    v_fov_deg = vertical_fov_deg(h_fov_deg, content_width_px, content_height_px)
    x_px, _, _ = pinhole_project(angles_to_unit(azimuth_deg, 0.0), h_fov_deg, v_fov_deg, content_width_px,
                                 content_height_px)
    return x_px


def localize_mid_side(
    stereo,
    rate_hz: int,
    *,
    h_fov_deg: float,
    content_width_px: int,
    content_height_px: int,
    activity_range_db: float = 25.0,
    min_level_db: float = -60.0,
    bin_range_db: float = 30.0,
) -> Localization:
    """Localise the dominant source of each whole 100 ms label frame of a mid-side stereo clip (n_samples, 2).

    A frame is active when its level (mean power of L and R over its samples, dB re full scale) is within
    `activity_range_db` of the clip's loudest frame and at least `min_level_db`. Only bins within `bin_range_db`
    of the frame's strongest bin vote for the direction: the ratio of a bin holding only noise is random.
    """
    stereo = np.asarray(stereo, dtype=np.float64)
    if stereo.ndim != 2 or stereo.shape[1] != 2:
        raise ValueError(f"expected stereo samples of shape (n, 2), got {stereo.shape}")
    samples_per_frame = samples_per_label_frame(rate_hz)
    n_label_frames = stereo.shape[0] // samples_per_frame
    window = int(round(_WINDOW_S * rate_hz))
    hop = int(round(_HOP_S * rate_hz))
    sin_azimuth = np.full(n_label_frames, np.nan)
    if n_label_frames == 0 or stereo.shape[0] < window:
        return Localization(np.zeros(n_label_frames, bool), np.full(n_label_frames, -np.inf), sin_azimuth,
                            sin_azimuth.copy())

    # Frame level: mean power of L and R over the frame's samples, dB re full scale (0 dB: a ±1 square wave).
    framed = stereo[: n_label_frames * samples_per_frame].reshape(n_label_frames, samples_per_frame, 2)
    level_db = 10 * np.log10(np.maximum(np.mean(framed**2, axis=(1, 2)), 1e-30))
    freqs_hz, times_s, spectra = signal.stft(stereo.T, fs=rate_hz, window="hann", nperseg=window,
                                             noverlap=window - hop, boundary=None, padded=False)
    magnitude_l = np.abs(spectra[0][freqs_hz >= _MIN_FREQUENCY_HZ])
    magnitude_r = np.abs(spectra[1][freqs_hz >= _MIN_FREQUENCY_HZ])
    power = magnitude_l**2 + magnitude_r**2
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (magnitude_l - magnitude_r) / (magnitude_l + magnitude_r)
    # Each STFT window belongs to the label frame that holds its centre.
    frame_of_window = label_frame_of_time(times_s)
    edges = np.linspace(-1.0, 1.0, _HISTOGRAM_CELLS + 1)
    kernel = np.hanning(_SMOOTH_CELLS + 2)[1:-1]
    for frame in range(n_label_frames):
        in_frame = frame_of_window == frame
        if not in_frame.any():
            continue
        frame_power = power[:, in_frame]
        strong = frame_power >= frame_power.max() * 10 ** (-bin_range_db / 10)
        strong &= np.isfinite(ratio[:, in_frame])
        if not strong.any():
            continue
        votes = ratio[:, in_frame][strong]
        weights = frame_power[strong]
        histogram = np.convolve(np.histogram(votes, bins=edges, weights=weights)[0], kernel, mode="same")
        peak = np.argmax(histogram)
        centre = (edges[peak] + edges[peak + 1]) / 2
        near = np.abs(votes - centre) <= _PEAK_HALF_WIDTH
        sin_azimuth[frame] = np.average(votes[near], weights=weights[near]) if near.any() else centre
    loudest_db = level_db.max()
    active = (level_db >= loudest_db - activity_range_db) & (level_db >= min_level_db) & np.isfinite(sin_azimuth)
    x_px = sin_azimuth_to_x_px(sin_azimuth, h_fov_deg, content_width_px, content_height_px)
    return Localization(active=active, level_db=level_db, sin_azimuth=sin_azimuth, x_px=x_px)
