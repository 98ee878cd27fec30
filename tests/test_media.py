"""`curation.media`: the probe of media files (video size, frame rate, duration, audio rate and channels) on files
encoded here, the ffmpeg command lines built with ffmpeg-python, and decoding through them."""

import subprocess
import threading
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from curation.media import (
    MediaError,
    encode_video,
    encoder_command,
    ffmpeg_exe,
    iter_video_frames,
    probe_media,
    read_raw_frames,
    rgb_frames_command,
)

QUIET = ["-hide_banner", "-nostdin", "-loglevel", "error"]
RATE_HZ = 16000


def moving_frames(n_frames: int, width_px: int, height_px: int) -> list[np.ndarray]:
    """Frames with a bright bar moving right one column per frame, so that every frame differs."""
    frames = []
    for index in range(n_frames):
        frame = np.full((height_px, width_px, 3), 40, np.uint8)
        frame[:, index % width_px] = (250, 120, 10)
        frames.append(frame)
    return frames


def write_wav(path, channels: int, duration_s: float):
    rng = np.random.default_rng(7)
    sf.write(path, 0.1 * rng.standard_normal((int(duration_s * RATE_HZ), channels)), RATE_HZ, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    stereo, mono = write_wav(root / "stereo.wav", 2, 3.0), write_wav(root / "mono.wav", 1, 3.0)
    encode_video(moving_frames(60, 320, 160), root / "ntsc.mp4", Fraction(30000, 1001))
    encode_video(moving_frames(40, 256, 256), root / "stereo_20fps.mp4", 20, audio_wav=stereo)
    encode_video(moving_frames(60, 256, 144), root / "stereo_ntsc.mp4", Fraction(30000, 1001), audio_wav=stereo,
                 audio_bitrate="96k")
    encode_video(moving_frames(40, 256, 256), root / "mono_20fps.mp4", Fraction(20), audio_wav=mono)
    return {path.stem: path for path in root.iterdir()}


def test_probe_of_a_29_97_fps_video_without_audio(videos):
    info = probe_media(videos["ntsc"])
    # 60 frames at 30000/1001 fps last 2.002 s.
    assert (info.width_px, info.height_px, info.fps) == (320, 160, 30000 / 1001)
    assert (info.duration_s, info.start_s) == (pytest.approx(2.002), 0.0)
    assert (info.audio_stream, info.audio_rate_hz, info.audio_channels) == (None, None, None)


@pytest.mark.parametrize(("name", "size_px", "fps", "channels"), [
    ("stereo_20fps", (256, 256), 20.0, 2),
    ("stereo_ntsc", (256, 144), 30000 / 1001, 2),
    ("mono_20fps", (256, 256), 20.0, 1),
])
def test_probe_of_videos_with_audio(videos, name, size_px, fps, channels):
    info = probe_media(videos[name])
    assert (info.width_px, info.height_px) == size_px and info.fps == fps and info.start_s == 0.0
    # The audio (3 s) is cut to the video's length; its last AAC frame (64 ms at 16 kHz) may run past it.
    assert info.duration_s == pytest.approx(2.0, abs=0.07)
    assert (info.audio_rate_hz, info.audio_channels) == (RATE_HZ, channels)
    assert info.audio_stream == f"aac {RATE_HZ} Hz {'stereo' if channels == 2 else 'mono'}"


def test_probe_of_a_pcm_audio_stream(tmp_path):
    path = tmp_path / "pcm.mkv"
    stereo = write_wav(tmp_path / "stereo.wav", 2, 1.0)
    subprocess.run([ffmpeg_exe(), *QUIET, "-f", "lavfi", "-i", "color=size=64x32:rate=10:duration=1", "-f", "wav",
                    "-i", str(stereo), "-c:v", "libx264", "-c:a", "pcm_s16le", str(path)], check=True)
    info = probe_media(path)
    assert (info.width_px, info.height_px, info.fps) == (64, 32, 10.0)
    # A WAV without a channel mask has an unnamed layout: the count is still known.
    assert (info.audio_stream, info.audio_rate_hz, info.audio_channels) == ("pcm_s16le 16000 Hz 2 channels", RATE_HZ,
                                                                           2)


def test_a_file_without_video_or_no_file_is_refused_naming_it(videos, tmp_path):
    with pytest.raises(MediaError, match="not a readable video") as raised:
        probe_media(videos["stereo"])
    assert str(videos["stereo"]) in str(raised.value)
    with pytest.raises(MediaError, match="no such file") as raised:
        probe_media(tmp_path / "missing.mp4")
    assert str(tmp_path / "missing.mp4") in str(raised.value)


def test_decoder_command_line():
    assert rgb_frames_command("in.mp4", "fps=4,scale=256:256:flags=area") == [
        ffmpeg_exe(), *QUIET, "-threads", "0", "-i", "in.mp4",
        "-f", "rawvideo", "-an", "-pix_fmt", "rgb24", "-vf", "fps=4,scale=256:256:flags=area", "pipe:1",
    ]
    assert rgb_frames_command("in.mp4", "select='eq(n\\,0)'", threads=1, fps_mode="passthrough") == [
        ffmpeg_exe(), *QUIET, "-threads", "1", "-i", "in.mp4",
        "-f", "rawvideo", "-an", "-fps_mode", "passthrough", "-pix_fmt", "rgb24", "-vf", "select='eq(n\\,0)'",
        "pipe:1",
    ]


def test_encoder_command_lines():
    assert encoder_command("out.mp4", 320, 160, Fraction(30000, 1001)) == [
        ffmpeg_exe(), *QUIET, "-f", "rawvideo", "-pix_fmt", "rgb24", "-r", "30000/1001", "-s", "320x160",
        "-i", "pipe:0", "-f", "mp4", "-c:v", "libx264", "-crf", "18", "-movflags", "+faststart",
        "-pix_fmt", "yuv420p", "-preset", "veryfast", "out.mp4", "-y",
    ]
    assert encoder_command("out.mp4", 256, 256, 20, audio_wav="a.wav", audio_bitrate="96k", crf=23) == [
        ffmpeg_exe(), *QUIET, "-f", "rawvideo", "-pix_fmt", "rgb24", "-r", "20", "-s", "256x256", "-i", "pipe:0",
        "-f", "wav", "-i", "a.wav", "-map", "0:v", "-map", "1:a", "-f", "mp4", "-b:a", "96k", "-c:a", "aac",
        "-c:v", "libx264", "-crf", "23", "-movflags", "+faststart", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        "-shortest", "out.mp4", "-y",
    ]


@pytest.mark.parametrize("fps", [None, 4, Fraction(10)])
def test_decoding_gives_the_bytes_of_the_written_out_command(videos, fps):
    path = videos["stereo_ntsc"]
    video_filter = ("" if fps is None else f"fps={fps},") + "scale=128:72:flags=area"
    written_out = subprocess.run([ffmpeg_exe(), *QUIET, "-threads", "0", "-i", str(path), "-vf", video_filter,
                                  "-f", "rawvideo", "-pix_fmt", "rgb24", "-an", "pipe:1"], capture_output=True,
                                 check=True).stdout
    decoded = b"".join(frame.tobytes() for frame in iter_video_frames(path, 128, 72, fps=fps))
    assert decoded == written_out and len(decoded) == 72 * 128 * 3 * {None: 60, 4: 8, Fraction(10): 20}[fps]


def test_encoded_frames_decode_back(videos):
    frames = list(iter_video_frames(videos["stereo_20fps"], 256, 256))
    assert len(frames) == 40
    # H.264 at crf 18 is near-lossless on flat colours: the bar is where it was drawn.
    assert [int(np.argmax(frame[128, :, 0])) for frame in frames[:5]] == [0, 1, 2, 3, 4]


def test_a_decoder_logging_more_than_a_pipe_holds_does_not_block(tmp_path):
    # showinfo logs a line per frame: 400 frames log ~150 KiB, more than the 64 KiB a pipe holds.
    path = tmp_path / "long.mp4"
    encode_video(moving_frames(400, 64, 32), path, 20, preset="ultrafast")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(path), "-vf", "showinfo",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    counted = []
    reader = threading.Thread(target=lambda: counted.append(sum(1 for _ in read_raw_frames(cmd, path, 64, 32))),
                              daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive() and counted == [400]


def test_a_failed_decode_names_the_file(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="ffmpeg decode failed") as raised:
        list(iter_video_frames(path, 64, 32))
    assert str(path) in str(raised.value)
