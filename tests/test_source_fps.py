"""`fps: source`: clips keep the source's frame rate exactly (29.97 fps is 30000/1001 in, 30000/1001 out), each clip
frame the source frame shown at its time, the audio from the same instant."""

import math
from fractions import Fraction

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from curation.render import grid_rate_hz, video_frame_rate
from data_contracts.errors import ContractError
from data_contracts.recipe import Recipe, load_recipe
from tasks.curate_recording import plan_recording_task, render_recording_task
from tasks.discover import discover, inspect_recording
from tasks.parts import part_dir
from tests.odd_recordings import (
    FRAME_TIME_BASE,
    block_difference,
    clip_content,
    expected_clip_content,
    expected_source_rate_stereo,
    label_images,
    write_base_recording,
)

NTSC = Fraction(30000, 1001)
SOURCE = ["fps=source", "view_azimuths_deg=[0, 90, 180, 270]", "hop_frames=25", "min_onscreen_frames=10",
          "audio_rate=24000", "highpass_hz=null", "gain_db=0"]
# As in tests/test_real_recordings.py: two H.264 generations leave at most ~10 levels in an 8×8 block; a talker moved,
# come or gone leaves 50 or more.
SAME_PICTURE = 20.0
DIFFERENT_PICTURE = 3 * SAME_PICTURE


def test_fps_source_in_the_recipe():
    recipe = load_recipe(overrides=["fps=source"])
    assert recipe.fps == "source" and recipe.to_dict()["fps"] == "source"
    assert recipe.recipe_hash != Recipe().recipe_hash and load_recipe(recipe.to_dict()) == recipe
    assert recipe.clip_fps(NTSC) == NTSC and Recipe().clip_fps(NTSC) == Fraction(4)
    # Every frame starting within the 5 s window: 149.85 → 150 (the last ends 5 ms after the window).
    assert recipe.clip_frames(NTSC) == 150 and Recipe().clip_frames(Fraction(4)) == Recipe().frames_per_clip == 20
    assert recipe.clip_frames(Fraction(25)) == 125
    with pytest.raises(ValueError, match="frames per clip depend on each recording's frame rate"):
        recipe.frames_per_clip
    with pytest.raises(ValueError, match="needs the source's frame rate"):
        recipe.clip_fps(None)
    # Windows need not hold whole frames at the source's rate (4.5 s at 29.97 fps is 134.87 frames).
    assert load_recipe(overrides=["fps=source", "window_frames=45"]).clip_frames(NTSC) == 135
    for overrides, message in ((["fps=src"], "recipe: fps='src': expected an integer or 'source'"),
                               (["fps=0"], "recipe: fps=0: must be > 0 (or 'source')"),
                               (["fps=source", "verify=true"], "recipe: fps='source': verification counts")):
        with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_recipe(overrides=overrides)


def test_the_grid_holds_every_clip_frame_at_the_source_rate():
    # gcd(0.5 s, 1001/30000 s) = 1/30000 s.
    assert grid_rate_hz(load_recipe(overrides=["fps=source"]), NTSC) == 30000
    assert grid_rate_hz(Recipe()) == 4 and grid_rate_hz(Recipe(), NTSC) == 4
    recipe = load_recipe(overrides=["fps=source", "hop_frames=25"])
    rate = grid_rate_hz(recipe, NTSC)
    for start_frame in (0, 25, 50, 75):
        for k in (0, 1, 149):
            assert ((Fraction(start_frame, 10) + k / NTSC) * rate).denominator == 1


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    source, out = tmp_path_factory.mktemp("ntsc-source"), tmp_path_factory.mktemp("ntsc-out")
    files = write_base_recording(source, "fold1_room1_mix001")
    recipe = load_recipe(overrides=SOURCE)
    found = discover.fn(str(source), recipe)
    (source_recording, split), = found.accepted
    loaded = inspect_recording.fn(source_recording, split, str(source), recipe).loaded
    summary = render_recording_task.fn(loaded, plan_recording_task.fn(loaded, recipe), str(source), str(out), recipe)
    assert summary.failure is None and summary.n_clips > 0
    clips = pq.read_table(part_dir(out, loaded.row.recording_id) / "clips.parquet").to_pylist()
    return files, out, recipe, clips


@pytest.mark.slow
def test_29_97_fps_in_29_97_fps_out_each_frame_the_source_frame_shown_at_its_time(curated):
    files, out, recipe, clips = curated
    assert video_frame_rate(files.mp4) == NTSC
    images = label_images(files.csv)
    n_discriminating = 0
    for clip in clips:
        with av.open(str(out / clip["video_path"])) as container:
            stream = container.streams.video[0]
            assert stream.average_rate == NTSC and stream.guessed_rate == NTSC, clip["clip_id"]
            decoded = [(frame.pts * stream.time_base, frame.to_ndarray(format="rgb24"))
                       for frame in container.decode(stream)]
        assert len(decoded) == 150, clip["clip_id"]
        assert [time_s for time_s, _ in decoded] == [k / NTSC for k in range(150)]
        start_s = Fraction(clip["start_frame"], 10)
        # The clip's frame k is at start_s + k/fps: the source frame shown then is floor(start_s·fps) + k.
        first = math.floor(start_s * NTSC)
        assert first * FRAME_TIME_BASE <= start_s < (first + 1) * FRAME_TIME_BASE
        for k, (_, frame) in enumerate(decoded):
            view = (clip["view_azimuth_deg"], clip["view_elevation_deg"])
            expected = expected_clip_content(images, first + k, *view, recipe)
            assert block_difference(clip_content(frame, recipe), expected) < SAME_PICTURE, (clip["clip_id"], k)
            # Frames where showing the next source frame instead would be visibly wrong.
            n_discriminating += block_difference(expected, expected_clip_content(images, first + k + 1, *view,
                                                                                 recipe)) > DIFFERENT_PICTURE
    assert n_discriminating > 0


@pytest.mark.slow
def test_the_audio_starts_at_the_clip_start_at_24_khz_without_highpass_or_gain(curated):
    files, out, recipe, clips = curated
    foa, rate = sf.read(files.wav, dtype="float32")
    assert rate == 24000
    for clip in clips:
        stereo, clip_rate = sf.read(out / clip["audio_path"], dtype="float64")
        assert clip_rate == 24000 and stereo.shape == (120000, 2)
        # No high-pass, 0 dB, no resampling: the mid-side formula on the source samples from start_s on.
        np.testing.assert_allclose(stereo, expected_source_rate_stereo(foa, rate, clip, 120000), atol=1.5 / 32768)
