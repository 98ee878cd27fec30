"""Random sampling of clips, as the DCASE2025 stereo SELD generator draws them: (recording, start label frame, view)
uniformly, deterministic for a seed, without duplicates.

Pure: recording lengths in, draws out. Each draw is one integer taken uniformly from all the distinct clips the
corpus holds: every (recording, start label frame, view) with the whole window inside the recording. So a recording
is drawn in proportion to its number of start frames (its length less a window), a start frame anywhere in it, and
a view from the grid uniformly. A draw already made is drawn again (the stream goes on), so the clips are
distinct; the stream is the same for a seed and the same recordings whatever the order the recordings are given
in and however it is consumed (`ClipDraws.take` in one call or in many): that is what lets a run draw clips again
to replace the ones it had to drop (e.g. clipped audio) and still end with the clips another run gets.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ClipDraws", "DrawnClip", "split_seed", "view_grid_deg"]

# Integers drawn from the generator at a time: fixed, so that the stream does not depend on how it is consumed.
_BATCH = 4096


@dataclass(frozen=True, order=True)
class DrawnClip:
    """One drawn clip: its recording, its first label frame and its view centre (degrees, conventions.md)."""

    recording_id: str
    start_frame: int
    view_azimuth_deg: float
    view_elevation_deg: float


def view_grid_deg(view_step_deg: float) -> tuple[float, ...]:
    """The view azimuths a draw picks from: 0, step, 2·step, ... below 360 degrees (ValueError unless the step is in
    (0, 360])."""
    if not 0 < view_step_deg <= 360:
        raise ValueError(f"view step {view_step_deg!r} degrees: expected a value in (0, 360]")
    n_views = int(np.ceil(360.0 / view_step_deg - 1e-9))
    return tuple(float(k * view_step_deg) for k in range(n_views))


def split_seed(seed: int, split: str) -> tuple[int, int]:
    """The seed of one split's draws: the recipe's seed and a number fixed by the split's name, so that each split
    has its own stream and a split's stream does not depend on the others."""
    return seed, zlib.crc32(split.encode("utf-8"))


class ClipDraws:
    """An endless, seeded stream of distinct clip draws over a corpus.

    `recordings` are (recording_id, whole label frames) pairs (any order; ids unique); a recording shorter than
    `window_frames` is never drawn. Views are every (azimuth, elevation) of `view_azimuths_deg` ×
    `view_elevations_deg`. `seed`: an integer, or integers (e.g. a seed and a split's number), as numpy's
    `SeedSequence` takes them. `take(n)` returns the next n clips of the stream.
    """

    def __init__(self, recordings: Iterable[tuple[str, int]], window_frames: int,
                 view_azimuths_deg: Sequence[float], view_elevations_deg: Sequence[float],
                 seed: int | Sequence[int]) -> None:
        if window_frames < 1:
            raise ValueError(f"window of {window_frames} label frames: expected at least 1")
        ordered = sorted(recordings)
        ids = [recording_id for recording_id, _ in ordered]
        if len(set(ids)) != len(ids):
            raise ValueError("recording ids drawn from must be unique")
        self._ids = ids
        self._views = [(float(a), float(e)) for e in view_elevations_deg for a in view_azimuths_deg]
        if not self._views:
            raise ValueError("no view to draw from")
        n_starts = np.array([max(int(n_frames) - window_frames + 1, 0) for _, n_frames in ordered], dtype=np.int64)
        # Clips before each recording's first, in the flat numbering a draw picks from.
        per_recording = n_starts * len(self._views)
        self._first = np.concatenate([[0], np.cumsum(per_recording)])
        self.capacity = int(self._first[-1])
        self._rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
        self._pending: list[int] = []
        self._seen: set[int] = set()

    @property
    def n_drawn(self) -> int:
        """Clips drawn so far."""
        return len(self._seen)

    def take(self, n_clips: int) -> list[DrawnClip]:
        """The next `n_clips` distinct clips of the stream (ValueError when the corpus holds fewer not drawn yet)."""
        if n_clips < 0:
            raise ValueError(f"cannot draw {n_clips} clips")
        if n_clips > self.capacity - self.n_drawn:
            raise ValueError(f"cannot draw {n_clips} more clips: the recordings hold {self.capacity} distinct clips "
                             f"(recording, start frame, view), {self.n_drawn} of them drawn already")
        taken: list[int] = []
        while len(taken) < n_clips:
            if not self._pending:
                self._pending = self._rng.integers(0, self.capacity, size=_BATCH).tolist()[::-1]
            flat = self._pending.pop()
            if flat not in self._seen:
                self._seen.add(flat)
                taken.append(flat)
        return [self._clip(flat) for flat in taken]

    def _clip(self, flat: int) -> DrawnClip:
        recording = int(np.searchsorted(self._first, flat, side="right")) - 1
        start_frame, view = divmod(flat - int(self._first[recording]), len(self._views))
        azimuth_deg, elevation_deg = self._views[view]
        return DrawnClip(self._ids[recording], start_frame, azimuth_deg, elevation_deg)
