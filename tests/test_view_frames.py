"""Detection once per view frame (`curation.metric.view_frames`): each (view, grid tick) that a clip shows reaches
the detector once, remapped from the 360° source decoded once, and each clip frame gets the boxes of its own tick.

The source's frames carry their index as brightness, and a stub detector reports what it saw as a box whose x0 is
the grid tick the picture came from: a clip frame with the wrong boxes, or a picture detected twice, shows."""

from pathlib import Path

import numpy as np
import pytest

from curation.media import MediaError, encode_video
from curation.metric.detect import Detections
from curation.metric.view_frames import clip_detections, clip_grid_ticks, detect_view_frames
from data_contracts.recipe import Recipe

RECIPE = Recipe()
SOURCE_FPS = 8  # two source frames per 4 Hz grid tick: tick m shows source frame 2m
N_SOURCE_FRAMES = 64  # 8 s


def level(index: int) -> int:
    return 10 + 3 * index


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("source") / "video.mp4"
    encode_video((np.full((128, 256, 3), level(i), np.uint8) for i in range(N_SOURCE_FRAMES)), path, SOURCE_FPS)
    return path


class TickDetector:
    """One box per picture: x0 = the grid tick its brightness says it shows, x1 = x0 + 1. Counts pictures and calls."""

    def __init__(self):
        self.pictures, self.calls = 0, 0

    def __call__(self, frames, content_box_px):
        assert content_box_px == (0, 0, RECIPE.content_width, RECIPE.content_height)
        assert frames.shape[1:] == (RECIPE.content_height, RECIPE.content_width, 3)
        self.pictures += len(frames)
        self.calls += 1
        source_index = np.round((frames.reshape(len(frames), -1).mean(axis=1) - 10) / 3)
        tick = source_index / 2
        n = len(frames)
        return Detections(np.arange(n), np.array(["person"] * n, dtype=object), np.full(n, 0.9), tick,
                          np.full(n, 10.0), tick + 1, np.full(n, 100.0))


VIEW_FRONT = (0.0, 0.0, 100.0, RECIPE.v_fov_deg)
VIEW_LEFT = (90.0, 0.0, 100.0, RECIPE.v_fov_deg)


def test_clip_frames_are_the_ticks_the_renderer_takes_them_from():
    # 4 Hz grid: a window starting at label frame 5 (0.5 s) shows ticks 2, 3, ..., 21.
    assert clip_grid_ticks(5, RECIPE) == list(range(2, 22))
    assert clip_grid_ticks(0, RECIPE) == list(range(20))


def test_each_view_frame_is_detected_once_and_every_clip_frame_gets_its_own_ticks_boxes(source):
    detector = TickDetector()
    done: list[int] = []
    # Three clips: two of the front view half a second apart, one of the left view.
    clips = {"a": (VIEW_FRONT, clip_grid_ticks(0, RECIPE)), "b": (VIEW_FRONT, clip_grid_ticks(5, RECIPE)),
             "c": (VIEW_LEFT, clip_grid_ticks(10, RECIPE))}
    wanted: dict = {}
    for view, ticks in clips.values():
        wanted.setdefault(view, set()).update(ticks)
    found = detect_view_frames(source, (256, 128), wanted, RECIPE, detector, batch_frames=16, on_frames=done.append)
    # Front: ticks 0-21 (22 pictures for 40 clip frames); left: ticks 4-23 (20).
    assert detector.pictures == sum(done) == len(found) == 42
    assert detector.calls == 3  # batches of 16
    assert sorted(found) == sorted([(VIEW_FRONT, t) for t in range(22)] + [(VIEW_LEFT, t) for t in range(4, 24)])
    for (view, tick), boxes in found.items():
        assert boxes.x0_px.tolist() == [tick] and boxes.frame.tolist() == [0]
    for view, ticks in clips.values():
        boxes = clip_detections(view, ticks, found)
        assert boxes.frame.tolist() == list(range(20))
        assert boxes.x0_px.tolist() == ticks


def test_a_clip_frame_without_boxes_has_none_and_a_source_too_short_is_refused_naming_it(source):
    def nobody(frames, content_box_px):
        return Detections.empty()

    found = detect_view_frames(source, (256, 128), {VIEW_FRONT: range(20)}, RECIPE, nobody)
    assert len(clip_detections(VIEW_FRONT, list(range(20)), found)) == 0
    # The source lasts 8 s: tick 40 (10 s) is past its end.
    with pytest.raises(MediaError, match=rf"{source}: the video ends before 8\.\d\d s"):
        detect_view_frames(source, (256, 128), {VIEW_FRONT: range(20, 41)}, RECIPE, nobody)
