"""Synthetic STARSS23-style recordings: FOA wav, equirectangular 360° mp4 and annotation CSV per recording.

The real STARSS23 recordings cannot be downloaded here, so the demo and the tests run on recordings made by this
module, written in the STARSS23 layout so that the same pipeline code runs on both.

Everything is driven by annotation rows (`data_contracts.annotations.AnnotationRow`), whether they are generated
(`synthetic_events`) or read from real STARSS CSVs (annotation-driven mode). The rendering rule that the tests
and the pipeline rely on: a source is drawn and heard only during the 100 ms label frames in which it is
annotated, at exactly its annotated direction for that frame, held through the frame. Video frame i (shown at
i/fps seconds) shows label frame floor(i/fps/0.1 + 1e-9); audio sample n belongs to label frame
floor(n/rate/0.1 + 1e-9).

Video: a static, low-contrast room rendered as an equirectangular panorama, with each active source's sprite as a
planar billboard facing the camera, its bounding-box centre on the source direction, remapped with the exact
equirectangular distortion. Sounds that people make (speech, clapping, laughter, a musical instrument:
`PERSON_CLASS_IDS`) are real people, as in the real recordings; someone playing an instrument has the drawn
instrument in front of their body. Objects (telephone, bell, door, water tap, knock, domestic sounds, music from a
speaker) and footsteps, annotated at the floor, are drawn shapes.

Audio: each source has its own band-limited signal (`source_band_hz(source_index)`), encoded as a plane wave
with `curation.foa.encode_plane_wave` at the per-sample direction, at quiet STARSS-like levels over a very low
diffuse noise floor.
"""

from __future__ import annotations

import math
import os
import sys
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np
import soundfile as sf

from curation.foa import encode_plane_wave
from curation.geometry import angles_to_unit, equirect_angles, view_rotation, wrap_azimuth_deg
from curation.media import VideoEncoder
from curation.synthetic.sprites import Sprite, person_sprites, player_sprite, shape_sprite
from data_contracts._atomic import atomic_path
from data_contracts.annotations import AnnotationRow, read_annotations, write_annotations_csv
from data_contracts.timebase import (
    label_frame_of_time,
    label_frame_of_video_frame,
    label_frame_start_s,
    label_frames_covering,
    nearest_index_at_rate,
    nearest_label_frames,
)

__all__ = [
    "SynthConfig",
    "SPEECH_CLASS_IDS",
    "INSTRUMENT_CLASS_ID",
    "PERSON_CLASS_IDS",
    "SPLIT_FOLDERS",
    "Billboard",
    "source_band_hz",
    "n_label_frames",
    "label_frame_of_time",
    "label_frame_of_video_frame",
    "n_video_frames",
    "synthetic_events",
    "room_background",
    "render_equirect_frame",
    "assign_sprites",
    "frame_billboards",
    "iter_label_frame_images",
    "synthesize_foa",
    "write_recording",
    "write_synthetic_dataset",
]

SPEECH_CLASS_IDS = (0, 1)
INSTRUMENT_CLASS_ID = 9
# Sounds made by a person, drawn as a person: speech, clapping (2), laughter (4), a musical instrument.
PERSON_CLASS_IDS = (*SPEECH_CLASS_IDS, 2, 4, INSTRUMENT_CLASS_ID)

# (modality root suffix, folder, stem prefix) of the three synthetic splits, filled round-robin.
SPLIT_FOLDERS = (
    ("dev", "dev-train-synth", "fold3_room90"),
    ("dev", "dev-test-synth", "fold4_room91"),
    ("eval", "eval-synth", "fold5_room92"),
)

@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise and how.

    Sizes are those of STARSS23 by default: 1920×960 equirectangular video at 29.97 fps (exactly 30000/1001),
    4-channel FOA at 24 kHz. `person_height_deg` is the angular height of a standing person seen head to toe
    (a person about 2.3 m away); drawn shapes are `shape_height_deg` tall. `source_rms` is the RMS of one
    active source in W, like the quiet real recordings, and `source_peak` caps its peak in W so that after the
    SAVGBench chain's +38 dB gain a mid-side stereo channel (up to 2·W) of one source peaks at 0.48 or less and
    clips (> 0.9999) only if two sources peak together on the same side. `noise_floor_rms` is the diffuse noise
    in W.
    """

    n_recordings: int = 3
    duration_s: float = 20.0
    seed: int = 0
    width_px: int = 1920
    height_px: int = 960
    fps: Fraction | float = Fraction(30000, 1001)
    audio_rate_hz: int = 24000
    person_height_deg: float = 40.0
    shape_height_deg: float = 16.0
    source_rms: float = 5e-4
    source_peak: float = 3e-3
    noise_floor_rms: float = 1e-5
    video_preset: str = "veryfast"
    video_crf: int = 20

    def __post_init__(self) -> None:
        if self.n_recordings < 0:
            raise ValueError(f"n_recordings={self.n_recordings} must be >= 0")
        if not self.duration_s > 0:
            raise ValueError(f"duration_s={self.duration_s} must be > 0")
        # H.264 with 4:2:0 chroma needs even sizes.
        if self.width_px <= 0 or self.height_px <= 0 or self.width_px % 2 or self.height_px % 2:
            raise ValueError(f"video size {self.width_px}x{self.height_px} must be positive and even")
        if not float(self.fps) > 0:
            raise ValueError(f"fps={self.fps} must be > 0")
        if self.audio_rate_hz <= 0:
            raise ValueError(f"audio_rate_hz={self.audio_rate_hz} must be > 0")


# ----------------------------------------------------------------------------------------------------------------
# Time grid


# The time grid is `data_contracts.timebase`'s; `label_frame_of_time` and `label_frame_of_video_frame` are its
# functions, re-exported. A recording has the label frames that cover its duration (a partial last frame counts).
n_label_frames = label_frames_covering


def n_video_frames(duration_s: float, fps: Fraction | float) -> int:
    """Number of video frames of a recording: the frame rate times the duration, rounded (at least 1)."""
    return max(1, nearest_index_at_rate(duration_s, fps))


# ----------------------------------------------------------------------------------------------------------------
# Events


# Non-overlapping, roughly one-octave bands with gaps between them, so that a band-pass filter isolates a source.
_BANDS_HZ = ((300.0, 600.0), (750.0, 1500.0), (1900.0, 3800.0), (4600.0, 9200.0))


def source_band_hz(source_index: int) -> tuple[float, float]:
    """(low_hz, high_hz) of the frequency band that carries source `source_index` (bands reused modulo 4)."""
    return _BANDS_HZ[source_index % len(_BANDS_HZ)]


@dataclass
class _Track:
    """One source over the label frames of a recording (arrays of length n_frames)."""

    class_id: int
    source_index: int
    active: np.ndarray  # bool
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    distance_cm: np.ndarray


def _on_off_mask(rng, n_frames: int, on_s: tuple[float, float], off_s: tuple[float, float],
                 first_off_s: tuple[float, float]) -> np.ndarray:
    """Alternating active/inactive segments with uniformly drawn durations (seconds), starting inactive."""
    active = np.zeros(n_frames, dtype=bool)
    frame = nearest_label_frames(rng.uniform(*first_off_s))
    while frame < n_frames:
        length = max(1, nearest_label_frames(rng.uniform(*on_s)))
        active[frame : frame + length] = True
        frame += length + max(1, nearest_label_frames(rng.uniform(*off_s)))
    return active


def _wander(rng, time_s: np.ndarray, drift_deg_per_s: float, sway_deg: float) -> np.ndarray:
    """A smooth path in degrees: a constant drift plus a slow sinusoidal sway (period 8–16 s)."""
    period_s = rng.uniform(8.0, 16.0)
    phase_rad = rng.uniform(0.0, 2.0 * np.pi)
    return drift_deg_per_s * time_s + sway_deg * np.sin(2.0 * np.pi * time_s / period_s + phase_rad)


# Classes used for the occasional extra source, and how they behave.
_OTHER_CLASS_IDS = (3, 11, 6, 2, 12, 7)
_FOOTSTEPS_CLASS_ID = 6


# Where the sources of a recording stand: around a random direction, each off it by a normal draw of this spread,
# at least _MIN_SEPARATION_DEG apart. In the STARSS22 development annotations two sources active at once are a median
# 69° apart and 20 % of such pairs 130° or more; two draws of this spread are too (before the minimum separation and
# the sources' movements widen it a little).
_GATHER_SPREAD_DEG = 72.0
_MIN_SEPARATION_DEG = 30.0


def _gathered_azimuths_deg(rng, n_sources: int) -> np.ndarray:
    """Initial azimuths (degrees, unwrapped) of n sources gathered around a random direction, pairwise at least
    _MIN_SEPARATION_DEG apart (the last draw is kept if 100 draws could not separate them)."""
    centre_deg = rng.uniform(-180.0, 180.0)
    for _ in range(100):
        azimuths_deg = centre_deg + rng.normal(0.0, _GATHER_SPREAD_DEG, n_sources)
        gaps_deg = np.abs(wrap_azimuth_deg(azimuths_deg[:, None] - azimuths_deg[None, :]))
        if gaps_deg[np.triu_indices(n_sources, 1)].min(initial=360.0) >= _MIN_SEPARATION_DEG:
            break
    return azimuths_deg


# Talkers and the instrument take turns, as in a conversation or a performance: (weight of being given the next
# turn, turn length range in seconds). A turn starts after a short pause, or, once in _OVERLAP_CHANCE, before the
# previous one ends (an interruption, a reply, playing along).
_TURNS = {"first_talker": (2.0, (4.0, 9.0)), "instrument": (1.5, (4.0, 10.0)), "talker": (0.7, (1.5, 5.0))}
_PAUSE_S = (0.2, 1.0)
_OVERLAP_CHANCE = 0.25
_OVERLAP_S = (0.3, 1.5)


def _turn_kind(kinds: Sequence[str], index: int) -> str:
    """The _TURNS entry of source `index`: the first source is the first talker."""
    return "first_talker" if index == 0 else "talker" if kinds[index] == "speech" else kinds[index]


def _take_turns(rng, n_frames: int, turns: Sequence[tuple[float, tuple[float, float]]]) -> list[np.ndarray]:
    """Activity masks (bool, n_frames) of sources that take turns: the first source has the first turn and every
    other source one of the next turns, in a random order; after that each turn is given at random by the sources'
    weights. A turn lasts a random length of its source's range, with a pause of _PAUSE_S before the next turn or,
    once in _OVERLAP_CHANCE, an overlap with it."""
    weights = np.array([weight for weight, _ in turns])
    active = [np.zeros(n_frames, dtype=bool) for _ in turns]
    frame = nearest_label_frames(rng.uniform(0.0, 0.5))
    first_round = [0, *(1 + rng.permutation(len(turns) - 1))]
    while frame < n_frames:
        holder = first_round.pop(0) if first_round else int(rng.choice(len(turns), p=weights / weights.sum()))
        length = max(1, nearest_label_frames(rng.uniform(*turns[holder][1])))
        active[holder][frame : frame + length] = True
        if rng.random() < _OVERLAP_CHANCE:
            frame += max(1, length - nearest_label_frames(rng.uniform(*_OVERLAP_S)))
        else:
            frame += length + max(1, nearest_label_frames(rng.uniform(*_PAUSE_S)))
    return active


def synthetic_events(duration_s: float, seed: int, recording_index: int = 0) -> list[AnnotationRow]:
    """Seeded STARSS-like annotation rows for one recording, sorted by (frame, class_id, source_index).

    2–4 sources standing around one side of the camera (`_gathered_azimuths_deg`), with distinct source indices
    0..n-1 (so each has its own audio band): always a talker (class 0 or 1), source 0, who speaks in long turns of
    several seconds and moves slowly and smoothly (about 1 °/s) at an elevation within ±15°; often an instrument
    (class 9) played in long phrases from a nearly fixed place; sometimes a second talker. These take turns
    (`_take_turns`), the first talker first, with short pauses or overlaps between turns; sometimes another class
    (telephone, bell, footsteps, clapping, ...) sounds in short events of its own. About a fifth of the label frames
    have two or more sources at once (28 % in the STARSS22 development annotations). Angles are integer degrees,
    azimuth in [-180, 180]; distances 100–400 cm.
    """
    rng = np.random.default_rng([seed, recording_index, 0])
    n_frames = n_label_frames(duration_s)
    time_s = label_frame_start_s(np.arange(n_frames))

    kinds = ["speech"]
    if rng.random() < 0.7:
        kinds.append("instrument")
    n_sources = int(rng.integers(2, 5))
    extras = ["speech", "other", "other"]
    rng.shuffle(extras)
    kinds += extras[: max(0, n_sources - len(kinds))]

    slots_deg = _gathered_azimuths_deg(rng, len(kinds))

    floor = [index for index, kind in enumerate(kinds) if kind != "other"]
    turns = dict(zip(floor, _take_turns(rng, n_frames, [_TURNS[_turn_kind(kinds, index)] for index in floor])))

    tracks = []
    for source_index, (kind, azimuth0_deg) in enumerate(zip(kinds, slots_deg)):
        if kind == "speech":
            class_id = int(rng.integers(0, 2))
            active = turns[source_index]
            drift_deg_per_s = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 1.5)
            azimuth_deg = azimuth0_deg + _wander(rng, time_s, drift_deg_per_s, rng.uniform(2.0, 6.0))
            elevation_deg = rng.uniform(-8.0, 8.0) + _wander(rng, time_s, 0.0, 3.0)
        elif kind == "instrument":
            class_id = INSTRUMENT_CLASS_ID
            active = turns[source_index]
            azimuth_deg = azimuth0_deg + _wander(rng, time_s, 0.0, rng.uniform(0.5, 2.0))
            elevation_deg = rng.uniform(-12.0, 2.0) + _wander(rng, time_s, 0.0, 1.0)
        else:
            class_id = int(rng.choice(_OTHER_CLASS_IDS))
            active = _on_off_mask(rng, n_frames, (0.5, 2.0), (2.0, 6.0), (0.5, 4.0))
            if class_id == _FOOTSTEPS_CLASS_ID:
                # Someone walking past: fast in azimuth, low because the sound comes from the floor.
                drift_deg_per_s = rng.choice([-1.0, 1.0]) * rng.uniform(10.0, 25.0)
                azimuth_deg = azimuth0_deg + _wander(rng, time_s, drift_deg_per_s, 0.0)
                elevation_deg = rng.uniform(-35.0, -20.0) + np.zeros(n_frames)
            else:
                azimuth_deg = azimuth0_deg + np.zeros(n_frames)
                elevation_deg = rng.uniform(-20.0, 20.0) + np.zeros(n_frames)
        distance_cm = rng.uniform(150.0, 350.0) + _wander(rng, time_s, 0.0, 30.0)
        tracks.append(
            _Track(
                class_id=class_id,
                source_index=source_index,
                active=active,
                # "+ 0.0" turns the -0.0 that rounding leaves into 0.0, as a CSV would read it back.
                azimuth_deg=np.round(wrap_azimuth_deg(azimuth_deg)) + 0.0,
                elevation_deg=np.round(np.clip(elevation_deg, -89.0, 89.0)) + 0.0,
                distance_cm=np.round(np.clip(distance_cm, 100.0, 400.0)),
            )
        )

    rows = [
        AnnotationRow(
            frame=int(frame),
            class_id=track.class_id,
            source_index=track.source_index,
            azimuth_deg=float(track.azimuth_deg[frame]),
            elevation_deg=float(track.elevation_deg[frame]),
            distance_cm=float(track.distance_cm[frame]),
        )
        for track in tracks
        for frame in np.flatnonzero(track.active)
    ]
    return sorted(rows, key=lambda row: (row.frame, row.class_id, row.source_index))


def _tracks_from_rows(rows: Iterable[AnnotationRow], n_frames: int) -> list[_Track]:
    """Group rows by (class_id, source_index) into per-frame tracks; rows at or after n_frames are dropped."""
    tracks: dict[tuple[int, int], _Track] = {}
    for row in rows:
        if row.frame >= n_frames:
            continue
        key = (row.class_id, row.source_index)
        if key not in tracks:
            tracks[key] = _Track(
                class_id=row.class_id,
                source_index=row.source_index,
                active=np.zeros(n_frames, dtype=bool),
                azimuth_deg=np.zeros(n_frames),
                elevation_deg=np.zeros(n_frames),
                distance_cm=np.full(n_frames, np.nan),
            )
        track = tracks[key]
        track.active[row.frame] = True
        track.azimuth_deg[row.frame] = row.azimuth_deg
        track.elevation_deg[row.frame] = row.elevation_deg
        if row.distance_cm is not None:
            track.distance_cm[row.frame] = row.distance_cm
    return [tracks[key] for key in sorted(tracks)]


# ----------------------------------------------------------------------------------------------------------------
# Video


@lru_cache(maxsize=4)
def room_background(width_px: int, height_px: int) -> np.ndarray:
    """A static equirectangular panorama (H, W, 3) uint8 of a plain room, seen from its middle (read-only).

    A box room (8 m × 7 m, camera 1.5 m above the floor, ceiling 1.3 m above it) with a plank floor, tiled
    ceiling, panelled walls, a door and a window. Contrast is kept low so that sprites stand out and nothing in
    it looks like a person to a detector. Deterministic.
    """
    rows_y = np.arange(height_px) + 0.5
    cols_x = np.arange(width_px) + 0.5
    azimuth_deg, _ = equirect_angles(cols_x, 0.0, width_px, height_px)
    _, elevation_deg = equirect_angles(0.0, rows_y, width_px, height_px)
    d = angles_to_unit(azimuth_deg[None, :], elevation_deg[:, None]).astype(np.float32)

    # Distances (m) from the camera to the faces along each axis: (front, back), (left, right), (ceiling, floor).
    face_distances_m = ((4.5, 3.5), (3.0, 4.0), (1.3, 1.5))
    distances_m = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for a, (positive_m, negative_m) in enumerate(face_distances_m):
            along_m = np.where(d[..., a] > 0, positive_m / d[..., a], negative_m / -d[..., a])
            distances_m.append(np.where(np.isfinite(along_m) & (along_m > 0), along_m, np.inf))
    distances_m = np.stack(distances_m, axis=-1)
    # The face a viewing ray hits first is the nearest along it.
    axis = np.argmin(distances_m, axis=-1)
    point_m = d * np.min(distances_m, axis=-1, keepdims=True)
    x_m, y_m, z_m = point_m[..., 0], point_m[..., 1], point_m[..., 2]

    rgb = np.empty(d.shape, np.float32)
    wall = axis != 2
    floor = (axis == 2) & (d[..., 2] < 0)
    ceiling = (axis == 2) & (d[..., 2] > 0)
    rgb[wall] = (196, 188, 172)
    rgb[floor] = (98, 84, 72)
    rgb[ceiling] = (214, 212, 206)
    # Walls facing the camera across x read slightly warmer than the side walls, as under real lighting.
    rgb[wall & (axis == 0)] *= np.float32(1.03)

    # Floor planks along x (0.18 m wide) with a thin gap and a per-plank tone.
    plank = np.floor(y_m / 0.18)
    plank_tone = (np.sin(plank * 12.9898) * 43758.5453) % 1.0
    rgb[floor] *= (0.94 + 0.08 * plank_tone[floor])[:, None]
    rgb[floor & (np.abs(y_m / 0.18 - np.round(y_m / 0.18)) < 0.04)] *= np.float32(0.85)
    # Ceiling tiles of 0.6 m with darker grid lines.
    grid = (np.abs(x_m / 0.6 - np.round(x_m / 0.6)) < 0.02) | (np.abs(y_m / 0.6 - np.round(y_m / 0.6)) < 0.02)
    rgb[ceiling & grid] *= np.float32(0.9)
    # Skirting board along the floor, and wall panels every 1.2 m along the wall.
    rgb[wall & (z_m < -1.38)] *= np.float32(0.8)
    along_wall = np.where(axis == 0, y_m, x_m)
    rgb[wall & (np.abs(along_wall / 1.2 - np.round(along_wall / 1.2)) < 0.006)] *= np.float32(0.93)
    # A door on the back wall and a window on the left wall.
    door = (axis == 0) & (x_m < 0) & (np.abs(y_m - 1.0) < 0.45) & (z_m < 0.6)
    rgb[door] = (118, 92, 72)
    window = (axis == 1) & (y_m > 0) & (np.abs(x_m - 0.8) < 0.9) & (z_m > -0.4) & (z_m < 0.9)
    rgb[window] = (200, 212, 220)

    # Soft, smooth shading plus fine grain so the surfaces are not flat colour (fixed seed: deterministic).
    shading = 0.9 + 0.1 * np.abs(d[..., 2])
    grain_rng = np.random.default_rng(20240607)
    grain = cv2.GaussianBlur(grain_rng.standard_normal((height_px, width_px)).astype(np.float32), (0, 0), 1.5)
    blotches = cv2.GaussianBlur(grain_rng.standard_normal((height_px, width_px)).astype(np.float32), (0, 0),
                                max(2.0, width_px / 200.0))
    texture = 6.0 * grain / max(float(grain.std()), 1e-6) + 4.0 * blotches / max(float(blotches.std()), 1e-6)
    rgb = rgb * shading[..., None] + texture[..., None]
    # A touch of blur hides the aliasing of the thin lines; the real camera is not sharp at the pixel either.
    rgb = cv2.GaussianBlur(rgb, (0, 0), 0.6)
    image = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    image.setflags(write=False)
    return image


@dataclass(frozen=True)
class Billboard:
    """A sprite placed in the scene: bounding-box centre at (azimuth_deg, elevation_deg), `height_deg` tall."""

    sprite: Sprite
    azimuth_deg: float
    elevation_deg: float
    height_deg: float


def render_equirect_frame(background: np.ndarray, billboards: Sequence[Billboard]) -> np.ndarray:
    """Composite billboards, in the given order (later ones in front), over a copy of an equirectangular frame.

    Each billboard is a plane facing the camera: for every equirectangular pixel near it, its direction is
    expressed in the frame of a virtual camera looking at the billboard's centre and projected onto the plane
    (gnomonic projection), and the sprite is sampled there. Only the pixels within the billboard's angular
    radius are computed; the ±180° seam and the poles are handled.
    """
    frame = np.array(background, dtype=np.uint8, copy=True)
    for billboard in billboards:
        _composite_billboard(frame, billboard)
    return frame


def _composite_billboard(frame: np.ndarray, billboard: Billboard) -> None:
    """Alpha-blend one billboard into an equirectangular uint8 frame, in place."""
    height_px, width_px = frame.shape[:2]
    rgba = billboard.sprite.rgba
    # Pre-shrink the sprite to about its size on screen (equator scale) so that the bilinear remap does not alias.
    sprite_h_px = max(2, int(round(billboard.height_deg * height_px / 180.0)))
    sprite_w_px = max(2, int(round(rgba.shape[1] * sprite_h_px / rgba.shape[0])))
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    # Premultiplied colour: interpolating it (and the alpha) leaves no dark or coloured fringe at the cut edge.
    premultiplied = np.concatenate([rgba[..., :3].astype(np.float32) * alpha, alpha], axis=-1)
    sprite = cv2.resize(premultiplied, (sprite_w_px, sprite_h_px), interpolation=cv2.INTER_AREA)

    # The plane sits at distance 1 along the view axis; sprite pixels per unit of plane length.
    half_tan_v = math.tan(math.radians(billboard.height_deg) / 2.0)
    px_per_unit = sprite_h_px / (2.0 * half_tan_v)
    half_tan_h = (sprite_w_px / 2.0) / px_per_unit
    radius_deg = math.degrees(math.atan(math.hypot(half_tan_v, half_tan_h)))

    rows, cols = _cap_region(billboard.azimuth_deg, billboard.elevation_deg, radius_deg, width_px, height_px)
    if rows.stop <= rows.start:
        return
    azimuth_deg, _ = equirect_angles(cols + 0.5, 0.0, width_px, height_px)
    _, elevation_deg = equirect_angles(0.0, np.arange(rows.start, rows.stop) + 0.5, width_px, height_px)
    directions = angles_to_unit(azimuth_deg[None, :], elevation_deg[:, None])
    camera = directions @ view_rotation(billboard.azimuth_deg, billboard.elevation_deg).T
    forward, left, up = camera[..., 0], camera[..., 1], camera[..., 2]
    in_front = forward > 1e-6
    safe_forward = np.where(in_front, forward, 1.0)
    # Sprite pixel coordinates (pixel centres at integer values for cv2.remap): left on the plane is -x.
    map_x = np.where(in_front, sprite_w_px / 2.0 - left / safe_forward * px_per_unit - 0.5, -1e4)
    map_y = np.where(in_front, sprite_h_px / 2.0 - up / safe_forward * px_per_unit - 0.5, -1e4)
    patch = cv2.remap(sprite, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0, 0.0, 0.0, 0.0))
    patch_alpha = patch[..., 3:4]
    under = frame[rows][:, cols].astype(np.float32)
    blended = under * (1.0 - patch_alpha) + patch[..., :3]
    frame[rows, cols] = np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _cap_region(azimuth_deg: float, elevation_deg: float, radius_deg: float, width_px: int, height_px: int):
    """Rows (a slice) and columns (indices in [0, W), possibly wrapping the seam) of the pixels within
    radius_deg of a direction, with a 2-pixel margin."""
    margin_px = 2
    top_deg, bottom_deg = elevation_deg + radius_deg, elevation_deg - radius_deg
    row0 = max(0, int(math.floor((0.5 - top_deg / 180.0) * height_px)) - margin_px)
    row1 = min(height_px, int(math.ceil((0.5 - bottom_deg / 180.0) * height_px)) + margin_px)
    if top_deg >= 90.0 or bottom_deg <= -90.0:
        # The cap contains a pole: every azimuth is within reach.
        return slice(row0, row1), np.arange(width_px)
    # Widest azimuth extent of a spherical cap of radius r centred at elevation e: asin(sin r / cos e).
    half_width_deg = math.degrees(math.asin(min(1.0, math.sin(math.radians(radius_deg))
                                                 / math.cos(math.radians(elevation_deg)))))
    centre_x = (0.5 - float(wrap_azimuth_deg(azimuth_deg)) / 360.0) * width_px
    col0 = int(math.floor(centre_x - half_width_deg * width_px / 360.0)) - margin_px
    col1 = int(math.ceil(centre_x + half_width_deg * width_px / 360.0)) + margin_px
    if col1 - col0 >= width_px:
        return slice(row0, row1), np.arange(width_px)
    return slice(row0, row1), np.arange(col0, col1) % width_px


def assign_sprites(keys: Iterable[tuple[int, int]], seed: int) -> dict[tuple[int, int], Sprite]:
    """A sprite for each (class_id, source_index) of a recording, stable for the whole recording.

    Sources of `PERSON_CLASS_IDS` get real people, distinct while there are enough of them, in a seeded order; an
    instrument's person plays the drawn instrument (`player_sprite`). Other classes get the drawn shape of their
    class.
    """
    people = person_sprites()
    order = np.random.default_rng([seed, 1]).permutation(len(people))
    assigned: dict[tuple[int, int], Sprite] = {}
    n_people = 0
    for key in sorted(set(keys)):
        class_id = key[0]
        if class_id in PERSON_CLASS_IDS:
            person = people[order[n_people % len(people)]]
            n_people += 1
            assigned[key] = (player_sprite(person, shape_sprite(class_id)) if class_id == INSTRUMENT_CLASS_ID
                             else person)
        else:
            assigned[key] = shape_sprite(class_id)
    return assigned


def frame_billboards(rows: Iterable[AnnotationRow], sprites: dict[tuple[int, int], Sprite],
                     person_height_deg: float, shape_height_deg: float) -> list[Billboard]:
    """Billboards for the rows of one label frame, far sources first so that near ones are drawn in front.

    Rows without distance are ordered by source index (higher index behind).
    """
    def depth(row: AnnotationRow) -> tuple[float, int]:
        return (-(row.distance_cm if row.distance_cm is not None else 0.0), -row.source_index)

    billboards = []
    for row in sorted(rows, key=depth):
        sprite = sprites[(row.class_id, row.source_index)]
        nominal_deg = person_height_deg if row.class_id in PERSON_CLASS_IDS else shape_height_deg
        billboards.append(Billboard(sprite, row.azimuth_deg, row.elevation_deg, nominal_deg * sprite.height_scale))
    return billboards


def iter_label_frame_images(rows: Sequence[AnnotationRow], n_frames: int, config: SynthConfig,
                            sprites: dict[tuple[int, int], Sprite]) -> Iterator[np.ndarray]:
    """The equirectangular image of each label frame 0..n_frames-1 (what every video frame inside it shows)."""
    background = room_background(config.width_px, config.height_px)
    rows_by_frame: dict[int, list[AnnotationRow]] = defaultdict(list)
    for row in rows:
        rows_by_frame[row.frame].append(row)
    for frame in range(n_frames):
        billboards = frame_billboards(rows_by_frame.get(frame, ()), sprites, config.person_height_deg,
                                      config.shape_height_deg)
        yield render_equirect_frame(background, billboards)


# ----------------------------------------------------------------------------------------------------------------
# Audio


_FADE_S = 0.010


def _band_limit(signal: np.ndarray, rate_hz: int, band_hz: tuple[float, float]) -> np.ndarray:
    """Zero every FFT bin outside band_hz: the result has no energy in the other sources' bands."""
    spectrum = np.fft.rfft(signal)
    freqs_hz = np.fft.rfftfreq(signal.size, 1.0 / rate_hz)
    spectrum[(freqs_hz < band_hz[0]) | (freqs_hz > band_hz[1])] = 0.0
    return np.fft.irfft(spectrum, n=signal.size)


def _smooth_pulses(rng, n_samples: int, rate_hz: int, rate_per_s: tuple[float, float],
                   length_s: tuple[float, float], floor: float) -> np.ndarray:
    """An envelope of Hann-shaped pulses (syllables, notes, steps) at random times over a small floor."""
    envelope = np.full(n_samples, floor)
    t_s = rng.uniform(0.0, 0.2)
    duration_s = n_samples / rate_hz
    while t_s < duration_s:
        length = max(2, int(rng.uniform(*length_s) * rate_hz))
        start = int(t_s * rate_hz)
        pulse = np.hanning(length) * rng.uniform(0.5, 1.0)
        stop = min(n_samples, start + length)
        envelope[start:stop] = np.maximum(envelope[start:stop], pulse[: stop - start])
        t_s += 1.0 / rng.uniform(*rate_per_s)
    return envelope


def _decaying_notes(rng, n_samples: int, rate_hz: int, band_hz: tuple[float, float],
                    note_s: tuple[float, float], decay_s: float, fixed_pitch: bool) -> np.ndarray:
    """Harmonic notes with a 5 ms attack and an exponential decay, their partials inside band_hz."""
    out = np.zeros(n_samples)
    low_hz, high_hz = band_hz
    f0_hz = low_hz * rng.uniform(0.55, 0.9)
    start = 0
    while start < n_samples:
        length = int(rng.uniform(*note_s) * rate_hz)
        if not fixed_pitch:
            f0_hz = low_hz * rng.uniform(0.55, 0.9)
        # Each note rings on for a while after the next starts, as a struck or plucked note does.
        ring = min(n_samples - start, length + int(3 * decay_s * rate_hz))
        t_s = np.arange(ring) / rate_hz
        envelope = np.minimum(1.0, t_s / 0.005) * np.exp(-t_s / decay_s)
        note = np.zeros(ring)
        for harmonic in range(1, 40):
            f_hz = harmonic * f0_hz
            if f_hz > high_hz:
                break
            if f_hz >= low_hz:
                note += np.sin(2 * np.pi * f_hz * t_s + rng.uniform(0, 2 * np.pi)) / math.sqrt(harmonic)
        out[start : start + ring] += note * envelope
        start += max(1, length)
    return out


def _source_texture(class_id: int, band_hz: tuple[float, float], n_samples: int, rate_hz: int, rng) -> np.ndarray:
    """A class-flavoured, strictly band-limited signal (arbitrary scale) for the whole recording."""
    noise = _band_limit(rng.standard_normal(n_samples), rate_hz, band_hz)
    if class_id in SPEECH_CLASS_IDS:
        texture = noise * _smooth_pulses(rng, n_samples, rate_hz, (3.0, 5.0), (0.12, 0.3), 0.08)
    elif class_id == 4:  # laughter: quick "ha-ha" bursts
        texture = noise * _smooth_pulses(rng, n_samples, rate_hz, (5.0, 7.0), (0.08, 0.14), 0.05)
    elif class_id in (8, 9):  # music, instrument: melodic notes
        texture = _decaying_notes(rng, n_samples, rate_hz, band_hz, (0.2, 0.6), 0.35, fixed_pitch=False)
    elif class_id == 11:  # bell: long ringing strikes of one pitch
        texture = _decaying_notes(rng, n_samples, rate_hz, band_hz, (0.8, 1.4), 0.6, fixed_pitch=True)
    elif class_id == 3:  # telephone: a fast warble of one pitch
        texture = _decaying_notes(rng, n_samples, rate_hz, band_hz, (0.05, 0.05), 0.03, fixed_pitch=True)
    elif class_id in (5, 10):  # domestic sounds, water tap: steady noise with a slow flutter
        texture = noise * _smooth_pulses(rng, n_samples, rate_hz, (1.0, 2.0), (0.5, 1.0), 0.5)
    else:  # clapping, footsteps, door, knock: short impacts
        texture = noise * _smooth_pulses(rng, n_samples, rate_hz, (2.0, 5.0), (0.02, 0.06), 0.02)
    return _band_limit(texture, rate_hz, band_hz)


def _activity_gate(active_per_sample: np.ndarray, rate_hz: int) -> np.ndarray:
    """1 where active, 0 elsewhere, with raised-cosine fades of 10 ms inside each active run."""
    gate = active_per_sample.astype(np.float64)
    fade = max(1, int(round(_FADE_S * rate_hz)))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
    edges = np.diff(np.concatenate([[0], active_per_sample.astype(np.int8), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        n = min(fade, (stop - start) // 2)
        gate[start : start + n] *= ramp[:n]
        gate[stop - n : stop] *= ramp[:n][::-1]
    return gate


def synthesize_foa(rows: Sequence[AnnotationRow], duration_s: float, *, rate_hz: int = 24000, seed: int = 0,
                   source_rms: float = 5e-4, source_peak: float = 3e-3,
                   noise_floor_rms: float = 1e-5) -> np.ndarray:
    """FOA (n_samples, 4) float32, ACN W, Y, Z, X, SN3D, of a recording described by annotation rows.

    Each (class_id, source_index) gets its own signal inside `source_band_hz(source_index)`, active exactly in
    its annotated label frames (10 ms fades inside them), at the annotated direction of the label frame that
    contains each sample. Its RMS in W over its active samples is `source_rms` times a random factor in
    [0.7, 1.4], lowered where needed so that its peak stays within `source_peak`. A diffuse noise floor of
    `noise_floor_rms` in W (and W/√3 in X, Y, Z) keeps the file from being digitally silent. Deterministic for
    a given seed.
    """
    n_samples = max(1, nearest_index_at_rate(duration_s, rate_hz))
    n_frames = n_label_frames(duration_s)
    frame_of_sample = np.minimum(label_frame_of_time(np.arange(n_samples) / rate_hz), n_frames - 1)
    foa = np.zeros((n_samples, 4))
    for track in _tracks_from_rows(rows, n_frames):
        rng = np.random.default_rng([seed, 2, track.class_id, track.source_index])
        active = track.active[frame_of_sample]
        if not active.any():
            continue
        signal = _source_texture(track.class_id, source_band_hz(track.source_index), n_samples, rate_hz, rng)
        signal *= _activity_gate(active, rate_hz)
        rms = math.sqrt(float(np.mean(signal[active] ** 2)))
        peak = float(np.max(np.abs(signal)))
        if rms > 0:
            # Impacts and syllables have crest factors of 7-20: the peak cap, not the RMS, sets their level.
            signal *= min(source_rms * rng.uniform(0.7, 1.4) / rms, source_peak / peak)
        foa += encode_plane_wave(signal, track.azimuth_deg[frame_of_sample], track.elevation_deg[frame_of_sample])
    noise_rng = np.random.default_rng([seed, 3])
    noise = noise_rng.standard_normal((n_samples, 4)) * noise_floor_rms
    # A diffuse field in SN3D carries a third of W's power in each first-order channel.
    noise[:, 1:] /= math.sqrt(3.0)
    return (foa + noise).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Writing


def _write_wav_atomic(path: Path, foa: np.ndarray, rate_hz: int) -> None:
    """Write FOA (n, 4) as a WAV at rate_hz under a partial name, then move it to path."""
    with atomic_path(path) as temporary:
        # 24-bit PCM like the released FOA files; its step (1.2e-7) is far below the noise floor.
        sf.write(temporary, foa, rate_hz, subtype="PCM_24", format="WAV")


def _write_video_atomic(path: Path, images: Iterator[np.ndarray], n_frames: int, config: SynthConfig) -> None:
    """Encode the label-frame images (one per 100 ms) as an H.264 mp4 at config.fps, then move it to path."""
    with atomic_path(path) as temporary:
        with VideoEncoder(temporary, config.width_px, config.height_px, config.fps, preset=config.video_preset,
                          crf=config.video_crf) as encoder:
            shown_frame, image = -1, None
            for video_frame in range(n_video_frames(config.duration_s, config.fps)):
                label_frame = min(label_frame_of_video_frame(video_frame, config.fps), n_frames - 1)
                # The image changes only at label-frame boundaries: render each label frame once.
                while shown_frame < label_frame:
                    image = next(images)
                    shown_frame += 1
                encoder.write(image)


def write_recording(out_dir: Path, folder: str, split_root: str, stem: str, rows: Sequence[AnnotationRow],
                    config: SynthConfig, seed: int) -> None:
    """Write foa_<split_root>/<folder>/<stem>.wav, video_… .mp4 and metadata_… .csv for one recording.

    `rows` must already be within the recording's label frames. The CSV is written last, so a recording whose
    CSV exists is complete.
    """
    n_frames = n_label_frames(config.duration_s)
    paths = {kind: Path(out_dir) / f"{kind}_{split_root}" / folder / f"{stem}.{ext}"
             for kind, ext in (("foa", "wav"), ("video", "mp4"), ("metadata", "csv"))}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    foa = synthesize_foa(rows, config.duration_s, rate_hz=config.audio_rate_hz, seed=seed,
                         source_rms=config.source_rms, source_peak=config.source_peak,
                         noise_floor_rms=config.noise_floor_rms)
    _write_wav_atomic(paths["foa"], foa, config.audio_rate_hz)
    sprites = assign_sprites(((row.class_id, row.source_index) for row in rows), seed)
    images = iter_label_frame_images(rows, n_frames, config, sprites)
    _write_video_atomic(paths["video"], images, n_frames, config)
    write_annotations_csv(paths["metadata"], rows)


def _annotation_recordings(annotations_dir: Path) -> list[tuple[str, str, str, Path]]:
    """(split_root, folder, stem, csv path) for every CSV under annotations_dir, in sorted order.

    The CSV's folder relative to annotations_dir is kept (`dev-train-sony/x.csv` → folder dev-train-sony); a
    leading `metadata_dev`/`metadata_eval` is dropped and picks the split, otherwise folders starting with
    "eval" go to the eval split. CSVs directly under annotations_dir go to `dev-train-synth`.
    """
    recordings = []
    for csv_path in sorted(annotations_dir.rglob("*.csv")):
        parts = list(csv_path.relative_to(annotations_dir).parent.parts)
        split_root = None
        if parts and parts[0] in ("metadata_dev", "metadata_eval"):
            split_root = parts.pop(0).split("_", 1)[1]
        folder = "/".join(parts) if parts else SPLIT_FOLDERS[0][1]
        if split_root is None:
            split_root = "eval" if folder.startswith("eval") else "dev"
        recordings.append((split_root, folder, csv_path.stem, csv_path))
    return recordings


def write_synthetic_dataset(out_dir: str | os.PathLike[str], config: SynthConfig,
                            annotations_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Write synthetic recordings in the STARSS23 layout under out_dir and return their ids ("folder/stem").

    Without `annotations_dir`: `config.n_recordings` recordings of generated events, distributed round-robin over
    dev-train-synth, dev-test-synth and eval-synth (stems fold3_room90_mixNNN, fold4_room91_mixNNN,
    fold5_room92_mixNNN). With it: one recording per CSV found under it (recursively; 5- or 6-column STARSS
    files), following its real trajectories truncated to `config.duration_s` (n_recordings is not used).
    Every file is written under a temporary name and moved into place. Progress goes to stderr.
    """
    out_dir = Path(out_dir)
    n_frames = n_label_frames(config.duration_s)
    jobs = []
    if annotations_dir is None:
        for index in range(config.n_recordings):
            split_root, folder, prefix = SPLIT_FOLDERS[index % len(SPLIT_FOLDERS)]
            stem = f"{prefix}_mix{index // len(SPLIT_FOLDERS) + 1:03d}"
            rows = synthetic_events(config.duration_s, config.seed, index)
            jobs.append((split_root, folder, stem, rows))
    else:
        annotations_dir = Path(annotations_dir)
        for split_root, folder, stem, csv_path in _annotation_recordings(annotations_dir):
            rows = [row for row in read_annotations(csv_path) if row.frame < n_frames]
            jobs.append((split_root, folder, stem, rows))

    written = []
    for position, (split_root, folder, stem, rows) in enumerate(jobs, start=1):
        if not rows:
            print(f"[synth {position}/{len(jobs)}] {folder}/{stem}: no events in the first {config.duration_s} s, "
                  "skipped", file=sys.stderr, flush=True)
            continue
        started_s = time.monotonic()
        # A stable per-recording seed: Python's hash() of a string changes between processes.
        recording_seed = zlib.crc32(f"{config.seed}/{folder}/{stem}".encode())
        write_recording(out_dir, folder, split_root, stem, rows, config, recording_seed)
        written.append(f"{folder}/{stem}")
        print(f"[synth {position}/{len(jobs)}] {folder}/{stem}: {len(rows)} events, "
              f"{time.monotonic() - started_s:.1f} s", file=sys.stderr, flush=True)
    return written
