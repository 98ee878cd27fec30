"""Person detection once per view frame: the detector sees each (view, grid tick) of a recording once, on the
perspective picture remapped from the 360° source, and every clip frame showing it takes those boxes.

Clips of one view overlap heavily (5 s windows every 0.5 s: a frame is in up to 10 clips), so detecting per clip
frame repeats most of the work, and decoding every clip file again repeats the render's decode. Here the source is
decoded once per recording on the render's time grid (`curation.render.GridFrames`, `grid_rate_hz`: clip frame k of
a window starting at label frame s is grid tick tick(s) + k·ticks_per_frame, exactly as the renderer places it), each
wanted tick is remapped to each view that needs it (`curation.perspective`), and the pictures go to the detector in
batches while the next ones are decoded. The boxes are those of the content picture (no letterbox), as before.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np

from curation.media import MediaError
from curation.metric.detect import DetectFn, Detections
from curation.perspective import perspective_map, render_view
from curation.render import GridFrames, grid_rate_hz
from data_contracts.recipe import Recipe
from data_contracts.timebase import grid_tick_of_label_frame

__all__ = ["ViewKey", "DETECT_BATCH_FRAMES", "clip_grid_ticks", "detect_view_frames", "clip_detections"]

# A view: (view_azimuth_deg, view_elevation_deg, h_fov_deg, v_fov_deg), as a clips manifest row gives it.
ViewKey = tuple[float, float, float, float]
# Pictures per detector call: enough to keep a GPU or every CPU core busy, few enough to report progress often.
DETECT_BATCH_FRAMES = 32


def clip_grid_ticks(start_frame: int, recipe: Recipe) -> list[int]:
    """The grid ticks (`curation.render.grid_rate_hz`) of the clip frames 0 … frames_per_clip − 1 of a window that
    starts at label frame `start_frame`: the ticks the renderer took them from."""
    rate = grid_rate_hz(recipe)
    ticks_per_frame = int(rate / recipe.fps)
    start_tick = grid_tick_of_label_frame(start_frame, rate)
    return [start_tick + k * ticks_per_frame for k in range(recipe.frames_per_clip)]


@dataclass
class _Batch:
    keys: list[tuple[ViewKey, int]]
    pictures: list[np.ndarray]


_NONE = Detections.empty()


def _split(found: Detections, keys: list[tuple[ViewKey, int]], into: dict) -> None:
    """The boxes of a batch, per (view, tick) of its pictures, each with frame 0 (pictures without boxes share one
    empty Detections: a long recording has tens of thousands of view frames)."""
    for index, key in enumerate(keys):
        mine = found.frame == index
        if not mine.any():
            into[key] = _NONE
            continue
        into[key] = Detections(np.zeros(int(mine.sum()), np.int64), found.class_name[mine], found.score[mine],
                               found.x0_px[mine], found.y0_px[mine], found.x1_px[mine], found.y1_px[mine])


def detect_view_frames(
    video_path: Path,
    video_size_px: tuple[int, int],
    wanted: Mapping[ViewKey, Iterable[int]],
    recipe: Recipe,
    detect: DetectFn,
    *,
    batch_frames: int = DETECT_BATCH_FRAMES,
    on_frames: Callable[[int], None] = lambda n: None,
) -> dict[tuple[ViewKey, int], Detections]:
    """The person boxes of each wanted (view, grid tick) of one recording: {(view, tick): Detections} in pixels of
    the recipe's content picture, `frame` 0.

    The 360° video at `video_path` ((width, height) = `video_size_px`) is decoded once, up to the last wanted tick;
    each (view, tick) is remapped once and seen by `detect` once, in batches of `batch_frames` (the detector runs in
    a worker thread while the next batch is decoded and remapped). `on_frames(n)` is called as n pictures are
    detected. Raises MediaError naming the video if it ends, or stops decoding, before a wanted tick.
    """
    views_of_tick: dict[int, list[ViewKey]] = defaultdict(list)
    for view, ticks in wanted.items():
        for tick in sorted(set(ticks)):
            views_of_tick[tick].append(view)
    results: dict[tuple[ViewKey, int], Detections] = {}
    if not views_of_tick:
        return results
    width_px, height_px = video_size_px
    maps = {view: perspective_map(width_px, height_px, *view, recipe.content_width, recipe.content_height)
            for view in wanted}
    content_box_px = (0, 0, recipe.content_width, recipe.content_height)
    last_tick = max(views_of_tick)
    grid = GridFrames(video_path, grid_rate_hz(recipe), video_size_px, wanted=views_of_tick)
    batch = _Batch([], [])
    running: tuple[Future, list[tuple[ViewKey, int]]] | None = None

    def finish(job: tuple[Future, list[tuple[ViewKey, int]]] | None) -> None:
        if job is not None:
            future, keys = job
            _split(future.result(), keys, results)
            on_frames(len(keys))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect") as pool:
        def submit() -> None:
            nonlocal running, batch
            job = (pool.submit(detect, np.stack(batch.pictures), content_box_px), batch.keys)
            batch = _Batch([], [])
            finish(running)  # one batch in the detector while the next is decoded
            running = job

        for tick, frame in grid:
            for view in views_of_tick.get(tick, ()):
                batch.keys.append((view, tick))
                batch.pictures.append(render_view(frame, maps[view]))
                if len(batch.keys) >= batch_frames:
                    submit()
            if tick >= last_tick:
                break
        if batch.keys:
            submit()
        finish(running)
    missing = sorted(tick for tick, views in views_of_tick.items() for view in views if (view, tick) not in results)
    if missing:
        end = "stops decoding" if grid.failure is not None else "ends"
        raise MediaError(f"{video_path}: the video {end} before {float(missing[0] / grid_rate_hz(recipe)):.2f} s, which "
                         f"{len(missing)} wanted view frames need (last tick reached: {grid.last_tick})")
    return results


def clip_detections(view: ViewKey, ticks: list[int], boxes: Mapping[tuple[ViewKey, int], Detections]) -> Detections:
    """A clip's boxes from its view's per-tick boxes: clip frame k gets those of (view, ticks[k]), frame = k."""
    parts = [(k, boxes[(view, tick)]) for k, tick in enumerate(ticks)]
    parts = [(k, found) for k, found in parts if len(found)]
    if not parts:
        return Detections.empty()
    return Detections(np.concatenate([np.full(len(found), k, np.int64) for k, found in parts]),
                      *(np.concatenate([getattr(found, name) for _, found in parts])
                        for name in ("class_name", "score", "x0_px", "y0_px", "x1_px", "y1_px")))
