"""Each view's AAC is encoded once and every clip's track is cut from it: the cut must decode (with FFmpeg, which
applies the MP4 edit list) to exactly the clip's samples, match them, and not depend on which other clips were cut."""

import numpy as np
import pytest

from curation.metric.evaluate import read_stereo
from curation.foa import stereo_weights
from curation.render import AacCut, ViewAacStream, _encode_clip, to_i420

RATE_HZ = 16000
N_SAMPLES = 80000  # a 5 s clip


def tones_foa(seconds: float = 20.0) -> np.ndarray:
    """Four FOA channels of tones with slow level changes: every 100 ms looks different."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    rng = np.random.default_rng(0)
    channels = [0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * (1 + 0.6 * np.sin(2 * np.pi * m * t))
                for f, m in ((440, 0.7), (660, 1.3), (250, 0.4), (880, 2.1))]
    return np.stack(channels, axis=1).astype(np.float32)


def write_clip(tmp_path, name: str, cut: AacCut) -> np.ndarray:
    """Mux the cut beside 4 black frames and decode its audio back with the ffmpeg executable."""
    path = tmp_path / f"{name}.mp4"
    _encode_clip(path, [to_i420(np.zeros((64, 64, 3), np.uint8))] * 4, cut, fps=4)
    return read_stereo(path, RATE_HZ)


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((decoded - reference) ** 2)))


# 250_000: the clip runs 0.6 s past the end of the audio, which reads as silence.
@pytest.mark.parametrize("first_sample", [0, 1, 1023, 1024, 8000, 57_123, 240_000, 250_000])
def test_a_cut_decodes_to_exactly_the_clip_samples(tmp_path, first_sample):
    foa = tones_foa()
    weights = stereo_weights(30.0, 0.0).astype(np.float32)
    stream = ViewAacStream(foa, weights, RATE_HZ)
    decoded = write_clip(tmp_path, "clip", stream.cut(first_sample, N_SAMPLES))
    assert decoded.shape == (N_SAMPLES, 2)
    reference = foa[first_sample : first_sample + N_SAMPLES] @ weights
    reference = np.concatenate([reference, np.zeros((N_SAMPLES - len(reference), 2), np.float32)])
    # AAC at 96 kb/s is lossy; a sample of offset would cost far more than this (a 1-sample shift of 880 Hz
    # at 16 kHz alone leaves an error 10 dB below the signal).
    assert snr_db(reference, decoded) > 30.0
    shifted = np.roll(decoded, 1, axis=0)
    assert snr_db(reference, shifted) < 20.0


def test_a_clip_cut_is_the_same_bytes_whatever_else_was_cut():
    foa = tones_foa()
    weights = stereo_weights(-70.0, 0.0).astype(np.float32)
    everything = ViewAacStream(foa, weights, RATE_HZ)
    cuts = [everything.cut(start, N_SAMPLES) for start in range(0, 8 * 8000 + 1, 8000)]
    alone = ViewAacStream(foa, weights, RATE_HZ).cut(6 * 8000, N_SAMPLES)
    assert alone == cuts[6]
    # Neighbouring clips share their overlapping packets verbatim: one encode serves both.
    offset = 6 * 8000 // 1024 - 5 * 8000 // 1024
    overlap = len(cuts[5].packets) - offset - 1  # the last packet of a cut may be shortened
    assert overlap > 60
    assert [p[2] for p in cuts[6].packets[:overlap]] == [p[2] for p in cuts[5].packets[offset : offset + overlap]]


def test_cuts_must_come_in_start_order():
    stream = ViewAacStream(tones_foa(), stereo_weights(0.0, 0.0).astype(np.float32), RATE_HZ)
    stream.cut(16000, N_SAMPLES)
    with pytest.raises(ValueError, match="start order"):
        stream.cut(8000, N_SAMPLES)


def test_a_cut_of_a_view_stream_matches_the_view_and_not_its_mirror(tmp_path):
    foa = tones_foa()
    stream = ViewAacStream(foa, stereo_weights(90.0, 0.0).astype(np.float32), RATE_HZ)
    decoded = write_clip(tmp_path, "view", stream.cut(32000, N_SAMPLES))
    here = foa[32000 : 32000 + N_SAMPLES] @ stereo_weights(90.0, 0.0)
    mirror = foa[32000 : 32000 + N_SAMPLES] @ stereo_weights(-90.0, 0.0)
    assert snr_db(here, decoded) > 30.0 > snr_db(mirror, decoded)
