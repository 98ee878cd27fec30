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
    parse_media_info,
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
    # 60 frames at 30000/1001 fps last 2.002 s; ffmpeg prints the duration in hundredths.
    assert (info.width_px, info.height_px, info.fps, info.duration_s) == (320, 160, 29.97, 2.0)
    assert (info.audio_stream, info.audio_rate_hz, info.audio_channels) == (None, None, None)


@pytest.mark.parametrize(("name", "size_px", "fps", "channels"), [
    ("stereo_20fps", (256, 256), 20.0, 2),
    ("stereo_ntsc", (256, 144), 29.97, 2),
    ("mono_20fps", (256, 256), 20.0, 1),
])
def test_probe_of_videos_with_audio(videos, name, size_px, fps, channels):
    info = probe_media(videos[name])
    assert (info.width_px, info.height_px) == size_px and info.fps == fps
    assert info.duration_s == 2.0  # the audio (3 s) is cut to the video's length
    assert (info.audio_rate_hz, info.audio_channels) == (RATE_HZ, channels)
    assert info.audio_stream.startswith("aac (LC)") and f"{RATE_HZ} Hz, {'stereo' if channels == 2 else 'mono'}, " \
        in info.audio_stream


def test_a_file_without_video_or_no_file_is_refused_naming_it(videos, tmp_path):
    with pytest.raises(MediaError, match="not a readable video") as raised:
        probe_media(videos["stereo"])
    assert str(videos["stereo"]) in str(raised.value)
    with pytest.raises(MediaError, match="no such file"):
        probe_media(tmp_path / "missing.mp4")


HEADER = "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n  Duration: 01:02:03.45, start: 0.000000, bitrate: 5 kb/s\n"


def test_parsed_values_where_ffmpeg_prints_unusual_streams():
    # No average frame rate ("fps"), only tbr: the rate is NaN, which the pipeline's checks refuse.
    info = parse_media_info(HEADER + "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, "
                                     "3840x1920, 90k tbr, 90k tbn (default)\n"
                                     "  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, 5.1, "
                                     "fltp, 384 kb/s (default)\n")
    assert (info.width_px, info.height_px, info.duration_s) == (3840, 1920, 3723.45)
    assert np.isnan(info.fps)
    # A layout named otherwise than by its channel count: an audio stream whose count is not known here.
    assert (info.audio_rate_hz, info.audio_channels) == (48000, None) and ", 5.1, " in info.audio_stream
    for layout, channels in (("2 channels", 2), ("12 channels", 12), ("stereo", 2), ("mono", 1)):
        info = parse_media_info(HEADER + "  Stream #0:0: Video: h264, yuv420p, 256x144, 25 fps, 25 tbr\n"
                                         f"  Stream #0:1: Audio: pcm_s16le, 16000 Hz, {layout}, s16\n")
        assert (info.fps, info.audio_channels) == (25.0, channels)
    assert parse_media_info(HEADER + "  Stream #0:0: Audio: pcm_s16le, 16000 Hz, stereo, s16\n") is None
    assert parse_media_info("  Stream #0:0: Video: h264, yuv420p, 256x144, 25 fps\n") is None


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
