"""A view's AAC is encoded in recording-aligned chunks, only where clips need it, and every clip's track is cut from
them: the cut must decode (with FFmpeg, which applies the MP4 edit list) to exactly the clip's samples, match them,
pass from one chunk to the next without an audible seam, and not depend on which other clips were rendered."""

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from curation.foa import stereo_weights
from curation.media import AAC_FRAME_SAMPLES
from curation.metric.evaluate import read_stereo
from curation.plan import plan_recording
from curation.render import (
    AacCut,
    _encode_clip,
    aac_chunk_samples,
    aac_chunks_of_clip,
    aac_cut,
    aac_packet_pts,
    encode_aac_chunk,
    render_recording,
    to_i420,
)
from data_contracts.annotations import AnnotationRow
from data_contracts.recipe import load_recipe
from tests.test_media_timing import HEIGHT_PX, WIDTH_PX, write_indexed_video

RATE_HZ = 16000
N_SAMPLES = 80000  # a 5 s clip
CHUNK = aac_chunk_samples()


def tones_foa(seconds: float = 20.0) -> np.ndarray:
    """Four FOA channels of tones with slow level changes: every 100 ms looks different."""
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    rng = np.random.default_rng(0)
    channels = [0.2 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * (1 + 0.6 * np.sin(2 * np.pi * m * t))
                for f, m in ((440, 0.7), (660, 1.3), (250, 0.4), (880, 2.1))]
    return np.stack(channels, axis=1).astype(np.float32)


def clip_cut(foa: np.ndarray, weights: np.ndarray, first_sample: int) -> AacCut:
    """The clip's AAC from freshly encoded chunks: exactly those it needs."""
    chunks = {index: encode_aac_chunk(foa, weights, RATE_HZ, index)
              for index in aac_chunks_of_clip(first_sample, N_SAMPLES)}
    return aac_cut(chunks, first_sample, N_SAMPLES, RATE_HZ)


def write_clip(tmp_path, name: str, cut: AacCut) -> np.ndarray:
    """Mux the cut beside 4 black frames and decode its audio back with the ffmpeg executable."""
    path = tmp_path / f"{name}.mp4"
    _encode_clip(path, [to_i420(np.zeros((64, 64, 3), np.uint8))] * 4, cut, fps=4)
    return read_stereo(path, RATE_HZ)


def snr_db(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((decoded - reference) ** 2)))


# Chunk starts (CHUNK, 2·CHUNK) and the samples around them; 250_000: the clip runs 0.6 s past the end of the
# audio, which reads as silence.
@pytest.mark.parametrize("first_sample", [0, 1, 1023, 1024, CHUNK - 1, CHUNK, 2 * CHUNK - 1024, 57_123, 240_000,
                                          250_000])
def test_a_cut_decodes_to_exactly_the_clip_samples(tmp_path, first_sample):
    foa = tones_foa()
    weights = stereo_weights(30.0, 0.0).astype(np.float32)
    decoded = write_clip(tmp_path, "clip", clip_cut(foa, weights, first_sample))
    assert decoded.shape == (N_SAMPLES, 2)
    reference = foa[first_sample : first_sample + N_SAMPLES] @ weights
    reference = np.concatenate([reference, np.zeros((N_SAMPLES - len(reference), 2), np.float32)])
    # AAC at 96 kb/s is lossy; a sample of offset would cost far more than this (a 1-sample shift of 880 Hz
    # at 16 kHz alone leaves an error 10 dB below the signal).
    assert snr_db(reference, decoded) > 30.0
    shifted = np.roll(decoded, 1, axis=0)
    assert snr_db(reference, shifted) < 20.0
    # No seam where the packets pass from one chunk to the next: every 1024-sample block decodes well. (Without
    # pre-roll the block after each seam came out at ~14 dB; everywhere else, and with it, ~30–50 dB.)
    n_blocks = min(len(reference) // AAC_FRAME_SAMPLES, (250_000 + 40_000 - first_sample) // AAC_FRAME_SAMPLES)
    blocks = [slice(b * AAC_FRAME_SAMPLES, (b + 1) * AAC_FRAME_SAMPLES) for b in range(n_blocks)]
    assert min(snr_db(reference[b], decoded[b]) for b in blocks) > 25.0


def test_a_clip_cut_is_the_same_bytes_whatever_else_was_cut():
    foa = tones_foa()
    weights = stereo_weights(-70.0, 0.0).astype(np.float32)
    starts = range(0, 8 * 8000 + 1, 8000)
    # Every clip of the view from one set of chunks, encoded in reverse order.
    shared = {index: encode_aac_chunk(foa, weights, RATE_HZ, index)
              for index in sorted({i for s in starts for i in aac_chunks_of_clip(s, N_SAMPLES)}, reverse=True)}
    cuts = [aac_cut(shared, start, N_SAMPLES, RATE_HZ) for start in starts]
    for position, start in enumerate(starts):
        assert clip_cut(foa, weights, start) == cuts[position]
    # Neighbouring clips share their overlapping packets verbatim: one encode serves both.
    offset = 6 * 8000 // 1024 - 5 * 8000 // 1024
    overlap = len(cuts[5].packets) - offset - 1  # the last packet of a cut may be shortened
    assert overlap > 60
    assert [p[2] for p in cuts[6].packets[:overlap]] == [p[2] for p in cuts[5].packets[offset : offset + overlap]]


@pytest.mark.parametrize("first_sample", [0, 1023, 1024, CHUNK - 1024, CHUNK - 1, CHUNK, CHUNK + 1, 123_456])
def test_a_clip_needs_exactly_the_chunks_its_packets_come_from(first_sample):
    packets = aac_packet_pts(first_sample, N_SAMPLES)
    # One packet of pre-roll, then every packet holding a clip sample.
    assert packets[0] <= first_sample - AAC_FRAME_SAMPLES < packets[0] + AAC_FRAME_SAMPLES
    assert packets[-1] <= first_sample + N_SAMPLES - 1 < packets[-1] + AAC_FRAME_SAMPLES
    chunks = aac_chunks_of_clip(first_sample, N_SAMPLES)
    # The chunks of the first and the last sample, and nothing before: a clip starting in a chunk's first packet
    # takes its pre-roll from that chunk, not from the one before.
    assert (chunks.start, chunks.stop - 1) == (first_sample // CHUNK, (first_sample + N_SAMPLES - 1) // CHUNK)


def test_each_chunk_holds_its_pre_roll_packet_and_its_own_packets():
    foa = tones_foa(5.0)
    chunk = encode_aac_chunk(foa, stereo_weights(0.0, 0.0).astype(np.float32), RATE_HZ, 1)
    assert sorted(chunk.packets) == list(range(CHUNK - AAC_FRAME_SAMPLES, 2 * CHUNK, AAC_FRAME_SAMPLES))
    assert all(duration == AAC_FRAME_SAMPLES for duration, _ in chunk.packets.values())


def test_a_cut_of_a_view_stream_matches_the_view_and_not_its_mirror(tmp_path):
    foa = tones_foa()
    decoded = write_clip(tmp_path, "view", clip_cut(foa, stereo_weights(90.0, 0.0).astype(np.float32), 32000))
    here = foa[32000 : 32000 + N_SAMPLES] @ stereo_weights(90.0, 0.0)
    mirror = foa[32000 : 32000 + N_SAMPLES] @ stereo_weights(-90.0, 0.0)
    assert snr_db(here, decoded) > 30.0 > snr_db(mirror, decoded)


RECORDING_ID = "fold9_room1_mix002"
RECIPE = load_recipe(overrides=["view_azimuths_deg=[0, 90]", "min_onscreen_frames=10"])
DURATION_S = 9.0


def test_a_rendered_clip_is_the_same_bytes_alone_and_among_its_neighbours(tmp_path):
    """Render every clip of two views, then one clip alone and with one neighbour: its mp4, wav and csv are the same
    bytes each time (the renderer shares AAC chunks and frames between clips, never their content)."""
    rows = [AnnotationRow(frame, 0, 0, azimuth_deg, 0.0) for frame in range(int(DURATION_S * 10))
            for azimuth_deg in (0.0, 90.0)]
    plan = plan_recording(RECORDING_ID, "dev-train-synth", "generation", DURATION_S, rows, RECIPE)
    assert len(plan.clips) == 18  # starts 0, 0.5, …, 4 s at both views
    audio = tmp_path / f"{RECORDING_ID}.wav"
    t = np.arange(int(DURATION_S * 24000)) / 24000
    foa = 2e-3 * np.stack([np.sin(2 * np.pi * f * t) for f in (220, 330, 550, 770)], axis=1)
    foa += 1e-3 * np.random.default_rng(3).standard_normal(foa.shape)
    sf.write(audio, foa, 24000, subtype="FLOAT")
    video = write_indexed_video(tmp_path / "video.mp4", list(range(int(DURATION_S * 30))))

    def render(clip_ids: set[str] | None, name: str) -> dict[str, bytes]:
        clips = [c for c in plan.clips if clip_ids is None or c.clip.clip_id in clip_ids]
        out = tmp_path / name
        result = render_recording(dataclasses.replace(plan, clips=clips), audio, video, (WIDTH_PX, HEIGHT_PX), out,
                                  RECIPE, encode_workers=2)
        assert len(result.written) == len(clips), result.rejected[:1]
        return {str(path.relative_to(out)): path.read_bytes() for path in out.rglob("*") if path.is_file()}

    everything = render(None, "all")
    assert len(everything) == 3 * 18
    by_start = sorted(plan.clips, key=lambda c: (c.clip.view_azimuth_deg, c.clip.start_frame))
    target, neighbour = by_start[13], by_start[12]  # view 90°, starting 2 s and 1.5 s in: mid-chunk, mid-recording
    alone = render({target.clip.clip_id}, "alone")
    pair = render({target.clip.clip_id, neighbour.clip.clip_id}, "pair")
    assert set(alone) == {target.clip.video_path, target.clip.audio_path, target.clip.metadata_path}
    for path, data in alone.items():
        assert data == everything[path] == pair[path], path
    # Not vacuous: the neighbour's clip differs from the target's.
    assert everything[neighbour.clip.video_path] != everything[target.clip.video_path]
