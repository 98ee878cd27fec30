"""Find STARSS-style recordings in a source folder and pair their audio, video and annotation files.

STARSS23 layout: `foa_dev/`, `video_dev/`, `metadata_dev/` (and `*_eval/`), each split into folders such as
`dev-train-sony`; files `fold3_room21_mix001.{wav,mp4,csv}` share a stem across the three. Files may also sit
directly in `foa_eval/` (no sub-folder): their source folder is then the set name, e.g. `eval`. Planning from
annotations only (`savgbench plan --annotations-only`) needs a recording's CSV alone.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from data_contracts.manifests import recording_id_problem

__all__ = ["SourceRecording", "DiscoveryProblem", "MODALITIES", "list_source_files", "pair_source_files",
           "layout_path", "folder_problem"]

# Top-level folder prefix → (modality, file suffix). `mic_*` (tetrahedral mic format) is not used: SAVGBench
# rotates the FOA format.
MODALITIES = {"foa": ("audio", ".wav"), "video": ("video", ".mp4"), "metadata": ("metadata", ".csv")}


@dataclass(frozen=True)
class SourceRecording:
    """One recording's files, paths relative to the source root (None when missing). Paired from annotations only,
    `audio_path` and `video_path` are where curate would read the FOA wav and the mp4, whether they exist or not."""

    recording_id: str
    source_folder: str
    audio_path: str | None
    video_path: str | None
    metadata_path: str | None


@dataclass(frozen=True)
class DiscoveryProblem:
    """A recording that cannot be curated, with a stable reason code and a detail naming its files."""

    recording_id: str
    source_folder: str
    reason: str
    detail: str


def list_source_files(source_dir: Path) -> list[str]:
    """Relative POSIX paths of candidate files under `<modality>_<set>/[<folder>/]` in source_dir, sorted."""
    found = []
    for top in sorted(p for p in source_dir.iterdir() if p.is_dir()):
        prefix, _, dataset_set = top.name.partition("_")
        if prefix not in MODALITIES or not dataset_set:
            continue
        suffix = MODALITIES[prefix][1]
        for path in sorted(top.rglob(f"*{suffix}")):
            rel = path.relative_to(source_dir)
            if path.is_file() and len(rel.parts) <= 3 and not path.name.startswith("."):
                found.append(rel.as_posix())
    return found


def layout_path(metadata_path: str, modality: str) -> str:
    """Where the STARSS layout puts the `modality` ("audio", "video") file of the recording annotated by
    metadata_path: `metadata_dev/dev-x/a.csv` → `foa_dev/dev-x/a.wav`, `video_dev/dev-x/a.mp4`."""
    parts = PurePosixPath(metadata_path).parts
    prefix, suffix = next((p, s) for p, (m, s) in MODALITIES.items() if m == modality)
    top = f"{prefix}_{parts[0].partition('_')[2]}"
    return PurePosixPath(top, *parts[1:-1], PurePosixPath(parts[-1]).stem + suffix).as_posix()


def pair_source_files(relative_paths: Iterable[str], *, annotations_only: bool = False
                      ) -> tuple[list[SourceRecording], list[DiscoveryProblem]]:
    """Group files by (source folder, stem) into recordings; report bad and duplicate recording ids and missing
    files.

    A recording's id is its files' stem; one that cannot start clip file names (`recording_id_problem`) is refused
    as bad_recording_id. A stem found in two source folders is a duplicate recording id: every copy is refused,
    since clip ids and splits are keyed by recording id. A recording needs its FOA wav, its mp4 and its annotation
    csv; with `annotations_only`, its csv alone (an absent wav or mp4 gets the path the layout gives it,
    `layout_path`). Details name files by their path relative to the source root.
    """
    groups: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for rel in relative_paths:
        parts = PurePosixPath(rel).parts
        prefix, _, dataset_set = parts[0].partition("_")
        modality = MODALITIES[prefix][0]
        source_folder = parts[1] if len(parts) == 3 else dataset_set
        groups[(source_folder, PurePosixPath(rel).stem)][modality] = rel

    folders_of: dict[str, list[str]] = defaultdict(list)
    for source_folder, stem in groups:
        folders_of[stem].append(source_folder)

    recordings, problems = [], []
    for (source_folder, stem), files in sorted(groups.items()):
        present = ", ".join(sorted(files.values()))
        id_problem = recording_id_problem(stem)
        if id_problem is not None:
            problems.append(DiscoveryProblem(stem, source_folder, "bad_recording_id",
                                             f"{id_problem} (files: {present})"))
            continue
        if len(folders_of[stem]) > 1:
            others = sorted(f for f in folders_of[stem] if f != source_folder)
            problems.append(DiscoveryProblem(
                stem, source_folder, "duplicate_recording_id",
                f"recording id {stem!r} is in source folder {source_folder!r} and also in {others}",
            ))
            continue
        required = ("metadata",) if annotations_only else ("audio", "video", "metadata")
        missing = [m for m in required if m not in files]
        if missing:
            reason = "no_" + missing[0] if len(missing) == 1 else "missing_files"
            problems.append(DiscoveryProblem(
                stem, source_folder, reason, f"{stem}: no {' and no '.join(missing)} file (found: {present})"
            ))
            continue
        media = {m: files.get(m) or layout_path(files["metadata"], m) for m in ("audio", "video")}
        recordings.append(SourceRecording(stem, source_folder, media["audio"], media["video"], files["metadata"]))
    return recordings, problems


def folder_problem(source_dir: Path, output_dir: Path, *, annotations_only: bool = False) -> str | None:
    """Why a curate (or plan) run from source_dir into output_dir cannot start, in one line naming the path; None
    if it can.

    Refused: a source folder that is missing, not a folder or holds no STARSS-style files (`foa_*/`, `video_*/`,
    `metadata_*/`; with `annotations_only`, no annotation csv under `metadata_*/`, which is all such a run needs);
    an output folder that is the source folder or inside it (its clip folders `video_dev/`, … would be discovered as
    sources on the next run); an output folder that cannot be created or written.
    """
    source, output = Path(source_dir).resolve(), Path(output_dir).resolve()
    if not source.exists():
        return f"{source_dir}: source folder does not exist"
    if not source.is_dir():
        return f"{source_dir}: source is not a folder"
    found = list_source_files(source)
    if annotations_only and not any(rel.startswith("metadata_") for rel in found):
        return f"{source_dir}: no annotation files under it (expected metadata_dev/…/*.csv)"
    if not found:
        return (f"{source_dir}: no STARSS-style files under it (expected foa_dev/…/*.wav, video_dev/…/*.mp4, "
                f"metadata_dev/…/*.csv)")
    if output == source or source in output.parents:
        return f"{output_dir}: output folder is inside the source folder {source_dir}"
    existing = next(p for p in (output, *output.parents) if p.exists())
    if not existing.is_dir():
        return f"{output_dir}: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{output_dir}: cannot write to {existing}"
    return None
