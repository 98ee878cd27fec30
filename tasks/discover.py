"""Discover recordings under a source folder and check each one's files before any curation work."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.discover import SourceRecording, list_source_files, pair_source_files
from curation.media import MediaError, VideoTiming, probe_media, video_timing
from curation.render import grid_rate_hz
from curation.splits import assign_split
from data_contracts.annotations import AnnotationRow, read_annotations
from data_contracts.errors import ContractError
from data_contracts.manifests import RecordingRow, RejectRow
from data_contracts.recipe import SOURCE_FPS, Recipe
from data_contracts.timebase import label_frames_to_manifest_s, whole_label_frames
from tasks._run_context import run_logger

FOA_CHANNELS = 4
FOA_RATE_HZ = 24000
# Below one 24-bit step: nothing was recorded.
SILENCE_PEAK = 2.0**-23


@dataclass(frozen=True)
class LoadedRecording:
    """A recording whose files passed every check, with what later stages need. `video_size_px` is None when it was
    inspected from its annotations only (the video not looked at: it can be planned, not rendered)."""

    row: RecordingRow
    annotations: tuple[AnnotationRow, ...]
    video_size_px: tuple[int, int] | None


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
def discover(source_dir: str, recipe: Recipe, annotations_only: bool = False) -> Discovery:
    """Pair the files under source_dir into recordings; refused ones become recordings and rejects rows. With
    `annotations_only`, a recording needs its annotation csv alone (`pair_source_files`)."""
    logger = run_logger(__name__)
    root = Path(source_dir)
    sources, problems = pair_source_files(list_source_files(root), annotations_only=annotations_only)
    split_rules = recipe.split_rules_dict()
    rejected_rows, rejects = [], []
    for problem in problems:
        source = SourceRecording(problem.recording_id, problem.source_folder, None, None, None)
        rejected_rows.append(_recording_row(source, assign_split(problem.source_folder, split_rules), recipe,
                                            status="rejected", reason=problem.reason))
        rejects.append(RejectRow("discover", problem.recording_id, None, problem.reason, problem.detail,
                                 recipe.recipe_hash))
    accepted = []
    for source in sources:
        split = assign_split(source.source_folder, split_rules)
        if split is None:
            detail = f"source folder {source.source_folder!r} matches no split rule {split_rules}"
            rejected_rows.append(_recording_row(source, None, recipe, status="rejected", reason="no_split_rule"))
            rejects.append(RejectRow("discover", source.recording_id, None, "no_split_rule", detail,
                                     recipe.recipe_hash))
            continue
        accepted.append((source, split))
    logger.info("%s: %d recordings found, %d with %s, %d refused", root, len(sources) + len(problems),
                len(accepted), "annotations" if annotations_only else "all files", len(rejected_rows))
    return Discovery(accepted, rejected_rows, rejects)


def _reject(source, split, recipe, reason, detail, **values) -> Inspection:
    row = _recording_row(source, split, recipe, status="rejected", reason=reason, **values)
    return Inspection(None, row, RejectRow("inspect", source.recording_id, None, reason, detail, recipe.recipe_hash))


def _video_holes(timing: VideoTiming) -> tuple[tuple[float, float], ...]:
    """The (from_s, to_s) stretches of a video without a frame: before its first frame (when after t = 0), and
    between two consecutive frames."""
    leading = ((0.0, timing.start_s),) if timing.start_s > 0 else ()
    return leading + tuple(timing.gaps_s)


@task(name="inspect-recording", task_run_name="inspect-{source.recording_id}", cache_policy=NO_CACHE)
def inspect_recording(source: SourceRecording, split: str, source_dir: str, recipe: Recipe,
                      annotations_only: bool = False) -> Inspection:
    """Check one recording's audio, video and annotations agree and are usable, and fix what it is curated over.

    Audio and video (both from t = 0) whose lengths differ by at most `recipe.max_av_mismatch_s` are curated over
    their common length: the longer one is trimmed (`trimmed_s`), and annotation rows past the common length are
    dropped (`annotation_rows_dropped`). A video hole longer than `recipe.max_video_gap_s` rejects the recording;
    shorter ones are accepted. Details name files by their path relative to source_dir, so that one source curated
    from two places gives the same tables: the source root is taken off the messages of errors raised on full paths.

    With `annotations_only` the recording is only read for planning (`inspect_annotations`).
    """
    if annotations_only:
        return inspect_annotations(source, split, source_dir, recipe)
    logger = run_logger(__name__)
    root = Path(source_dir)
    audio, video, metadata = root / source.audio_path, root / source.video_path, root / source.metadata_path
    audio_rel, video_rel = source.audio_path, source.video_path
    # The row's values known so far; a rejected row carries them too.
    values = {"audio_sha256": sha256_file(audio), "video_sha256": sha256_file(video),
              "metadata_sha256": sha256_file(metadata)}

    def rejected(reason: str, detail: str) -> Inspection:
        return _reject(source, split, recipe, reason, detail.replace(f"{root}{os.sep}", ""), **values)

    try:
        info = sf.info(str(audio))
    except RuntimeError as exc:
        return rejected("bad_audio", f"{audio_rel}: unreadable audio ({exc})")
    if info.channels != FOA_CHANNELS:
        return rejected("bad_audio_channels",
                        f"{audio_rel}: {info.channels} channels, FOA needs {FOA_CHANNELS} (W, Y, Z, X)")
    if info.frames == 0:
        return rejected("empty_audio", f"{audio_rel}: no samples")
    audio_s = info.frames / info.samplerate
    try:
        peak = _audio_peak(audio, info.samplerate)
    except RuntimeError as exc:
        return rejected("bad_audio", f"{audio_rel}: unreadable audio data ({exc})")
    values.update(duration_s=round(audio_s, 6))
    if peak < SILENCE_PEAK:
        return rejected("silent_audio", f"{audio_rel}: silent (peak {peak:.2e} < {SILENCE_PEAK:g})")
    if info.samplerate != FOA_RATE_HZ:
        # The audio chain resamples any rate to the recipe's audio_rate, so another rate is accepted, not refused.
        logger.warning("%s: %d Hz, not the STARSS %d Hz; it will be resampled", audio_rel, info.samplerate,
                       FOA_RATE_HZ)

    try:
        video_info = probe_media(video)
    except MediaError as exc:
        return rejected("bad_video", str(exc))
    if video_info.width_px != 2 * video_info.height_px:
        return rejected("not_equirectangular",
                        f"{video_rel}: {video_info.width_px}x{video_info.height_px} is not 2:1 equirectangular")
    # With fps "source" the clips take the video's own rate, which any video has.
    grid_hz = 0.0 if recipe.fps == SOURCE_FPS else float(grid_rate_hz(recipe))
    if not video_info.fps >= grid_hz:
        return rejected("video_fps_too_low",
                        f"{video_rel}: {video_info.fps} fps, the recipe samples frames at {grid_hz:g} Hz")
    try:
        timing = video_timing(video)
    except MediaError as exc:
        return rejected("bad_video", str(exc))
    video_s = timing.end_s
    common_s = min(audio_s, video_s)
    values.update(duration_s=round(common_s, 6), video_start_s=round(timing.start_s, 6),
                  video_gaps=len(timing.gaps_s))

    mismatch_s = abs(audio_s - video_s)
    if mismatch_s > recipe.max_av_mismatch_s:
        return rejected("duration_mismatch",
                        f"{video_rel}: video {video_s:.3f} s vs audio {audio_s:.3f} s ({audio_rel}) differ by "
                        f"{mismatch_s:.3f} s, more than max_av_mismatch_s={recipe.max_av_mismatch_s:g} s")
    values.update(trimmed_s=round(mismatch_s, 6))
    if values["trimmed_s"] > 0:
        longer = "video" if video_s > audio_s else "audio"
        logger.warning("%s: video %.3f s, audio %.3f s: curated over the common %.3f s, %.3f s of %s trimmed",
                       source.recording_id, video_s, audio_s, common_s, mismatch_s, longer)

    holes = _video_holes(timing)
    if holes:
        from_s, to_s = max(holes, key=lambda hole: hole[1] - hole[0])
        if to_s - from_s > recipe.max_video_gap_s:
            return rejected("video_gaps",
                            f"{video_rel}: no frame from {from_s:.3f} s to {to_s:.3f} s ({to_s - from_s:.3f} s), "
                            f"longer than max_video_gap_s={recipe.max_video_gap_s:g} s")
        logger.warning("%s: %d holes without a frame, the longest %.3f s (from %.3f s); each shows the frame before "
                       "it (the first frame before the first)", video_rel, len(holes), to_s - from_s, from_s)

    try:
        all_annotations = read_annotations(metadata)
    except ContractError as exc:
        return rejected(exc.reason, str(exc))
    n_label_frames = whole_label_frames(common_s)
    annotations = tuple(row for row in all_annotations if row.frame < n_label_frames)
    dropped = len(all_annotations) - len(annotations)
    if dropped:
        logger.warning("%s: %d annotation rows at label frame %d or later (past the common %.3f s) dropped",
                       source.metadata_path, dropped, n_label_frames, common_s)
    row = _recording_row(source, split, recipe, **values, annotation_rows_dropped=dropped)
    logger.info("%s: %.1f s, %dx%d video, %d annotation rows", source.recording_id, common_s,
                video_info.width_px, video_info.height_px, len(annotations))
    loaded = LoadedRecording(row, annotations, (video_info.width_px, video_info.height_px))
    return Inspection(loaded, row, None)


def inspect_annotations(source: SourceRecording, split: str, source_dir: str, recipe: Recipe) -> Inspection:
    """`inspect_recording` for planning from annotations: the csv is read and hashed, the media only looked at for
    the duration, from headers, nothing decoded or hashed.

    The duration is the FOA wav's frames / rate when the wav exists, else the mp4's container duration when it
    exists (`probe_media`), else (last annotated frame + 1) x 0.1 s; annotation rows past it are dropped
    (`annotation_rows_dropped`), as when curating. The row keeps `audio_path` and `video_path`, the files curate
    would read (present or not: an ok recording has them), with null `audio_sha256` and `video_sha256`; the
    video-timing fields stay null and `video_size_px` None. An unreadable wav header rejects the recording as
    bad_audio (an unreadable mp4, bad_video), a wav without samples as empty_audio; a bad csv with its own reason.
    """
    logger = run_logger(__name__)
    root = Path(source_dir)
    audio, video, metadata = root / source.audio_path, root / source.video_path, root / source.metadata_path
    values: dict = {"metadata_sha256": sha256_file(metadata)}

    def rejected(reason: str, detail: str) -> Inspection:
        return _reject(source, split, recipe, reason, detail.replace(f"{root}{os.sep}", ""), **values)

    try:
        all_annotations = read_annotations(metadata)
    except ContractError as exc:
        return rejected(exc.reason, str(exc))
    if audio.is_file():
        try:
            info = sf.info(str(audio))
        except RuntimeError as exc:
            return rejected("bad_audio", f"{source.audio_path}: unreadable audio ({exc})")
        if info.frames == 0:
            return rejected("empty_audio", f"{source.audio_path}: no samples")
        duration_s, length_from = info.frames / info.samplerate, source.audio_path
    elif video.is_file():
        try:
            duration_s, length_from = probe_media(video).duration_s, source.video_path
        except MediaError as exc:
            return rejected("bad_video", str(exc))
    else:
        duration_s = label_frames_to_manifest_s(max(row.frame for row in all_annotations) + 1)
        length_from = f"{source.metadata_path} (last annotated frame + 1)"
    n_label_frames = whole_label_frames(duration_s)
    annotations = tuple(row for row in all_annotations if row.frame < n_label_frames)
    dropped = len(all_annotations) - len(annotations)
    if dropped:
        logger.warning("%s: %d annotation rows at label frame %d or later (past %s, %.3f s) dropped",
                       source.metadata_path, dropped, n_label_frames, length_from, duration_s)
    row = _recording_row(source, split, recipe, **values, duration_s=round(duration_s, 6),
                         annotation_rows_dropped=dropped)
    logger.info("%s: %.1f s (from %s), %d annotation rows", source.recording_id, duration_s, length_from,
                len(annotations))
    return Inspection(LoadedRecording(row, annotations, None), row, None)
