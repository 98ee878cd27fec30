"""`video_codec`: clips in H.264 (the default, bytes as before the key) or MPEG-4 Part 2 (tag mp4v, as the DCASE2025
stereo SELD generator writes them); an mpeg4 clip shows the same pixels as the h264 clip within codec noise, has the
same AAC track, and changing the codec of a curated folder renders its clips again. `video_audio`: the mp4's AAC
track (the default) or none (null, as the generator's OpenCV writer), the video and the WAV unchanged."""

import shutil
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from data_contracts.errors import ContractError
from data_contracts.manifests import RecordingRow
from data_contracts.recipe import Recipe, load_recipe
from tasks.curate_recording import plan_recording_task, render_recording_task
from tasks.discover import discover, inspect_recording
from tasks.ledger import render_key
from tasks.parts import part_dir
from tests.odd_recordings import block_difference, expected_clip_content, label_images, write_base_recording

# The DCASE2025 picture (640x360, no letterbox) at 29.97 fps, four views, a window every 2.5 s.
BASE = ["view_azimuths_deg=[0, 90, 180, 270]", "hop_frames=25", "min_onscreen_frames=10", "content_width=640",
        "content_height=360", "frame_width=640", "frame_height=360", "fps=source"]
MPEG4 = [*BASE, "video_codec=mpeg4"]
SILENT = [*MPEG4, "video_audio=null"]
# Mean |RGB difference| (0-255) over a clip between its two codecs' frames: ~0.9 at the chosen quantiser; a frame
# shifted by one source frame or a wrong view is tens.
SAME_PIXELS_MEAN = 2.0
# The largest 8x8-block mean difference against the picture the annotations draw (tests/test_source_fps.py's bound).
SAME_PICTURE = 20.0


def test_video_codec_in_the_recipe_and_the_render_key():
    assert Recipe().video_codec == "h264" and "video_codec" not in Recipe().hashed_dict()
    mpeg4 = load_recipe(overrides=["video_codec=mpeg4"])
    assert mpeg4.hashed_dict()["video_codec"] == "mpeg4" and mpeg4.recipe_hash != Recipe().recipe_hash
    # At its default the key leaves every existing recipe's hash as it was.
    assert load_recipe(overrides=["video_codec=h264"]).recipe_hash == Recipe().recipe_hash == "50a07c00b6a56c5e"
    assert load_recipe("release").recipe_hash == "53f5fa71237cf7a5"
    assert load_recipe(mpeg4.to_dict()) == mpeg4
    assert load_recipe("dcase2025-stereo-seld").video_codec == "mpeg4"
    row = RecordingRow("fold1_room1_mix001", "dev-train-synth", "generation", "a.wav", "a.mp4", "a.csv", 10.0, "ok",
                       None, "1" * 64, "2" * 64, "3" * 64, "0" * 16)
    # What a clip's mp4 holds: in the ledger's render key, and left out of it at its default.
    assert render_key(row, mpeg4) != render_key(row, Recipe())
    assert render_key(row, load_recipe(overrides=["video_codec=h264"])) == render_key(row, Recipe())
    with pytest.raises(ContractError, match="recipe: video_codec='mp4v': expected one of h264, mpeg4"):
        load_recipe(overrides=["video_codec=mp4v"])


def curate(source: Path, out: Path, overrides: list[str]):
    """Discover, inspect, plan and render the source's recording (plain task calls): the summary and the clips."""
    recipe = load_recipe(overrides=overrides)
    (source_recording, split), = discover.fn(str(source), recipe).accepted
    loaded = inspect_recording.fn(source_recording, split, str(source), recipe).loaded
    summary = render_recording_task.fn(loaded, plan_recording_task.fn(loaded, recipe), str(source), str(out), recipe)
    assert summary.failure is None
    return recipe, summary, pq.read_table(part_dir(out, loaded.row.recording_id) / "clips.parquet").to_pylist()


def decoded(path: Path):
    """The mp4's video codec name and tag, its frames (pts, RGB) and its audio packets' bytes."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        codec = (video.codec_context.name, video.codec_tag)
        frames = [(frame.pts, frame.to_ndarray(format="rgb24")) for frame in container.decode(video)]
    with av.open(str(path)) as container:
        audio = [bytes(packet) for packet in container.demux(container.streams.audio[0]) if packet.size]
    return codec, frames, audio


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    source = tmp_path_factory.mktemp("codec-source")
    files = write_base_recording(source, "fold1_room1_mix001")
    variants = (("h264", BASE), ("mpeg4", MPEG4), ("silent", SILENT))
    outs = {name: tmp_path_factory.mktemp(f"codec-{name}") for name, _ in variants}
    runs = {name: curate(source, outs[name], overrides) for name, overrides in variants}
    return source, files, outs, runs


@pytest.mark.slow
def test_an_mpeg4_clip_shows_the_h264_clips_pixels_with_the_same_audio(curated):
    source, files, outs, runs = curated
    recipe, _, clips = runs["mpeg4"]
    assert len(clips) > 0 and [c["clip_id"] for c in clips] == [c["clip_id"] for c in runs["h264"][2]]
    images = label_images(files.csv)
    for clip in clips:
        h264_codec, h264_frames, h264_audio = decoded(outs["h264"] / clip["video_path"])
        mpeg4_codec, mpeg4_frames, mpeg4_audio = decoded(outs["mpeg4"] / clip["video_path"])
        assert h264_codec == ("h264", "avc1") and mpeg4_codec == ("mpeg4", "mp4v"), clip["clip_id"]
        assert [pts for pts, _ in mpeg4_frames] == [pts for pts, _ in h264_frames] and len(mpeg4_frames) == 150
        differences = [np.abs(a.astype(np.int16) - b).mean() for (_, a), (_, b) in zip(h264_frames, mpeg4_frames)]
        assert 0 < np.mean(differences) < SAME_PIXELS_MEAN, clip["clip_id"]
        # Both show the picture the annotations draw (the source frame at the clip frame's time).
        first = clip["start_frame"] * 3000 // 1001  # floor(start_s * 30000/1001)
        view = (clip["view_azimuth_deg"], clip["view_elevation_deg"])
        for k in (0, 75, 149):
            expected = expected_clip_content(images, first + k, *view, recipe)
            assert block_difference(mpeg4_frames[k][1], expected) < SAME_PICTURE, (clip["clip_id"], k)
        # The AAC track is the same packets whatever the video codec.
        assert mpeg4_audio == h264_audio and len(mpeg4_audio) > recipe.samples_per_clip // 1024


@pytest.mark.slow
def test_changing_the_codec_renders_the_clips_again_and_a_rerun_renders_nothing(curated, tmp_path):
    source, _, outs, runs = curated
    out = tmp_path / "out"
    shutil.copytree(outs["h264"], out)
    _, summary, clips = curate(source, out, MPEG4)
    assert summary.n_rendered == summary.n_clips == len(runs["mpeg4"][2]) > 0
    # The same bytes as a folder curated with mpeg4 from the start.
    for clip in clips:
        assert (out / clip["video_path"]).read_bytes() == (outs["mpeg4"] / clip["video_path"]).read_bytes()
    _, again, _ = curate(source, out, MPEG4)
    assert again.n_rendered == 0 and again.n_clips == summary.n_clips


def test_video_audio_in_the_recipe_and_the_render_key():
    assert Recipe().video_audio == "aac" and "video_audio" not in Recipe().hashed_dict()
    silent = load_recipe(overrides=["video_audio=null"])
    assert silent.video_audio is None and silent.hashed_dict()["video_audio"] is None
    assert silent.recipe_hash != Recipe().recipe_hash
    assert load_recipe(overrides=["video_audio=aac"]).recipe_hash == Recipe().recipe_hash == "50a07c00b6a56c5e"
    assert load_recipe(silent.to_dict()) == silent
    assert load_recipe("dcase2025-stereo-seld").video_audio is None
    assert load_recipe("release").video_audio == load_recipe("exhaustive").video_audio == "aac"
    row = RecordingRow("fold1_room1_mix001", "dev-train-synth", "generation", "a.wav", "a.mp4", "a.csv", 10.0, "ok",
                       None, "1" * 64, "2" * 64, "3" * 64, "0" * 16)
    assert render_key(row, silent) != render_key(row, Recipe())
    with pytest.raises(ContractError, match="recipe: video_audio='mp3': expected one of aac, or null"):
        load_recipe(overrides=["video_audio=mp3"])


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(packet) for packet in container.demux(container.streams.video[0]) if packet.size]


@pytest.mark.slow
def test_without_an_audio_track_the_mp4_holds_the_same_video_and_the_wav_is_unchanged(curated, tmp_path):
    source, _, outs, runs = curated
    clips = runs["silent"][2]
    assert len(clips) > 0 and [c["clip_id"] for c in clips] == [c["clip_id"] for c in runs["mpeg4"][2]]
    for clip in clips:
        with av.open(str(outs["silent"] / clip["video_path"])) as container:
            assert len(container.streams.audio) == 0 and len(container.streams.video) == 1, clip["clip_id"]
        with av.open(str(outs["mpeg4"] / clip["video_path"])) as container:
            assert len(container.streams.audio) == 1, clip["clip_id"]
        # The same encoded pictures, packet for packet, and the same stereo WAV and labels.
        silent_video = video_packets(outs["silent"] / clip["video_path"])
        assert silent_video == video_packets(outs["mpeg4"] / clip["video_path"]) and len(silent_video) == 150
        for column in ("audio_path", "metadata_path"):
            assert (outs["silent"] / clip[column]).read_bytes() == (outs["mpeg4"] / clip[column]).read_bytes()
    # Adding the track back to a video-only folder renders its clips again, giving a fresh curate's bytes.
    out = tmp_path / "out"
    shutil.copytree(outs["silent"], out)
    _, summary, again = curate(source, out, MPEG4)
    assert summary.n_rendered == summary.n_clips == len(clips)
    for clip in again:
        assert (out / clip["video_path"]).read_bytes() == (outs["mpeg4"] / clip["video_path"]).read_bytes()
