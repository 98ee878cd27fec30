"""Video and audio I/O through the ffmpeg executable shipped by the `imageio-ffmpeg` wheel (no system ffmpeg).

Frames are uint8 RGB arrays (H, W, 3). Input formats are always named explicitly (`-f rawvideo`, `-f wav`):
ffmpeg's prober has mistaken valid float WAVs for MPEG-TS on this build.
"""

from __future__ import annotations

import re
import subprocess
from fractions import Fraction
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

__all__ = [
    "MediaError",
    "ffmpeg_exe",
    "format_rate",
    "VideoInfo",
    "probe_video",
    "iter_video_frames",
    "read_raw_frames",
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


@dataclass(frozen=True)
class VideoInfo:
    """What `ffmpeg -i` reports about a file's first video stream."""

    width_px: int
    height_px: int
    fps: float
    duration_s: float
    has_audio: bool


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")


def probe_video(path: str | Path) -> VideoInfo:
    """Size, frame rate and duration of a video, parsed from `ffmpeg -i` (this build has no ffprobe)."""
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
    video = _VIDEO.search(text)
    duration = _DURATION.search(text)
    if video is None or duration is None:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise MediaError(f"{path}: not a readable video ({last})")
    video_line = text[video.start() : text.find("\n", video.start())]
    fps_match = _FPS.search(video_line)
    hours, minutes, seconds = duration.groups()
    return VideoInfo(
        width_px=int(video.group(1)),
        height_px=int(video.group(2)),
        fps=float(fps_match.group(1)) if fps_match else float("nan"),
        duration_s=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        has_audio=bool(re.search(r"Stream #\S+.*?: Audio:", text)),
    )


def iter_video_frames(
    path: str | Path,
    width_px: int,
    height_px: int,
    *,
    fps: float | None = None,
    start_s: float | None = None,
    threads: int = 0,
) -> Iterator[np.ndarray]:
    """Decode a video to RGB frames of width_px × height_px (scaled by ffmpeg if they differ from the source).

    With `fps`, ffmpeg resamples to that constant rate (frame k is the source frame shown at time k/fps);
    otherwise every source frame is returned. Raises MediaError naming the file if ffmpeg fails.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", str(threads)]
    if start_s:
        cmd += ["-ss", f"{start_s:.6f}"]
    cmd += ["-i", str(path)]
    filters = []
    if fps is not None:
        filters.append(f"fps={format_rate(fps)}")
    filters.append(f"scale={width_px}:{height_px}:flags=area")
    cmd += ["-vf", ",".join(filters), "-f", "rawvideo", "-pix_fmt", "rgb24", "-an", "pipe:1"]
    return read_raw_frames(cmd, path, width_px, height_px)


def read_raw_frames(cmd: list[str], path: str | Path, width_px: int, height_px: int) -> Iterator[np.ndarray]:
    """Run an ffmpeg command that writes rgb24 frames of width_px × height_px to stdout and yield them.

    Stopping early ends ffmpeg; a failure raises MediaError naming `path` (the input the command reads).
    """
    frame_bytes = width_px * height_px * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes)
    try:
        while True:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            yield np.frombuffer(buf, dtype=np.uint8).reshape(height_px, width_px, 3)
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise MediaError(f"{path}: ffmpeg decode failed ({stderr.strip()[-300:]})")


class VideoEncoder:
    """Stream RGB frames into an H.264 mp4 through one ffmpeg process, optionally muxing a WAV as AAC.

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
        gop: int | None = None,
    ):
        self.path = Path(path)
        self.frame_shape = (height_px, width_px, 3)
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width_px}x{height_px}", "-r", format_rate(fps), "-i", "pipe:0",
        ]
        if audio_wav is not None:
            cmd += ["-f", "wav", "-i", str(audio_wav)]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if gop is not None:
            cmd += ["-g", str(gop)]
        if audio_wav is not None:
            cmd += ["-c:a", "aac", "-b:a", audio_bitrate, "-shortest"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(self.path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

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
        stderr = self._proc.stderr.read().decode(errors="replace")
        self._proc.stderr.close()
        if self._proc.wait() != 0:
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
