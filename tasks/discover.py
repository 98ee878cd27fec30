"""Discover recordings under a source folder and check each one's files before any curation work."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.discover import SourceRecording, list_source_files, pair_source_files
from curation.media import MediaError, probe_media
from curation.render import grid_rate_hz
from curation.splits import assign_split
from data_contracts.annotations import AnnotationRow, read_annotations
from data_contracts.errors import ContractError
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import Recipe
from data_contracts.timebase import LABEL_FRAME_S, whole_label_frames
from tasks._run_context import run_logger

FOA_CHANNELS = 4
FOA_RATE_HZ = 24000
# Below one 24-bit step: nothing was recorded.
SILENCE_PEAK = 2.0**-23


@dataclass(frozen=True)
class LoadedRecording:
    """A recording whose files passed every check, with what later stages need."""

    row: RecordingRow
    annotations: tuple[AnnotationRow, ...]
    video_size_px: tuple[int, int]


@dataclass(frozen=True)
class Discovery:
    """`discover`'s result: the recordings to inspect (with their split), and the refused ones as recordings rows
    (status "rejected") and rejects rows."""

    accepted: list[tuple[SourceRecording, str]]
    rejected_rows: list[RecordingRow]
    rejects: list[RejectRow]


@dataclass(frozen=True)
class Inspection:
    """`inspect_recording`'s result: the recording's row (status "ok" or "rejected"); when it passed, `loaded` is
    set and `reject` None, otherwise `loaded` is None and `reject` says why."""

    loaded: LoadedRecording | None
    row: RecordingRow
    reject: RejectRow | None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _audio_peak(path: Path, rate_hz: int) -> float:
    """Absolute peak of a wav, read in 10 s blocks so a 9-minute recording never sits in memory whole."""
    peak = 0.0
    for block in sf.blocks(str(path), blocksize=10 * rate_hz, dtype="float32", always_2d=True):
        if block.size:
            peak = max(peak, float(np.abs(block).max()))
    return peak


def _recording_row(source: SourceRecording, split, recipe: Recipe, **values) -> RecordingRow:
    fields = dict(
        recording_id=source.recording_id, source_folder=source.source_folder, split=split,
        audio_path=source.audio_path, video_path=source.video_path, metadata_path=source.metadata_path,
        duration_s=None, status="ok", reason=None, audio_sha256=None, video_sha256=None, metadata_sha256=None,
        recipe_hash=recipe.recipe_hash,
    )
    fields.update(values)
    return RecordingRow(**fields)


@task(name="discover", cache_policy=NO_CACHE)
def discover(source_dir: str, recipe: Recipe) -> Discovery:
    """Pair the files under source_dir into recordings; refused ones become recordings and rejects rows."""
    logger = run_logger(__name__)
    root = Path(source_dir)
    sources, problems = pair_source_files(list_source_files(root))
    rejected_rows, rejects = [], []
    for problem in problems:
        source = SourceRecording(problem.recording_id, problem.source_folder, None, None, None)
        rejected_rows.append(_recording_row(source, assign_split(problem.source_folder, recipe.split_rules_dict()), recipe,
                                            status="rejected", reason=problem.reason))
        rejects.append(RejectRow("discover", problem.recording_id, None, problem.reason, problem.detail,
                                 recipe.recipe_hash))
    accepted = []
    for source in sources:
        split = assign_split(source.source_folder, recipe.split_rules_dict())
        if split is None:
            detail = f"source folder {source.source_folder!r} matches no split rule {recipe.split_rules_dict()}"
            rejected_rows.append(_recording_row(source, None, recipe, status="rejected", reason="no_split_rule"))
            rejects.append(RejectRow("discover", source.recording_id, None, "no_split_rule", detail, recipe.recipe_hash))
            continue
        accepted.append((source, split))
    logger.info("%s: %d recordings found, %d with all files, %d refused", root, len(sources) + len(problems),
                len(accepted), len(rejected_rows))
    return Discovery(accepted, rejected_rows, rejects)


def _reject(source, split, recipe, reason, detail, **values) -> Inspection:
    row = _recording_row(source, split, recipe, status="rejected", reason=reason, **values)
    return Inspection(None, row, RejectRow("inspect", source.recording_id, None, reason, detail, recipe.recipe_hash))


@task(name="inspect-recording", task_run_name="inspect-{source.recording_id}", cache_policy=NO_CACHE)
def inspect_recording(source: SourceRecording, split: str, source_dir: str, recipe: Recipe) -> Inspection:
    """Check one recording's audio, video and annotations agree and are usable."""
    logger = run_logger(__name__)
    root = Path(source_dir)
    audio, video, metadata = root / source.audio_path, root / source.video_path, root / source.metadata_path
    digests = dict(audio_sha256=sha256_file(audio), video_sha256=sha256_file(video),
                   metadata_sha256=sha256_file(metadata))
    try:
        info = sf.info(str(audio))
    except RuntimeError as exc:
        return _reject(source, split, recipe, "bad_audio", f"{audio}: unreadable audio ({exc})", **digests)
    if info.channels != FOA_CHANNELS:
        return _reject(source, split, recipe, "bad_audio_channels",
                       f"{audio}: {info.channels} channels, FOA needs {FOA_CHANNELS} (W, Y, Z, X)", **digests)
    duration_s = info.frames / info.samplerate
    if info.frames == 0:
        return _reject(source, split, recipe, "empty_audio", f"{audio}: no samples", **digests)
    try:
        peak = _audio_peak(audio, info.samplerate)
    except RuntimeError as exc:
        return _reject(source, split, recipe, "bad_audio", f"{audio}: unreadable audio data ({exc})", **digests)
    if peak < SILENCE_PEAK:
        return _reject(source, split, recipe, "silent_audio", f"{audio}: silent (peak {peak:.2e} < {SILENCE_PEAK:g})",
                       duration_s=duration_s, **digests)
    if info.samplerate != FOA_RATE_HZ:
        # The audio chain resamples any rate to the recipe's audio_rate, so another rate is accepted, not refused.
        logger.warning("%s: %d Hz, not the STARSS %d Hz; it will be resampled", audio, info.samplerate, FOA_RATE_HZ)
    try:
        video_info = probe_media(video)
    except MediaError as exc:
        return _reject(source, split, recipe, "bad_video", str(exc), duration_s=duration_s, **digests)
    if video_info.width_px != 2 * video_info.height_px:
        return _reject(source, split, recipe, "not_equirectangular",
                       f"{video}: {video_info.width_px}x{video_info.height_px} is not 2:1 equirectangular",
                       duration_s=duration_s, **digests)
    grid_hz = float(grid_rate_hz(recipe))
    if not video_info.fps >= grid_hz:
        return _reject(source, split, recipe, "video_fps_too_low",
                       f"{video}: {video_info.fps} fps, the recipe samples frames at {grid_hz:g} Hz",
                       duration_s=duration_s, **digests)
    if abs(video_info.duration_s - duration_s) > LABEL_FRAME_S:
        return _reject(source, split, recipe, "duration_mismatch",
                       f"{video}: video {video_info.duration_s:.3f} s vs audio {duration_s:.3f} s "
                       f"differ by more than one label frame ({LABEL_FRAME_S} s)", duration_s=duration_s, **digests)
    n_label_frames = whole_label_frames(duration_s)
    try:
        annotations = read_annotations(metadata, max_frame=n_label_frames - 1)
    except ContractError as exc:
        return _reject(source, split, recipe, exc.reason, str(exc), duration_s=duration_s, **digests)
    row = _recording_row(source, split, recipe, duration_s=round(duration_s, 6), **digests)
    logger.info("%s: %.1f s, %dx%d video, %d annotation rows", source.recording_id, duration_s,
                video_info.width_px, video_info.height_px, len(annotations))
    loaded = LoadedRecording(row, tuple(annotations), (video_info.width_px, video_info.height_px))
    return Inspection(loaded, row, None)
