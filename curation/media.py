"""Video and audio I/O through the ffmpeg executable shipped by the `imageio-ffmpeg` wheel (no system ffmpeg).

Command lines are built with ffmpeg-python (`import ffmpeg`) and run by `subprocess` here. Frames are uint8 RGB
arrays (H, W, 3). Input formats are always named explicitly (`-f rawvideo`, `-f wav`): ffmpeg's prober has mistaken
valid float WAVs for MPEG-TS on this build.
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

import ffmpeg
import numpy as np

__all__ = [
    "MediaError",
    "ffmpeg_exe",
    "format_rate",
    "ffmpeg_command",
    "MediaInfo",
    "parse_media_info",
    "probe_media",
    "rgb_frames_command",
    "iter_video_frames",
    "read_raw_frames",
    "encoder_command",
    "VideoEncoder",
    "encode_video",
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
    """What `ffmpeg -i` reports about a media file's first video stream and first audio stream.

    `fps` is the video's average frame rate as ffmpeg prints it ("29.97 fps" is 29.97), NaN when ffmpeg prints
    none. Without an audio stream the three audio fields are None; `audio_stream` is ffmpeg's description of it
    ("aac (LC) (mp4a / 0x6134706D), 16000 Hz, stereo, fltp, 87 kb/s (default)"), `audio_rate_hz` its sample rate
    and `audio_channels` its channel count when the layout gives one by name ("mono" 1, "stereo" 2,
    "N channels" N), else None.
    """

    width_px: int
    height_px: int
    fps: float
    duration_s: float
    audio_stream: str | None
    audio_rate_hz: int | None
    audio_channels: int | None


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (.*)")
_AUDIO_RATE = re.compile(r"\b(\d+) Hz\b")
_AUDIO_LAYOUT = re.compile(r"\b(mono|stereo|\d+ channels)\b")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2}


def parse_media_info(text: str) -> MediaInfo | None:
    """A MediaInfo from the text `ffmpeg -i FILE` writes to stderr; None if it shows no video stream with a size
    or no duration."""
    video = _VIDEO.search(text)
    duration = _DURATION.search(text)
    if video is None or duration is None:
        return None
    video_line = text[video.start() : text.find("\n", video.start())]
    fps_match = _FPS.search(video_line)
    hours, minutes, seconds = duration.groups()
    audio = _AUDIO.search(text)
    audio_stream = audio.group(1).strip() if audio else None
    rate = _AUDIO_RATE.search(audio_stream) if audio_stream else None
    layout = _AUDIO_LAYOUT.search(audio_stream) if audio_stream else None
    channels = None
    if layout is not None:
        channels = _LAYOUT_CHANNELS.get(layout.group(1)) or int(layout.group(1).split()[0])
    return MediaInfo(
        width_px=int(video.group(1)),
        height_px=int(video.group(2)),
        fps=float(fps_match.group(1)) if fps_match else float("nan"),
        duration_s=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        audio_stream=audio_stream,
        audio_rate_hz=int(rate.group(1)) if rate else None,
        audio_channels=channels,
    )


def probe_media(path: str | Path) -> MediaInfo:
    """Size, frame rate and duration of a video and its audio stream's rate and channels, parsed from `ffmpeg -i`
    (this build has no ffprobe). Raises MediaError naming the file if it has no readable video stream.

    The argv is written out: ffmpeg-python builds only commands with an output, and this one has none.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
    )
    text = result.stderr
    info = parse_media_info(text)
    if info is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise MediaError(f"{path}: not a readable video ({last})")
    return info


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


def iter_video_frames(
    path: str | Path,
    width_px: int,
    height_px: int,
    *,
    fps: float | None = None,
    threads: int = 0,
) -> Iterator[np.ndarray]:
    """Decode a video to RGB frames of width_px × height_px (scaled by ffmpeg if they differ from the source).

    With `fps`, ffmpeg resamples to that constant rate (frame k is the source frame shown at time k/fps);
    otherwise every source frame is returned. Raises MediaError naming the file if ffmpeg fails.
    """
    filters = []
    if fps is not None:
        filters.append(f"fps={format_rate(fps)}")
    filters.append(f"scale={width_px}:{height_px}:flags=area")
    cmd = rgb_frames_command(path, ",".join(filters), threads=threads)
    return read_raw_frames(cmd, path, width_px, height_px)


def read_raw_frames(cmd: list[str], path: str | Path, width_px: int, height_px: int) -> Iterator[np.ndarray]:
    """Run an ffmpeg command that writes rgb24 frames of width_px × height_px to stdout (e.g. one from
    `rgb_frames_command`) and yield them.

    Stopping early ends ffmpeg; a failure raises MediaError naming `path` (the input the command reads).
    """
    frame_bytes = width_px * height_px * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes)
    stderr_text = _collect_stderr(proc)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield np.frombuffer(buf, dtype=np.uint8).reshape(height_px, width_px, 3)
    finally:
        proc.stdout.close()
        code = proc.wait()
        stderr = stderr_text()
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
