"""Recordings as real ones come, odd: built from one small synthetic recording (29.97 fps, as STARSS) by editing its
files with PyAV, soundfile and plain byte writes, for the flow tests of `tests/test_real_recordings.py`.

- `drop_video_frames`: the video re-encoded losslessly, every kept frame at its ORIGINAL timestamp, the frames of a
  time span left out: a late first frame, or a hole in the middle. A kept frame still shows the label frame of its
  time, so the clip frames can be checked against the annotations by pixel (`expected_clip_content`).
- `truncate_audio`: the audio shorter than the video by some seconds.
- `append_annotation_row`: a row past the recording's end in the CSV.
- `corrupt_video_from`: bytes of the mp4's media data, from a frame in the middle on, overwritten with seeded
  random bytes (`corrupted_from_s`: the time of the first frame they hit).
- `clone_recording`: the three files under another recording id (a space, non-ASCII, ...).
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from curation.foa import stereo_weights
from curation.perspective import letterbox_offset_px, perspective_map, render_view
from curation.synthetic.generator import (
    SynthConfig,
    assign_sprites,
    iter_label_frame_images,
    label_frame_of_video_frame,
    n_label_frames,
    synthetic_events,
    write_recording,
)
from data_contracts.annotations import AnnotationRow, read_annotations
from data_contracts.recipe import Recipe

# The recording every odd one is made from: 10 s at 29.97 fps (300 frames, the last ending at 10.01 s), 2:1.
ODD_SYNTH = SynthConfig(n_recordings=1, duration_s=10.0, seed=1, width_px=512, height_px=256,
                        fps=Fraction(30000, 1001))
# Its assign_sprites seed, and where it sits in the STARSS layout.
BASE_SEED = 12345
SPLIT_ROOT = "dev"
FOLDER = "dev-train-synth"
# The source's frame period as a time base: frame i of the source is at pts i.
FRAME_TIME_BASE = 1 / Fraction(ODD_SYNTH.fps)


@dataclass(frozen=True)
class RecordingFiles:
    """A recording's three source files."""

    wav: Path
    mp4: Path
    csv: Path


def recording_files(root: Path, recording_id: str, folder: str = FOLDER) -> RecordingFiles:
    """Where recording `recording_id` of source folder `folder` keeps its files under `root`."""
    return RecordingFiles(root / f"foa_{SPLIT_ROOT}" / folder / f"{recording_id}.wav",
                          root / f"video_{SPLIT_ROOT}" / folder / f"{recording_id}.mp4",
                          root / f"metadata_{SPLIT_ROOT}" / folder / f"{recording_id}.csv")


def base_rows() -> list[AnnotationRow]:
    """The annotation rows of the base recording."""
    return synthetic_events(ODD_SYNTH.duration_s, ODD_SYNTH.seed, 0)


def write_base_recording(root: Path, recording_id: str) -> RecordingFiles:
    """Write the base recording (`ODD_SYNTH`, `base_rows`) under `root` as `recording_id`."""
    write_recording(root, FOLDER, SPLIT_ROOT, recording_id, base_rows(), ODD_SYNTH, BASE_SEED)
    return recording_files(root, recording_id)


def clone_recording(root: Path, recording_id: str, new_id: str) -> RecordingFiles:
    """Copy a recording's three files under the id `new_id`; returns the copies."""
    copies = recording_files(root, new_id)
    for source, copy in zip(vars(recording_files(root, recording_id)).values(), vars(copies).values()):
        shutil.copyfile(source, copy)
    return copies


# ----------------------------------------------------------------------------------------------------------------
# Video


def frame_times_s(mp4: Path) -> list[Fraction]:
    """The presentation time (s, exact) of every frame of the mp4's video, in display order, as PyAV decodes it."""
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        return [frame.pts * stream.time_base for frame in container.decode(stream)]


def video_end_s(mp4: Path) -> Fraction:
    """Where the video ends: its last frame's time plus one frame period of the base recording."""
    return frame_times_s(mp4)[-1] + FRAME_TIME_BASE


def rewrite_video(mp4: Path, keep: Callable[[Fraction], bool]) -> list[int]:
    """Re-encode the mp4 in place, losslessly (libx264 qp 0, time base 1001/30000), keeping only the frames whose
    time (s) `keep` accepts, each at its original timestamp. Returns the kept frames' indices (pts / frame period).
    """
    partial = mp4.with_name(f".{mp4.stem}.partial.mp4")
    kept = []
    # The movie time scale in frame periods too: the default (1/1000 s) would round a late first frame's offset.
    options = {"movie_timescale": str(FRAME_TIME_BASE.denominator)}
    with av.open(str(mp4)) as source, av.open(str(partial), "w", format="mp4", options=options) as out:
        source_stream = source.streams.video[0]
        stream = out.add_stream("libx264", rate=Fraction(ODD_SYNTH.fps))
        stream.width, stream.height, stream.pix_fmt = ODD_SYNTH.width_px, ODD_SYNTH.height_px, "yuv420p"
        stream.time_base = stream.codec_context.time_base = FRAME_TIME_BASE
        stream.options = {"qp": "0", "preset": "veryfast"}
        for frame in source.decode(source_stream):
            time_s = frame.pts * source_stream.time_base
            if not keep(time_s):
                continue
            index = time_s / FRAME_TIME_BASE
            assert index.denominator == 1, f"{mp4}: frame at {time_s} s is off the {ODD_SYNTH.fps} fps grid"
            # A fresh frame: the decoded one's picture type would force the encoder's frame types.
            copy = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
            copy.pts, copy.time_base = int(index), FRAME_TIME_BASE
            kept.append(int(index))
            for packet in stream.encode(copy):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    partial.replace(mp4)
    return kept


def drop_video_frames(mp4: Path, from_s: float, to_s: float) -> list[int]:
    """Leave out the frames at times in [from_s, to_s) (`rewrite_video`); returns the kept frames' indices."""
    return rewrite_video(mp4, lambda time_s: not from_s <= time_s < to_s)


def _top_level_boxes(data: bytes) -> dict[bytes, tuple[int, int]]:
    """ISO BMFF top-level boxes: type → (payload offset, payload end)."""
    boxes, offset = {}, 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[offset + 8 : offset + 16])[0], 16
        elif size == 0:
            size = len(data) - offset
        boxes[kind] = (offset + header, offset + size)
        offset += size
    return boxes


def corrupt_video_from(mp4: Path, from_s: float, n_bytes: int, seed: int) -> tuple[int, int]:
    """Overwrite `n_bytes` of the mp4's media data (`mdat`) with seeded random bytes, from the start of the first
    frame at or after `from_s` (in file order); the index (`moov`) is left intact. Returns the overwritten byte
    range [start, stop)."""
    data = bytearray(mp4.read_bytes())
    begin, end = _top_level_boxes(bytes(data))[b"mdat"]
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        start = min(packet.pos for packet in container.demux(stream)
                    if packet.size and packet.pts * stream.time_base >= from_s)
    assert begin <= start and start + n_bytes <= end, f"{mp4}: {n_bytes} bytes from {start} leave the media data"
    data[start : start + n_bytes] = np.random.default_rng(seed).bytes(n_bytes)
    mp4.write_bytes(bytes(data))
    return start, start + n_bytes


def corrupted_from_s(mp4: Path, byte_range: tuple[int, int]) -> Fraction:
    """The time (s) of the earliest frame whose packet overlaps `byte_range` (from the intact index alone)."""
    start, stop = byte_range
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        hit = [packet.pts * stream.time_base for packet in container.demux(stream)
               if packet.size and packet.pos < stop and packet.pos + packet.size > start]
    assert hit, f"{mp4}: no packet overlaps bytes {byte_range}"
    return min(hit)


# ----------------------------------------------------------------------------------------------------------------
# Audio and annotations


def audio_length_s(wav: Path) -> Fraction:
    """The wav's length in seconds, exactly (samples / rate)."""
    info = sf.info(str(wav))
    return Fraction(info.frames, info.samplerate)


def truncate_audio(wav: Path, by_s: float) -> Fraction:
    """Cut `by_s` seconds off the end of the wav (same rate and subtype); returns its new length (s)."""
    samples, rate_hz = sf.read(wav, dtype="int32", always_2d=True)
    kept = samples[: len(samples) - round(by_s * rate_hz)]
    sf.write(wav, kept, rate_hz, subtype=sf.info(str(wav)).subtype, format="WAV")
    return Fraction(len(kept), rate_hz)


def append_annotation_row(csv: Path, row: AnnotationRow) -> None:
    """Add one row at the end of an annotation CSV (6 columns, as the base recording's)."""
    values = (row.frame, row.class_id, row.source_index, row.azimuth_deg, row.elevation_deg, row.distance_cm)
    with csv.open("a") as stream:
        stream.write(",".join(f"{value:g}" for value in values) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# What a clip frame must show


def shown_frame(kept_frames: Sequence[int], tick_s: Fraction) -> int:
    """The source frame a clip frame at `tick_s` shows: the last kept frame at or before it, or the first one for
    a tick before every frame."""
    earlier = [index for index in kept_frames if index * FRAME_TIME_BASE <= tick_s]
    return earlier[-1] if earlier else kept_frames[0]


def label_images(csv: Path) -> list[np.ndarray]:
    """The base recording's equirectangular image of each label frame, redrawn from the annotations of `csv`."""
    rows = [row for row in read_annotations(csv) if row.frame < n_label_frames(ODD_SYNTH.duration_s)]
    sprites = assign_sprites(((row.class_id, row.source_index) for row in rows), BASE_SEED)
    return list(iter_label_frame_images(rows, n_label_frames(ODD_SYNTH.duration_s), ODD_SYNTH, sprites))


def expected_clip_content(images: Sequence[np.ndarray], source_frame: int, view_azimuth_deg: float,
                          view_elevation_deg: float, recipe: Recipe) -> np.ndarray:
    """The view's content (content_height × content_width RGB) of the label frame that source frame
    `source_frame` shows."""
    label_frame = min(label_frame_of_video_frame(source_frame, ODD_SYNTH.fps), len(images) - 1)
    pmap = perspective_map(ODD_SYNTH.width_px, ODD_SYNTH.height_px, view_azimuth_deg, view_elevation_deg,
                           recipe.h_fov_deg, recipe.v_fov_deg, recipe.content_width, recipe.content_height)
    return render_view(images[label_frame], pmap)


def clip_content(frame: np.ndarray, recipe: Recipe) -> np.ndarray:
    """The content of a decoded clip frame, letterbox bars cut off."""
    left, top = letterbox_offset_px(recipe.content_width, recipe.content_height, recipe.frame_width,
                                    recipe.frame_height)
    return frame[top : top + recipe.content_height, left : left + recipe.content_width]


def expected_source_rate_stereo(foa: np.ndarray, rate_hz: int, clip: dict, n_samples: int) -> np.ndarray:
    """The stereo of a clip (a clips manifest row) curated at the source's audio rate without high-pass or gain:
    the mid-side formula (`curation.foa.stereo_weights`) on the source FOA `foa` (samples × 4, at `rate_hz`) from the
    clip's start."""
    first = clip["start_frame"] * rate_hz // 10
    return foa[first : first + n_samples] @ stereo_weights(clip["view_azimuth_deg"], clip["view_elevation_deg"])


def block_difference(a: np.ndarray, b: np.ndarray, block_px: int = 8) -> float:
    """The largest mean absolute difference (0–255) of two RGB images over any block_px × block_px block: codec
    noise stays a few levels, a sprite moved or gone shows as tens."""
    height, width = a.shape[0] // block_px * block_px, a.shape[1] // block_px * block_px
    diff = np.abs(a[:height, :width].astype(np.int16) - b[:height, :width].astype(np.int16)).mean(axis=2)
    return float(diff.reshape(height // block_px, block_px, width // block_px, block_px).mean(axis=(1, 3)).max())


# ----------------------------------------------------------------------------------------------------------------
# The odd source folder

GOOD = "fold3_room90_mix001"
LATE_START = "late_start"  # the frames before LATE_START_S left out
GAP = "hole_in_video"  # the frames in GAP_S left out: one hole, shorter than the recipe's max_video_gap_s
LONG_GAP = "long_hole_in_video"  # the frames in LONG_GAP_S left out: a hole longer than max_video_gap_s
VIDEO_LONGER = "video_longer"  # the audio VIDEO_LONGER_BY_S shorter: within max_av_mismatch_s
VIDEO_MUCH_LONGER = "video_much_longer"  # the audio VIDEO_MUCH_LONGER_BY_S shorter: beyond max_av_mismatch_s
ROW_PAST_END = "row_past_end"  # one more annotation row, in the label frame just past the end
CORRUPTED = "corrupted_middle"  # CORRUPTED_BYTES bytes of the video's media data overwritten from CORRUPTED_S on
BAD_IDS = ("rec one", "café_take1")

LATE_START_S = 0.3
GAP_S = (4.0, 4.5)
LONG_GAP_S = (5.0, 6.3)
VIDEO_LONGER_BY_S = 0.4
VIDEO_MUCH_LONGER_BY_S = 1.5
# From 6 s on: the clips of the windows starting at 0 s and 1 s (last frames at 4.75 s and 5.75 s) come before it.
CORRUPTED_S = 6.0
# About 5 % of the 10 s lossless stream's ~180 KB (the ~64 KiB one might overwrite in a real recording would be a
# third of it): some 0.4 s of frames.
CORRUPTED_BYTES = 8 * 1024
CORRUPTION_SEED = 12


@dataclass(frozen=True)
class OddSource:
    """The odd source folder and what was done to it: each recording's kept video frames (indices at the base's
    29.97 fps), the lengths (s, exact) of its audio and video, the annotation row appended to ROW_PAST_END, and the
    bytes overwritten in CORRUPTED's mp4 with the time of the first frame they hit."""

    root: Path
    kept_frames: dict[str, list[int]]
    audio_s: dict[str, Fraction]
    video_s: dict[str, Fraction]
    appended_row: AnnotationRow
    corrupted_bytes: tuple[int, int]
    corrupted_from_s: Fraction


def build_odd_source(root: Path) -> OddSource:
    """Write the base recording as GOOD and, from copies of it, every odd recording of this module under `root`."""
    files = write_base_recording(root, GOOD)
    all_frames = list(range(len(frame_times_s(files.mp4))))
    kept = {GOOD: all_frames}
    # The same lossless re-encode for the recordings whose frames are all kept: only the frames left out differ.
    for recording_id in (ROW_PAST_END, VIDEO_LONGER, VIDEO_MUCH_LONGER, CORRUPTED):
        kept[recording_id] = rewrite_video(clone_recording(root, GOOD, recording_id).mp4, lambda time_s: True)
    kept[LATE_START] = drop_video_frames(clone_recording(root, GOOD, LATE_START).mp4, 0.0, LATE_START_S)
    kept[GAP] = drop_video_frames(clone_recording(root, GOOD, GAP).mp4, *GAP_S)
    kept[LONG_GAP] = drop_video_frames(clone_recording(root, GOOD, LONG_GAP).mp4, *LONG_GAP_S)
    truncate_audio(recording_files(root, VIDEO_LONGER).wav, VIDEO_LONGER_BY_S)
    truncate_audio(recording_files(root, VIDEO_MUCH_LONGER).wav, VIDEO_MUCH_LONGER_BY_S)
    last = max(base_rows(), key=lambda row: row.frame)
    appended = AnnotationRow(n_label_frames(ODD_SYNTH.duration_s), last.class_id, last.source_index,
                             last.azimuth_deg, last.elevation_deg, last.distance_cm)
    append_annotation_row(recording_files(root, ROW_PAST_END).csv, appended)
    corrupted = recording_files(root, CORRUPTED).mp4
    byte_range = corrupt_video_from(corrupted, CORRUPTED_S, CORRUPTED_BYTES, CORRUPTION_SEED)
    for recording_id in BAD_IDS:
        clone_recording(root, GOOD, recording_id)
    return OddSource(
        root, kept,
        audio_s={recording_id: audio_length_s(recording_files(root, recording_id).wav) for recording_id in kept},
        video_s={recording_id: (kept[recording_id][-1] + 1) * FRAME_TIME_BASE for recording_id in kept},
        appended_row=appended, corrupted_bytes=byte_range, corrupted_from_s=corrupted_from_s(corrupted, byte_range))
