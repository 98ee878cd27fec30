"""Render a recording's planned clips: decode the source once, remap every view from the same frames, cut audio.

The source video is decoded exactly once per recording whatever the number of views and overlapping windows: each
grid tick takes the frame shown at its time by the frames' own timestamps (`GridFrames`), each view is remapped once
per grid tick, and overlapping windows share those remapped frames. Audio goes through the view-independent chain
(high-pass, gain, 16 kHz) once; each clip's WAV is then a slice times a 4×2 view matrix (rotation and mid-side
decoding are linear). A view's stereo is AAC-encoded (unless the recipe's `video_audio` is null: video-only mp4s)
only where kept clips need it, in recording-aligned chunks of about 2 s, each encoded on its own (with a fixed
pre-roll) by the worker threads while the main thread decodes video; a clip's AAC track is the run of its chunks'
packets covering its 5 s plus one packet of pre-roll, with an MP4 edit list that trims it to exactly the clip's
samples. Overlapping windows share chunks, and a clip's bytes depend only on its own span, never on which other
clips a run renders.
"""

from __future__ import annotations

import io
import math
import os
import struct
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Collection, Sequence

import av
import cv2
import numpy as np
import soundfile as sf

from curation.foa import prepare_foa, rotate_foa, stereo_weights
from curation.labels import clip_label_csv
from curation.media import AAC_FRAME_SAMPLES, MediaError, encode_aac, frame_period_s, open_video
from curation.perspective import letterbox, perspective_map, render_view
from curation.plan import ClipPlan, RecordingPlan
from data_contracts._atomic import atomic_path, write_bytes_atomic
from data_contracts.manifests import ClipRow
from data_contracts.recipe import SOURCE_FPS, Recipe
from data_contracts.timebase import grid_tick_of_label_frame, label_frames_to_fraction_s, nearest_index_at_rate

# Bump when a change here alters the bytes of rendered clips, so that earlier renders are not reused.
RENDER_VERSION = 7
VIDEO_PRESET = "veryfast"
VIDEO_CRF = 18
# MPEG-4 Part 2 (`video_codec: mpeg4`) at a fixed quantiser (as ffmpeg's `-q:v`, 2 best to 31 worst): 3 keeps a
# 640x360 picture within about one grey level (mean) of the H.264 clip's (tests/test_video_codec.py), at about twice
# its size. The encoder takes a fixed quantiser from each frame's quality, which PyAV leaves at 0 (then clamped to
# qmin), so qmin = qmax pins it.
MPEG4_QSCALE = 3
# Per recipe `video_codec`: the PyAV encoder and its options.
VIDEO_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "h264": ("libx264", {"crf": str(VIDEO_CRF), "preset": VIDEO_PRESET}),
    "mpeg4": ("mpeg4", {"flags": "+qscale", "qmin": str(MPEG4_QSCALE), "qmax": str(MPEG4_QSCALE)}),
}
AUDIO_BITRATE = 96_000

__all__ = ["RENDER_VERSION", "RenderResult", "GridFrames", "render_recording", "render_foa_clips", "grid_rate_hz",
           "video_frame_rate", "float_wav_bytes", "clip_metadata_csv", "default_decode_threads"]

# Clip files (mp4, wav, csv; thousands per recording) are written atomically but not fsynced: fsync per clip WAV
# cost ~9 % of the render workers' time, and on a rerun the ledger re-checks the clip files it lists anyway.
CLIP_FSYNC = False


def grid_rate_hz(recipe: Recipe, source_fps: Fraction | None = None) -> Fraction:
    """Rate of the time grid on which every clip frame of the recipe lies (4 Hz for the SAVGBench recipe; with
    fps "source", given the source's exact rate `source_fps`: 30000 Hz for 30000/1001 fps and a 0.5 s hop).

    Clip frame k of a window starting at label frame s is at s·0.1 + k/fps seconds, and s is a multiple of the
    hop, so all such times are multiples of gcd(hop_s, 1/fps).
    """
    hop_s = label_frames_to_fraction_s(recipe.hop_frames)
    frame_s = 1 / recipe.clip_fps(source_fps)
    step = Fraction(math.gcd(hop_s.numerator * frame_s.denominator, frame_s.numerator * hop_s.denominator),
                    hop_s.denominator * frame_s.denominator)
    return 1 / step


def video_frame_rate(video_path: str | Path) -> Fraction:
    """A video's exact nominal frame rate (30000/1001 for STARSS's 29.97 fps): one over `frame_period_s`."""
    container, stream = open_video(video_path)
    with container:
        return 1 / frame_period_s(video_path, stream)


def clip_metadata_csv(plan: ClipPlan, label_format: str = "savgbench") -> str:
    """The clip's label file in the recipe's `label_format` (`curation.labels`): by default the SAVGBench per-clip
    metadata, rows `frame,class,x,y` (10 fps label frames, content pixels), onscreen events of interest only, no
    header, sorted by frame then class."""
    return clip_label_csv(plan.events, label_format)


@dataclass
class RenderResult:
    """What rendering a recording produced: the clips written, the clips rejected, and where the time went."""

    written: list[ClipPlan] = field(default_factory=list)
    rejected: list[tuple[ClipPlan, str, str]] = field(default_factory=list)  # (clip, reason, detail)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))


class GridFrames:
    """A video's frames on a time grid, decoded once with PyAV by presentation timestamp.

    Iterating yields (tick, frame) for ticks m = 0, 1, … in order, tick m being time m/rate_hz on the video's
    timeline (whose 0 is the audio's 0), and `frame` the RGB array (height, width, 3) of `size_px` = (width,
    height) of the last frame whose timestamp is at or before m/rate_hz: the first frame for ticks before it, and
    the frame before a gap for ticks in the gap. The ticks end with the last one at or before the end of the last
    frame (its timestamp plus one nominal frame period, `frame_period_s`). With `wanted`, only those ticks are
    yielded; only frames a yielded tick shows are converted to RGB, and non-reference frames no yielded tick shows
    are not decoded. `threads` is the decoder's thread count (0: libavcodec's choice).

    An unreadable file, or one whose first frame does not decode, raises MediaError naming it. A demux or decode
    error later ends the ticks with the frames decoded before it, and sets `failed_at_s` (how far the packets had
    come, in seconds) and `failure` (the error). After iterating, `last_tick` is the last tick reached (yielded or
    not; −1 if none) and `n_decoded` the number of frames decoded.
    """

    def __init__(self, path: str | Path, rate_hz: Fraction, size_px: tuple[int, int], *, threads: int = 0,
                 wanted: Collection[int] | None = None):
        self.path, self.rate_hz, self.size_px, self.threads, self.wanted = path, rate_hz, size_px, threads, wanted
        # The wanted ticks in order: on a fine grid (30000 Hz for 29.97 fps) they are a few of many ticks.
        self._wanted_order = None if wanted is None else sorted(wanted)
        self._reset()

    def _reset(self) -> None:
        self.last_tick = -1
        self.n_decoded = 0
        self.failed_at_s: float | None = None
        self.failure: str | None = None
        self._reached_s = 0.0

    def _shown_pts(self) -> set[int] | None:
        """The timestamps of the frames a wanted tick shows, plus the first and the last frame (they set where the
        ticks start and end), from one pass over the packets (demuxed, not decoded); None without `wanted`, or if
        the packets cannot be read (then every frame is decoded, and the error comes from decoding)."""
        if self.wanted is None:
            return None
        container, stream = open_video(self.path)
        with container:
            try:
                pts = sorted({packet.pts for packet in container.demux(stream) if packet.pts is not None})
            except av.FFmpegError:
                return None
            time_base = stream.time_base
        if not pts:
            return None
        # Frame i is shown from tick ceil(pts_i · time_base · rate) until the next frame's first tick.
        first_ticks = [math.ceil(p * time_base * self.rate_hz) for p in pts]
        shown = {pts[max(bisect_right(first_ticks, tick) - 1, 0)] for tick in self.wanted}
        return shown | {pts[0], pts[-1]}

    def _decoded(self, container: av.container.InputContainer, stream: av.VideoStream):
        """The stream's frames in presentation order, noting how far the packets have come.

        With `wanted`, a frame no wanted tick shows is not decoded at all if no other frame refers to it (the
        decoder's skip_frame NONREF, set per packet): at 4 Hz out of 30 fps that is most non-reference frames,
        about half the decoding of a typical H.264 source."""
        shown_pts = self._shown_pts()
        for packet in container.demux(stream):
            if packet.pts is not None:
                self._reached_s = max(self._reached_s, float(packet.pts * packet.time_base))
            if shown_pts is not None:
                skip = packet.pts is not None and packet.pts not in shown_pts
                stream.codec_context.skip_frame = "NONREF" if skip else "DEFAULT"
            for frame in packet.decode():
                self.n_decoded += 1
                yield frame

    def _ticks(self, upto: int, frame: av.VideoFrame):
        """(tick, RGB of `frame`) for the ticks from the next one up to `upto` (excluded) that are wanted."""
        rgb = None
        first, order = self.last_tick + 1, self._wanted_order
        ticks = range(first, upto) if order is None else order[bisect_left(order, first) : bisect_left(order, upto)]
        for tick in ticks:
            self.last_tick = tick
            if rgb is None:
                width_px, height_px = self.size_px
                rgb = frame.to_ndarray(format="rgb24", width=width_px, height=height_px)
            yield tick, rgb
        self.last_tick = max(self.last_tick, upto - 1)

    def __iter__(self):
        self._reset()
        container, stream = open_video(self.path)
        with container:
            stream.codec_context.thread_type = "AUTO"
            stream.codec_context.thread_count = self.threads
            time_base, rate = stream.time_base, self.rate_hz
            period_s = frame_period_s(self.path, stream)
            shown, shown_s = None, None  # the frame shown now, and its time
            try:
                for frame in self._decoded(container, stream):
                    if frame.pts is None:  # no time to place it at
                        continue
                    frame_s = frame.pts * time_base
                    # The ticks before this frame's time show the frame before it (or this one, if it is the first).
                    yield from self._ticks(math.ceil(frame_s * rate), frame if shown is None else shown)
                    shown, shown_s = frame, frame_s
            except av.FFmpegError as exc:
                if shown is None:
                    raise MediaError(f"{self.path}: video decoding failed at {self._reached_s:.2f} s ({exc})") from exc
                self.failed_at_s, self.failure = self._reached_s, str(exc)
            if shown is None:
                raise MediaError(f"{self.path}: no video frame decodes")
            yield from self._ticks(math.floor((shown_s + period_s) * rate) + 1, shown)


@dataclass(frozen=True)
class AacCut:
    """The AAC packets of one clip, cut from its view's chunks: `packets` are (pts, duration, payload) with pts in
    samples relative to the clip's first sample (the first is negative: pre-roll the edit list trims), and the
    durations of the last packet end exactly at the clip's length. `extradata` is the stream's AudioSpecificConfig."""

    rate_hz: int
    extradata: bytes
    packets: tuple[tuple[int, int, bytes], ...]


# A view's stereo is AAC-encoded in recording-aligned chunks of AAC_CHUNK_FRAMES frames: chunk k covers the samples
# [k·C, (k+1)·C), C = AAC_CHUNK_FRAMES·1024, and is encoded on its own from AAC_PRE_ROLL_FRAMES frames before it to
# AAC_POST_ROLL_FRAMES frames after it (zeros outside the recording). Fewer than 2 frames of pre-roll leave audible
# errors where a clip's packets pass from one chunk to the next; with 2 or more, those seams decode as cleanly as
# one continuous stream (the encoder's window decisions have warmed up on the same samples).
AAC_CHUNK_FRAMES = 32
AAC_PRE_ROLL_FRAMES = 4
AAC_POST_ROLL_FRAMES = 2


@dataclass(frozen=True)
class AacChunk:
    """Chunk `index` of one view's AAC: `packets` maps a packet's pts (in samples of the recording) to (duration,
    payload), for the packets with pts in [k·C − 1024, (k+1)·C − 1024]: the one before the chunk's first samples
    (only ever a clip's pre-roll) and the C/1024 that decode to the chunk's samples."""

    index: int
    extradata: bytes
    packets: dict[int, tuple[int, bytes]]


def aac_chunk_samples() -> int:
    """C: samples per AAC chunk."""
    return AAC_CHUNK_FRAMES * AAC_FRAME_SAMPLES


def encode_aac_chunk(prepared: np.ndarray, weights: np.ndarray, rate_hz: int, index: int) -> AacChunk:
    """Chunk `index` of the stereo `prepared @ weights` (prepared FOA (n, 4), a view's 4×2 matrix), AAC-encoded.

    Its bytes depend only on the samples from its pre-roll to its post-roll: never on which clips a run renders,
    nor on the order chunks are encoded in.
    """
    frame, chunk = AAC_FRAME_SAMPLES, aac_chunk_samples()
    start = index * chunk - AAC_PRE_ROLL_FRAMES * frame
    stop = (index + 1) * chunk + AAC_POST_ROLL_FRAMES * frame
    stereo = np.zeros((stop - start, 2), np.float32)
    lo, hi = max(start, 0), min(stop, prepared.shape[0])
    if hi > lo:
        stereo[lo - start : hi - start] = view_stereo(prepared[lo:hi], weights)
    extradata, packets = encode_aac(stereo, rate_hz, AUDIO_BITRATE)
    first, last = index * chunk - frame, (index + 1) * chunk - frame
    kept = {start + pts: (duration, payload) for pts, duration, payload in packets if first <= start + pts <= last}
    return AacChunk(index, extradata, kept)


def aac_packet_pts(first_sample: int, n_samples: int) -> range:
    """The pts (in samples of the recording) of the AAC packets that decode to samples [first_sample,
    first_sample + n_samples): one packet of pre-roll before the one holding first_sample, then every packet to
    the one holding the last sample."""
    frame = AAC_FRAME_SAMPLES
    first = first_sample // frame * frame
    return range(first - frame, (first_sample + n_samples - 1) // frame * frame + 1, frame)


def aac_chunk_of_packet(pts: int, first_sample: int) -> int:
    """The chunk a clip starting at first_sample takes the packet `pts` from: the chunk of the segment the packet
    decodes to, except the clip's pre-roll packet, taken from the chunk of the clip's first segment (which holds it
    too), so that a clip starting at a chunk's start needs no packet of the chunk before."""
    frame = AAC_FRAME_SAMPLES
    return max(pts, first_sample // frame * frame) // aac_chunk_samples()


def aac_chunks_of_clip(first_sample: int, n_samples: int) -> range:
    """The chunks whose packets make up the AAC of samples [first_sample, first_sample + n_samples)."""
    packets = aac_packet_pts(first_sample, n_samples)
    return range(aac_chunk_of_packet(packets[0], first_sample), aac_chunk_of_packet(packets[-1], first_sample) + 1)


def aac_cut(chunks: dict[int, AacChunk], first_sample: int, n_samples: int, rate_hz: int) -> AacCut:
    """A clip's AAC packets (samples [first_sample, first_sample + n_samples) of a view) from that view's chunks,
    which must include `aac_chunks_of_clip`. The packets are a function of the clip's own span: whichever other
    clips share its chunks, its bytes are the same."""
    packets = []
    for pts in aac_packet_pts(first_sample, n_samples):
        chunk = chunks[aac_chunk_of_packet(pts, first_sample)]
        duration, payload = chunk.packets[pts]
        start = pts - first_sample
        packets.append((start, min(duration, n_samples - start), payload))
    return AacCut(rate_hz, chunks[aac_chunk_of_packet(pts, first_sample)].extradata, tuple(packets))


def to_i420(rgb: np.ndarray) -> np.ndarray:
    """An RGB frame (H, W, 3) as planar I420 (H·3/2, W), BT.601 limited range as libx264 expects it. Done once per
    remapped frame, not once per clip showing it; OpenCV's conversion is ~20× faster than the one inside PyAV."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)


def _encode_clip(video_path: Path, frames: Sequence[np.ndarray], audio: AacCut | None, fps: int | Fraction,
                 video_codec: str = "h264") -> None:
    """One clip's mp4: its frames (I420, each (H·3/2, W) uint8, as `to_i420` makes them) encoded with the recipe's
    `video_codec` (`VIDEO_ENCODERS`: H.264 or MPEG-4 Part 2) plus the clip's AAC packets (none with `audio` None,
    the recipe's `video_audio` null: a video-only mp4), written to a partial name then moved.

    Encoded in-process with PyAV: a process per clip cost more than the encoding itself. PyAV releases
    the GIL while encoding, so a few threads keep both cores busy. The audio packets are muxed as they are; their
    negative first pts and shortened last duration become the MP4 edit list that trims the pre-roll and the tail.
    """
    height_px, width_px = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    with atomic_path(video_path, fsync=CLIP_FSYNC) as tmp:
        try:
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
                container.metadata.clear()
                encoder, options = VIDEO_ENCODERS[video_codec]
                video = container.add_stream(encoder, rate=fps)
                video.width, video.height, video.pix_fmt = width_px, height_px, "yuv420p"
                video.options = dict(options)
                video.thread_count = 1
                if audio is not None:
                    audio_stream = container.add_stream("aac", rate=audio.rate_hz, layout="stereo")
                    audio_stream.codec_context.extradata = audio.extradata
                    audio_stream.time_base = Fraction(1, audio.rate_hz)
                for yuv in frames:
                    # The frame points at the array, not a copy of it: libavcodec copies the picture itself, without
                    # the GIL (from_ndarray's copy held it, and made the clip workers wait on each other).
                    container.mux(video.encode(av.VideoFrame.from_numpy_buffer(yuv, format="yuv420p")))
                container.mux(video.encode())
                for pts, duration, payload in () if audio is None else audio.packets:
                    packet = av.Packet(payload)
                    packet.stream, packet.time_base = audio_stream, audio_stream.time_base
                    packet.pts = packet.dts = pts
                    packet.duration = duration
                    container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise MediaError(f"{video_path}: encode failed ({exc})") from exc


def _write_wav(path: Path, stereo: np.ndarray, rate: int) -> None:
    # Through memory: libsndfile fsyncs a file it closes, which made the clip workers wait on the disk.
    buffer = io.BytesIO()
    sf.write(buffer, stereo, rate, subtype="PCM_16", format="WAV")
    write_bytes_atomic(path, buffer.getvalue(), fsync=CLIP_FSYNC)


def float_wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """A 32-bit IEEE float WAV of `samples` (n, channels): RIFF, `fmt ` (format 3), `fact`, `data`, nothing else.

    Written by hand because libsndfile adds a PEAK chunk holding the time of writing to float files, so the same
    samples would give other bytes on every run (and a resumed run would not match an uninterrupted one)."""
    data = np.ascontiguousarray(samples, dtype="<f4")
    n_frames, n_channels = data.shape
    block = 4 * n_channels
    fmt = struct.pack("<HHIIHH", 3, n_channels, rate, rate * block, block, 32)
    chunks = b"".join([b"fmt ", struct.pack("<I", len(fmt)), fmt, b"fact", struct.pack("<II", 4, n_frames),
                       b"data", struct.pack("<I", data.nbytes)])
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + data.nbytes) + b"WAVE" + chunks + data.tobytes()


def _write_foa(output_dir: Path, clip: ClipRow, segment: np.ndarray, rate: int) -> None:
    """The clip's FOA segment (prepared: high-pass, gain, recipe rate) rotated to its view, as a 4-channel 32-bit
    float WAV (ACN/SN3D, W Y Z X). Float, because it holds the chain's float32 samples exactly: no rounding, and no
    clipping where a channel exceeds full scale (the clipping test is the stereo's)."""
    path = output_dir / clip.foa_path
    path.parent.mkdir(parents=True, exist_ok=True)
    rotated = rotate_foa(segment, clip.view_azimuth_deg, clip.view_elevation_deg)
    write_bytes_atomic(path, float_wav_bytes(rotated, rate), fsync=CLIP_FSYNC)


def view_stereo(foa: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Prepared FOA samples (n, 4) times a view's 4×2 stereo matrix, as float32 (n, 2).

    Written out channel by channel: a (n, 4) @ (4, 2) product goes through BLAS, whose thread start-up made it ~15×
    slower (17 ms for a 5 s clip on a busy 2-CPU machine, against 1 ms).
    """
    out = np.empty((foa.shape[0], 2), np.float32)
    for side in range(2):
        np.multiply(foa[:, 0], weights[0, side], out=out[:, side])
        for channel in range(1, 4):
            out[:, side] += foa[:, channel] * weights[channel, side]
    return out


def _view_key(plan_clip: ClipPlan) -> tuple[float, float]:
    """The clip's view as (view_azimuth_deg, view_elevation_deg): the key of its stereo matrix and AAC chunks."""
    return plan_clip.clip.view_azimuth_deg, plan_clip.clip.view_elevation_deg


def _first_sample(clip: ClipRow, recipe: Recipe) -> int:
    """Index of the clip's first sample in the prepared (recipe-rate) audio: where its WAV and its AAC cut start."""
    return nearest_index_at_rate(clip.start_s, recipe.audio_rate)


def _clip_segment(prepared: np.ndarray, clip: ClipRow, recipe: Recipe) -> np.ndarray:
    """The clip's samples of the prepared FOA (samples_per_clip, 4), zero-padded past the recording's end."""
    samples = recipe.samples_per_clip
    first = _first_sample(clip, recipe)
    segment = prepared[first : first + samples]
    if segment.shape[0] < samples:
        segment = np.concatenate([segment, np.zeros((samples - segment.shape[0], 4), dtype=np.float32)])
    return segment


@dataclass(frozen=True)
class FinishedClip:
    """What finishing one clip came to: `reason` None when its files were written, else why it was rejected (with
    `detail`); `seconds` the worker's time per stage."""

    reason: str | None
    detail: str | None
    seconds: dict[str, float]


def _finish_clip(plan_clip: ClipPlan, frames: Sequence[np.ndarray], aac_chunks: dict[int, Future] | None,
                 prepared: np.ndarray, weights: dict, output_dir: Path, recipe: Recipe,
                 fps: Fraction | None = None) -> FinishedClip:
    """Cut the clip's stereo, reject it if clipped, else write its wav (and FOA), metadata csv and mp4 (in a worker
    thread), the mp4 at `fps` (the recipe's when None).

    `aac_chunks` are the futures of its view's AAC chunks the clip needs (`aac_chunks_of_clip`), submitted to the
    same pool before this clip, so they are running or done by the time a worker takes it up; None when the mp4 has
    no audio track (the recipe's `video_audio` null).
    """
    t0 = time.thread_time()
    clip = plan_clip.clip
    samples = recipe.samples_per_clip
    first = _first_sample(clip, recipe)
    segment = _clip_segment(prepared, clip, recipe)
    stereo = view_stereo(segment, weights[_view_key(plan_clip)])
    peak = float(np.abs(stereo).max())
    if peak > recipe.clip_peak_limit:
        return FinishedClip("clipped", f"stereo peak {peak:.4f} > clip_peak_limit {recipe.clip_peak_limit}", {})
    _write_wav(output_dir / clip.audio_path, stereo, recipe.audio_rate)
    if clip.foa_path is not None:
        _write_foa(output_dir, clip, segment, recipe.audio_rate)
    write_bytes_atomic(output_dir / clip.metadata_path, clip_metadata_csv(plan_clip, recipe.label_format).encode(),
                       fsync=CLIP_FSYNC)
    t1, waited_s = time.thread_time(), time.perf_counter()
    chunks = {index: future.result() for index, future in (aac_chunks or {}).items()}
    waited_s = time.perf_counter() - waited_s
    audio = None if aac_chunks is None else aac_cut(chunks, first, samples, recipe.audio_rate)
    t2 = time.thread_time()
    fps = recipe.fps if fps is None else fps
    _encode_clip(output_dir / clip.video_path, frames, audio, int(fps) if fps == int(fps) else fps,
                 recipe.video_codec)
    # CPU time of this thread (libx264 runs in it, thread_count 1): unlike wall time, not inflated by other load.
    return FinishedClip(None, None, {"clip_audio_cpu": t1 - t0, "aac_wait": waited_s,
                                     "encode_cpu": time.thread_time() - t2})


def default_decode_threads() -> int:
    """The source decoder's threads: a quarter of the CPUs, at least one. The clip workers, one per CPU, keep every
    core busy while a dense plan renders, and libavcodec's own choice (a frame thread per CPU, plus one) then only
    competes with them: on 2 CPUs one decoding thread rendered the issue-14 real-trajectory recording about 8 % faster
    (median of five alternated runs) and the 12-clip release run, which waits on the decoder, no slower."""
    return max(1, (os.cpu_count() or 1) // 4)


def _collect(plan_clip: ClipPlan, future: Future, result: RenderResult, on_clip) -> None:
    finished: FinishedClip = future.result()
    for stage, value in finished.seconds.items():
        result.seconds[stage] += value
    if finished.reason is None:
        result.written.append(plan_clip)
    else:
        result.rejected.append((plan_clip, finished.reason, finished.detail))
    on_clip(plan_clip, finished.reason, finished.detail)


def render_recording(
    plan: RecordingPlan,
    audio_path: Path,
    video_path: Path,
    video_size_px: tuple[int, int],
    output_dir: Path,
    recipe: Recipe,
    *,
    decode_threads: int | None = None,
    encode_workers: int | None = None,
    log: Callable[[str], None] = lambda message: None,
    on_clip: Callable[[ClipPlan, str | None, str | None], None] = lambda clip, reason, detail: None,
) -> RenderResult:
    """Write every planned clip's wav, metadata csv and mp4 (and its FOA wav when it has a `foa_path`) under
    output_dir; reject clipped ones.

    `video_size_px` is the source's (width, height). Files are written under partial names and renamed into place,
    so a file with its final name is complete. `on_clip(clip, reason, detail)` is called as each clip is finished:
    reason None when it was written, else why it was rejected. `decode_threads` is the source decoder's thread count
    (None: `default_decode_threads()`, 0: libavcodec's choice), `encode_workers` the clip workers' (None: one per
    CPU, at least 2).
    """
    result = RenderResult()
    encode_workers = encode_workers or max(2, os.cpu_count() or 2)
    decode_threads = default_decode_threads() if decode_threads is None else decode_threads
    clips: Sequence[ClipPlan] = plan.clips
    if not clips:
        return result
    for sub in {Path(c.clip.video_path).parent for c in clips} | {Path(c.clip.audio_path).parent for c in clips} | {
        Path(c.clip.metadata_path).parent for c in clips
    }:
        (output_dir / sub).mkdir(parents=True, exist_ok=True)

    # The view-independent audio chain runs once; each clip is then a slice times its view's 4×2 matrix.
    t0 = time.perf_counter()
    foa, rate_hz = sf.read(audio_path, dtype="float32", always_2d=True)
    prepared = prepare_foa(foa, rate_hz, recipe.audio_rate, recipe.highpass_hz, recipe.gain_db)
    del foa
    weights = {(c.clip.view_azimuth_deg, c.clip.view_elevation_deg): None for c in clips}
    weights = {key: stereo_weights(*key).astype(np.float32) for key in weights}
    result.seconds["audio"] += time.perf_counter() - t0

    # Which grid ticks each view needs, and when each clip is complete.
    fps = recipe.clip_fps(video_frame_rate(video_path) if recipe.fps == SOURCE_FPS else None)
    n_frames = recipe.clip_frames(fps)
    rate = grid_rate_hz(recipe, fps)
    ticks_per_frame = int(rate / fps)
    clip_ticks: dict[int, list[int]] = {}
    needed: dict[int, set[int]] = defaultdict(set)  # tick → view indices
    finishing: dict[int, list[int]] = defaultdict(list)  # last tick → clip positions in `clips`
    starting: dict[int, list[int]] = defaultdict(list)  # first tick → clip positions in `clips`
    # Each view's AAC chunks: how many clips still need each one, and (once submitted) its future. None are encoded
    # when the mp4 has no audio track (`video_audio` null).
    aac = recipe.video_audio is not None
    chunk_users: dict[tuple[tuple[float, float], int], int] = defaultdict(int)
    for pos, plan_clip in enumerate(clips):
        start_tick = grid_tick_of_label_frame(plan_clip.clip.start_frame, rate)
        ticks = [start_tick + k * ticks_per_frame for k in range(n_frames)]
        clip_ticks[pos] = ticks
        for tick in ticks:
            needed[tick].add(plan_clip.view_index)
        finishing[ticks[-1]].append(pos)
        starting[start_tick].append(pos)
        for index in aac_chunks_of_clip(_first_sample(plan_clip.clip, recipe), recipe.samples_per_clip) if aac else ():
            chunk_users[(_view_key(plan_clip), index)] += 1
    chunk_futures: dict[tuple[tuple[float, float], int], Future] = {}
    aac_seconds: list[float] = []

    def encode_chunk(view_key: tuple[float, float], index: int) -> AacChunk:
        started_s = time.thread_time()
        chunk = encode_aac_chunk(prepared, weights[view_key], recipe.audio_rate, index)
        aac_seconds.append(time.thread_time() - started_s)
        return chunk

    def aac_chunks_for(plan_clip: ClipPlan) -> dict[int, Future] | None:
        """The futures of the AAC chunks the clip needs, each submitted to the pool the first time it is asked for
        (None when the mp4 has no audio track)."""
        if not aac:
            return None
        futures = {}
        for index in aac_chunks_of_clip(_first_sample(plan_clip.clip, recipe), recipe.samples_per_clip):
            key = (_view_key(plan_clip), index)
            if key not in chunk_futures:
                chunk_futures[key] = pool.submit(encode_chunk, *key)
            futures[index] = chunk_futures[key]
        return futures

    last_tick = max(finishing)
    span = (n_frames - 1) * ticks_per_frame

    width_px, height_px = video_size_px
    maps = {
        v: perspective_map(width_px, height_px, view.view_azimuth_deg, view.view_elevation_deg, recipe.h_fov_deg,
                           recipe.v_fov_deg, recipe.content_width, recipe.content_height)
        for v, view in enumerate(plan.views)
        if any(c.view_index == v for c in clips)
    }
    cache: dict[tuple[int, int], np.ndarray] = {}  # (tick, view) → letterboxed frame, I420
    cached_ticks: deque[tuple[int, list[tuple[int, int]]]] = deque()  # (tick, its keys in `cache`), oldest first
    pending: list[tuple[ClipPlan, Future]] = []
    pool = ThreadPoolExecutor(max_workers=encode_workers)
    grid = GridFrames(video_path, rate, video_size_px, threads=decode_threads, wanted=needed)
    try:
        t_decode = time.perf_counter()
        for tick, frame in grid:
            result.seconds["decode"] += time.perf_counter() - t_decode
            # The AAC a clip needs is encoded by the workers while the main thread decodes the clip's 5 s of video.
            for pos in starting.get(tick, ()):
                aac_chunks_for(clips[pos])
            t1 = time.perf_counter()
            keys = [(tick, v) for v in needed.get(tick, ())]
            for key in keys:
                cache[key] = to_i420(letterbox(render_view(frame, maps[key[1]]), recipe.frame_width,
                                               recipe.frame_height))
            cached_ticks.append((tick, keys))
            result.seconds["remap"] += time.perf_counter() - t1
            for pos in finishing.get(tick, ()):
                plan_clip = clips[pos]
                frames = [cache[(t, plan_clip.view_index)] for t in clip_ticks[pos]]
                aac_chunks = aac_chunks_for(plan_clip)
                for index in aac_chunks or ():
                    key = (_view_key(plan_clip), index)
                    chunk_users[key] -= 1
                    if not chunk_users[key]:  # the last clip needing it: this clip's task keeps it until done
                        del chunk_futures[key]
                future = pool.submit(_finish_clip, plan_clip, frames, aac_chunks, prepared, weights, output_dir,
                                     recipe, fps)
                pending.append((plan_clip, future))
            # Bounded memory: drop frames no clip needs any more (the oldest ticks first: no scan of the whole cache,
            # which holds thousands of frames when every clip has its own view), and wait for encoders that fall
            # behind.
            while cached_ticks and cached_ticks[0][0] <= tick - span:
                for key in cached_ticks.popleft()[1]:
                    del cache[key]
            while len(pending) > 4 * encode_workers:
                t2 = time.perf_counter()
                _collect(*pending.pop(0), result, on_clip)
                result.seconds["encode_wait"] += time.perf_counter() - t2
            if tick >= last_tick:
                break
            t_decode = time.perf_counter()
        t2 = time.perf_counter()
        for plan_clip, future in pending:
            _collect(plan_clip, future, result, on_clip)
        result.seconds["encode_wait"] += time.perf_counter() - t2
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.seconds["aac_cpu"] += sum(aac_seconds)
    # Clips whose last tick the frames did not reach: the video ends, or stopped decoding, before them.
    missing = [clips[pos] for tick, positions in finishing.items() if tick > grid.last_tick for pos in positions]
    for plan_clip in missing:
        end_s = plan_clip.clip.start_s + recipe.window_s
        if grid.failure is None:
            reason, detail = "video_too_short", f"{video_path}: the video ends before {end_s:.1f} s"
        else:
            reason = "video_decode_failed"
            detail = f"{video_path}: decoding failed at {grid.failed_at_s:.2f} s, before {end_s:.1f} s ({grid.failure})"
        result.rejected.append((plan_clip, reason, detail))
        on_clip(plan_clip, reason, detail)
    log(f"{plan.recording_id}: {len(result.written)} clips written, {len(result.rejected)} rejected, "
        f"{grid.n_decoded} frames decoded")
    return result


def render_foa_clips(clips: Sequence[ClipPlan], audio_path: Path, output_dir: Path, recipe: Recipe, *,
                     log: Callable[[str], None] = lambda message: None) -> dict[str, float]:
    """Write only the FOA file of each clip (its `foa_path`): for clips rendered before without one, whose other
    files stand. Audio only: the recording's FOA goes through the same chain as in `render_recording` once, and no
    video is decoded. Returns the seconds spent ("foa_only")."""
    t0 = time.perf_counter()
    foa, rate_hz = sf.read(audio_path, dtype="float32", always_2d=True)
    prepared = prepare_foa(foa, rate_hz, recipe.audio_rate, recipe.highpass_hz, recipe.gain_db)
    del foa
    for plan_clip in clips:
        clip = plan_clip.clip
        _write_foa(output_dir, clip, _clip_segment(prepared, clip, recipe), recipe.audio_rate)
    log(f"{len(clips)} FOA files written for clips rendered before without them")
    return {"foa_only": time.perf_counter() - t0}
