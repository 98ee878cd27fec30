"""Video and audio I/O: headers and frame timestamps read with PyAV (`import av`), and decoding and encoding through
the ffmpeg executable shipped by the `imageio-ffmpeg` wheel (no system ffmpeg).

Command lines are built with ffmpeg-python (`import ffmpeg`) and run by `subprocess` here. Frames are uint8 RGB
arrays (H, W, 3). Input formats are always named explicitly (`-f rawvideo`, `-f wav`): ffmpeg's prober has mistaken
valid float WAVs for MPEG-TS on this build. Nothing here can hang on a bad file: PyAV reads time out and an ffmpeg
that stops sending frames is killed.
"""

from __future__ import annotations

import itertools
import select
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

import av
import ffmpeg
import numpy as np

__all__ = [
    "MediaError",
    "ffmpeg_exe",
    "format_rate",
    "ffmpeg_command",
    "MediaInfo",
    "OPEN_TIMEOUT_S",
    "READ_TIMEOUT_S",
    "open_video",
    "probe_media",
    "VideoTiming",
    "video_timing",
    "frame_period_s",
    "rgb_frames_command",
    "STALL_TIMEOUT_S",
    "iter_video_frames",
    "read_raw_frames",
    "encoder_command",
    "VideoEncoder",
    "encode_video",
    "AAC_FRAME_SAMPLES",
    "encode_aac",
]


class MediaError(RuntimeError):
    """ffmpeg failed or a media file is unreadable; the message names the file."""


def format_rate(fps) -> str:
    """A frame rate as ffmpeg wants it: a Fraction as "num/den" (29.97 fps is exactly 30000/1001), else as is."""
    if isinstance(fps, Fraction):
        return f"{fps.numerator}/{fps.denominator}"
    return str(fps)


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the static ffmpeg from the imageio-ffmpeg wheel."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# Global options of every command: no banner, no reading of the terminal, errors only on stderr.
_QUIET = ("-hide_banner", "-nostdin", "-loglevel", "error")


def ffmpeg_command(stream, *, overwrite: bool = False) -> list[str]:
    """The argv running an ffmpeg-python output `stream` (`ffmpeg.input(...)...output(...)`) with this module's
    ffmpeg, quiet; `overwrite` adds `-y`."""
    return stream.compile(cmd=[ffmpeg_exe(), *_QUIET], overwrite_output=overwrite)


@dataclass(frozen=True)
class MediaInfo:
    """What the container says about a media file's first video stream and first audio stream (read with PyAV).

    `fps` is the video's average frame rate (frames over the stream's duration: 29.97002997 for NTSC, lower when
    frames are missing), NaN when the container gives none. `duration_s` is the container's duration (the longest
    stream), `start_s` the presentation time of the first video frame (0.0 for most files; NaN when the container
    does not say). Without an audio stream the three audio fields are None; `audio_stream` describes it in short
    ("aac 16000 Hz stereo"), `audio_rate_hz` is its sample rate and `audio_channels` its channel count.
    """

    width_px: int
    height_px: int
    fps: float
    duration_s: float
    start_s: float
    audio_stream: str | None
    audio_rate_hz: int | None
    audio_channels: int | None


# Seconds PyAV may wait for the opening of a file and for each read from it before giving up.
OPEN_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 60.0


def open_video(path: str | Path) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open `path` with PyAV (open and read timeouts above) and return it with its first video stream. Raises
    MediaError naming the file if it is missing, unreadable or has no video stream; the caller closes the
    container."""
    if not Path(path).is_file():
        raise MediaError(f"{path}: no such file")
    try:
        container = av.open(str(path), timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc})") from exc
    if not container.streams.video or not container.streams.video[0].codec_context.width:
        container.close()
        raise MediaError(f"{path}: not a readable video (no video stream with a picture size)")
    return container, container.streams.video[0]


def _seconds(value: int | None, time_base: Fraction) -> float:
    """A timestamp in `time_base` units in seconds; NaN when the container gives none."""
    return float("nan") if value is None else float(value * time_base)


def probe_media(path: str | Path) -> MediaInfo:
    """Size, frame rate, duration and first frame time of a video and its audio stream's rate and channels, read
    from the container's header with PyAV (nothing is decoded). Raises MediaError naming the file if it has no
    readable video stream."""
    container, video = open_video(path)
    with container:
        if container.duration is None:
            raise MediaError(f"{path}: not a readable video (no duration)")
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_stream = audio_rate_hz = audio_channels = None
        if audio is not None:
            audio_rate_hz, audio_channels = audio.codec_context.sample_rate, audio.codec_context.layout.nb_channels
            audio_stream = f"{audio.codec_context.name} {audio_rate_hz} Hz {audio.codec_context.layout.name}"
        return MediaInfo(
            width_px=video.codec_context.width,
            height_px=video.codec_context.height,
            fps=float(video.average_rate) if video.average_rate else float("nan"),
            duration_s=container.duration / av.time_base,
            start_s=_seconds(video.start_time, video.time_base),
            audio_stream=audio_stream,
            audio_rate_hz=audio_rate_hz,
            audio_channels=audio_channels,
        )


@dataclass(frozen=True)
class VideoTiming:
    """When a video's frames are shown, from its packets' presentation timestamps (seconds on the file's timeline,
    whose 0 is the audio's 0).

    `start_s` is the first frame's time and `end_s` the last frame's time plus one `frame_period_s` (see
    `frame_period_s`: the nominal period, which dropped frames do not lengthen); `gaps_s` lists each hole as
    (from_s, to_s), the times of the two consecutive frames around it, wherever they are more than 1.5 frame
    periods apart (dropped frames, variable frame rate).
    """

    start_s: float
    end_s: float
    n_frames: int
    frame_period_s: float
    gaps_s: tuple[tuple[float, float], ...]

    @property
    def longest_gap_s(self) -> float:
        """The longest hole (to_s − from_s), 0.0 without any."""
        return max((to_s - from_s for from_s, to_s in self.gaps_s), default=0.0)


# Frames further apart than this many frame periods leave a gap.
GAP_PERIODS = 1.5


def frame_period_s(path: str | Path, video) -> Fraction:
    """The nominal frame period of the PyAV video stream `video` (of the file `path`): one over FFmpeg's guess of
    its base frame rate (30000/1001 for a 29.97 fps file however many frames it lacks), else over its average rate
    (which missing frames lower). Raises MediaError naming the file if the stream has neither."""
    rate = video.guessed_rate or video.average_rate
    if not rate:
        raise MediaError(f"{path}: the video stream has no frame rate")
    return 1 / Fraction(rate)


def video_timing(path: str | Path) -> VideoTiming:
    """The VideoTiming of the first video stream of `path`, from its packets (demuxed, not decoded: seconds for a
    9-minute video). A truncated file ends where its readable packets end. Raises MediaError naming the file if
    it is unreadable, has no frames or no frame rate."""
    container, video = open_video(path)
    with container:
        period_s = float(frame_period_s(path, video))
        try:
            # B-frames come in decoding order: sorting the presentation times puts them in showing order.
            pts = sorted(packet.pts for packet in container.demux(video) if packet.pts is not None)
        except av.FFmpegError as exc:
            raise MediaError(f"{path}: unreadable video packets ({exc})") from exc
        time_base = video.time_base
    if not pts:
        raise MediaError(f"{path}: the video stream has no frames")
    times_s = [float(p * time_base) for p in pts]
    gaps_s = tuple((a, b) for a, b in itertools.pairwise(times_s) if b - a > GAP_PERIODS * period_s)
    return VideoTiming(start_s=times_s[0], end_s=times_s[-1] + period_s, n_frames=len(times_s),
                       frame_period_s=period_s, gaps_s=gaps_s)


def _collect_stderr(proc: subprocess.Popen) -> Callable[[], str]:
    """Read `proc`'s piped stderr on a thread as it comes (a process whose stderr pipe fills, 64 KiB, blocks);
    the returned function waits for its end and returns it as text."""
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)
    reader.start()

    def collected() -> str:
        reader.join()
        proc.stderr.close()
        return b"".join(chunks).decode(errors="replace")

    return collected


def rgb_frames_command(path: str | Path, video_filter: str, *, threads: int = 0, **output_options) -> list[str]:
    """The argv decoding the video of `path` (with `threads` decoder threads, 0 = ffmpeg's choice) through the
    filter chain `video_filter` to rgb24 frames on stdout, audio dropped. `output_options` are further ffmpeg
    output options, e.g. fps_mode="passthrough"."""
    stream = ffmpeg.input(str(path), threads=threads).output(
        "pipe:1", vf=video_filter, format="rawvideo", pix_fmt="rgb24", an=None, **output_options
    )
    return ffmpeg_command(stream)


# Seconds an ffmpeg decoder may go without sending frame bytes before it is taken as stuck and killed.
STALL_TIMEOUT_S = 60.0


def iter_video_frames(
    path: str | Path,
    width_px: int,
    height_px: int,
    *,
    fps: float | None = None,
    threads: int = 0,
    stall_timeout_s: float = STALL_TIMEOUT_S,
) -> Iterator[np.ndarray]:
    """Decode a video to RGB frames of width_px × height_px (scaled by ffmpeg if they differ from the source).

    With `fps`, ffmpeg resamples to that constant rate (frame k is the source frame shown at time k/fps);
    otherwise every source frame is returned. Raises MediaError naming the file if ffmpeg fails or sends nothing
    for `stall_timeout_s` (see `read_raw_frames`).
    """
    filters = []
    if fps is not None:
        filters.append(f"fps={format_rate(fps)}")
    filters.append(f"scale={width_px}:{height_px}:flags=area")
    cmd = rgb_frames_command(path, ",".join(filters), threads=threads)
    return read_raw_frames(cmd, path, width_px, height_px, stall_timeout_s=stall_timeout_s)


def read_raw_frames(cmd: list[str], path: str | Path, width_px: int, height_px: int, *,
                    stall_timeout_s: float = STALL_TIMEOUT_S) -> Iterator[np.ndarray]:
    """Run an ffmpeg command that writes rgb24 frames of width_px × height_px to stdout (e.g. one from
    `rgb_frames_command`) and yield them.

    Stopping early ends ffmpeg; a failure raises MediaError naming `path` (the input the command reads). A watchdog
    kills ffmpeg and raises MediaError when no frame bytes arrive for `stall_timeout_s` while a frame is awaited
    (the time the caller spends on a yielded frame does not count).
    """
    frame_bytes = width_px * height_px * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    stderr_text = _collect_stderr(proc)
    poller = select.poll()
    poller.register(proc.stdout, select.POLLIN)
    stalled = False
    try:
        while True:
            buf = bytearray(frame_bytes)
            view, got = memoryview(buf), 0
            while got < frame_bytes:
                # POLLHUP without POLLIN (the end) also wakes poll; only silence for the whole timeout stalls.
                if not poller.poll(stall_timeout_s * 1000):
                    stalled = True
                    proc.kill()
                    break
                n = proc.stdout.readinto(view[got:])
                if n == 0:
                    break
                got += n
            if got < frame_bytes:
                break
            yield np.frombuffer(buf, dtype=np.uint8).reshape(height_px, width_px, 3)
    finally:
        proc.stdout.close()
        code = proc.wait()
        stderr = stderr_text()
    if stalled:
        raise MediaError(f"{path}: ffmpeg sent no frame data for {stall_timeout_s:g} s (stall_timeout_s); killed")
    if code != 0:
        raise MediaError(f"{path}: ffmpeg decode failed ({stderr.strip()[-300:]})")


def encoder_command(path: str | Path, width_px: int, height_px: int, fps: float | str, *,
                    audio_wav: str | Path | None = None, preset: str = "veryfast", crf: int = 18,
                    audio_bitrate: str = "128k") -> list[str]:
    """The argv encoding rgb24 frames of width_px × height_px read from stdin at `fps` (and the WAV `audio_wav`, as
    AAC at `audio_bitrate`, cut to the shorter of the two) to an H.264 (libx264 `preset`, `crf`, yuv420p) mp4 at
    `path`, overwriting it."""
    video = ffmpeg.input("pipe:0", format="rawvideo", pix_fmt="rgb24", s=f"{width_px}x{height_px}",
                         r=format_rate(fps))
    if audio_wav is None:
        streams, audio_options = [video], {}
    else:
        streams = [video.video, ffmpeg.input(str(audio_wav), format="wav").audio]
        audio_options = {"c:a": "aac", "audio_bitrate": audio_bitrate, "shortest": None}
    stream = ffmpeg.output(*streams, str(path), format="mp4", pix_fmt="yuv420p", movflags="+faststart",
                           preset=preset, crf=crf, **{"c:v": "libx264"}, **audio_options)
    return ffmpeg_command(stream, overwrite=True)


class VideoEncoder:
    """Stream RGB frames into an H.264 mp4 through one ffmpeg process (`encoder_command`), optionally muxing a WAV
    as AAC.

    Use as a context manager; the file is complete only when the block exits without error.
    """

    def __init__(
        self,
        path: str | Path,
        width_px: int,
        height_px: int,
        fps: float | str,
        *,
        audio_wav: str | Path | None = None,
        preset: str = "veryfast",
        crf: int = 18,
        audio_bitrate: str = "128k",
    ):
        self.path = Path(path)
        self.frame_shape = (height_px, width_px, 3)
        self._proc = subprocess.Popen(
            encoder_command(self.path, width_px, height_px, fps, audio_wav=audio_wav, preset=preset, crf=crf,
                            audio_bitrate=audio_bitrate),
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._stderr_text = _collect_stderr(self._proc)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != self.frame_shape or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame {frame.shape} {frame.dtype}, expected {self.frame_shape} uint8")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            self.close()

    def close(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        code = self._proc.wait()
        stderr = self._stderr_text()
        if code != 0:
            raise MediaError(f"{self.path}: ffmpeg encode failed ({stderr.strip()[-300:]})")

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._proc.kill()
            self._proc.wait()


def encode_video(frames: Iterable[np.ndarray], path: str | Path, fps: float | str, **kwargs) -> None:
    """Encode an iterable of equally sized RGB frames to an H.264 mp4 (see VideoEncoder for options)."""
    frames = iter(frames)
    first = next(frames)
    with VideoEncoder(path, first.shape[1], first.shape[0], fps, **kwargs) as encoder:
        encoder.write(first)
        for frame in frames:
            encoder.write(frame)


# Samples per AAC-LC frame: every packet of `encode_aac` decodes to this many samples.
AAC_FRAME_SAMPLES = 1024


def encode_aac(stereo: np.ndarray, rate_hz: int, bit_rate: int) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """AAC-LC encode (FFmpeg's native encoder, fast coder) of float stereo samples (n, 2), in process with PyAV.

    Returns the stream's AudioSpecificConfig and its packets as (pts, duration, payload), pts in samples of the
    input: the encoder primes with one frame, so packet i has pts (i − 1)·1024 and, after its predecessor, decodes to
    input samples [(i − 1)·1024, i·1024). The input is zero-padded to whole frames and the encoder flushed, so the
    packets cover every input sample. The bytes depend on the samples alone: a fresh encoder, fed in fixed frames.
    Raises MediaError if the encoder breaks that pts rule.
    """
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = rate_hz, "stereo", "fltp"
    encoder.bit_rate = bit_rate
    encoder.options = {"aac_coder": "fast"}
    encoder.open()
    n_frames = -(-stereo.shape[0] // AAC_FRAME_SAMPLES)
    planar = np.zeros((2, n_frames * AAC_FRAME_SAMPLES), np.float32)
    planar[:, : stereo.shape[0]] = stereo.T
    packets: list[tuple[int, int, bytes]] = []

    def keep(encoded) -> None:
        for packet in encoded:
            expected = (len(packets) - 1) * AAC_FRAME_SAMPLES
            if packet.pts != expected:
                raise MediaError(f"AAC packet {len(packets)} has pts {packet.pts}, expected {expected}")
            packets.append((packet.pts, packet.duration, bytes(packet)))

    for start in range(0, planar.shape[1], AAC_FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start : start + AAC_FRAME_SAMPLES]),
                                           format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate_hz, start
        keep(encoder.encode(frame))
    keep(encoder.encode(None))
    return bytes(encoder.extradata), packets
