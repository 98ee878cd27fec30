"""`savgbench` command line: thin wrappers over the curation library and the Prefect flows."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

from flows.early_api_server import EarlyApiServer, set_prefect_defaults

# The commands that run a Prefect flow in this process.
FLOW_COMMANDS = ("curate", "plan")


def _rate(text: str) -> Fraction:
    """A frame rate such as 29.97 or 30000/1001 (29.97 is read as the NTSC rate 30000/1001)."""
    rate = Fraction(text)
    return Fraction(30000, 1001) if rate == Fraction("29.97") else rate


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="write synthetic STARSS23-style recordings (FOA wav, 360° mp4, CSV)")
    p.add_argument("out", type=Path, help="output root (STARSS23 layout: foa_dev/, video_dev/, metadata_dev/, …)")
    p.add_argument("--recordings", type=int, default=3, help="number of recordings (default 3)")
    p.add_argument("--duration-s", type=float, default=20.0, help="duration of each recording in seconds")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed → same files")
    p.add_argument("--width", type=int, default=1920, help="equirectangular width in pixels (2:1)")
    p.add_argument("--height", type=int, default=960, help="equirectangular height in pixels")
    p.add_argument("--fps", type=_rate, default=Fraction(30000, 1001), help="video frame rate (default 29.97)")
    p.add_argument(
        "--annotations", type=Path, default=None,
        help="render one recording per CSV under this folder, following its real trajectories",
    )


def _run_synth(args) -> int:
    from curation.synthetic.generator import SynthConfig, write_synthetic_dataset

    config = SynthConfig(
        n_recordings=args.recordings,
        duration_s=args.duration_s,
        seed=args.seed,
        width_px=args.width,
        height_px=args.height,
        fps=args.fps,
    )
    written = write_synthetic_dataset(args.out, config, annotations_dir=args.annotations)
    for recording in written:
        print(recording)
    print(f"wrote {len(written)} recordings under {args.out}")
    return 0


def _add_overrides(p, *, example: str) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override one recipe key; the value is parsed as YAML, e.g. {example}")


# The recipe `savgbench curate` and `savgbench plan` use without --recipe (as the curate/savgbench deployment does).
DEFAULT_RECIPE = "release"


def _add_curate(sub) -> None:
    p = sub.add_parser("curate", help="run the curate flow in-process: SOURCE (STARSS23 layout) → OUT, with the "
                                      f"{DEFAULT_RECIPE} recipe unless --recipe says otherwise",
                       epilog=CURATE_EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="source root holding foa_dev/, video_dev/, metadata_dev/ (and *_eval/)")
    p.add_argument("out", type=Path, help="output root for clips, manifests/, splits/ and report/")
    _add_recipe_choice(p, DEFAULT_RECIPE)
    _add_overrides(p, example="--set view_azimuths_deg=[-90,0,90]")
    _add_runner_options(p)


def _add_recipe_choice(p, default: str | None = None) -> None:
    """--recipe, defaulting to the recipe named `default` (None: the SAVGBench defaults, as `exhaustive`)."""
    shipped = ("a recipe shipped with the package, by name (release: the SAVGBench rule thinned to the published "
               "release's size and class mix, about 700 clips per source hour, speech : instrument 2 : 1, few "
               "near-duplicates; exhaustive: the SAVGBench rule alone, every qualifying window and view; "
               "dcase2025-stereo-seld: the DCASE2025 stereo SELD dataset, its layout and file names), or a "
               "recipe YAML file")
    default_text = f"default: {default}" if default else "default: the SAVGBench recipe, as exhaustive"
    p.add_argument("--recipe", default=default, metavar="NAME|PATH", help=f"{shipped} ({default_text})")


def _add_runner_options(p) -> None:
    p.add_argument("--task-runner", choices=("threads", "processes", "dask"), default=None,
                   help="engine for the tasks (default: $SAVGBENCH_TASK_RUNNER or threads)")
    p.add_argument("--workers", type=int, default=None, help="pool size / local Dask workers (default 2)")
    p.add_argument("--dask-address", default=None, help="connect to this Dask scheduler instead of a local cluster")


CURATE_EXIT_CODES = """exit codes:
  0  the run finished, also when it rejected recordings or clips: they are rows of manifests/rejects.parquet, and
     the last line printed counts the recordings curated and rejected
  1  the run failed (a traceback says where)
  2  refused before any work, with one line naming the cause: a missing or empty source folder, an output folder
     inside the source folder or not writable, a bad recipe, detector weights that cannot be had
  3  refused: another run holds the output folder (one line names it); nothing was written"""


def _refusal(command: str, args, *, annotations_only: bool = False, render: bool = True) -> int | None:
    """The exit code and one line on stderr when a run cannot start (see CURATE_EXIT_CODES); None when it can.
    Checked before the flow runs, so a refusal leaves nothing to clean up (the temporary API server started early
    is stopped at exit)."""
    from curation.discover import folder_problem
    from data_contracts.errors import ContractError
    from data_contracts.recipe import load_recipe
    from tasks.run_lock import OutputLock

    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except ContractError as exc:
        print(f"savgbench {command}: {exc}", file=sys.stderr)
        return 2
    problem = folder_problem(args.source, args.out, annotations_only=annotations_only)
    if problem is not None:
        print(f"savgbench {command}: {problem}", file=sys.stderr)
        return 2
    holder = OutputLock.holder(args.out)
    if holder is not None:
        print(f"savgbench {command}: {args.out}: another run is writing this output folder: {holder}; wait for it "
              "to finish, or give another output folder", file=sys.stderr)
        return 3
    if render and recipe.verify:
        from curation.metric.detect import DetectorError
        from tasks.verify import recipe_detect

        try:
            recipe_detect(recipe)  # weights that cannot be had are refused before any rendering, not after it
        except DetectorError as exc:
            print(f"savgbench {command}: {exc}", file=sys.stderr)
            return 2
    return None


def _run_flow(command: str, flow, args, **parameters):
    """Run a flow (curate or plan) in-process with the runner the options choose; (exit code, state)."""
    from flows.runners import make_task_runner
    from tasks.run_lock import OutputBusy

    if args.task_runner or args.workers or args.dask_address:
        flow = flow.with_options(task_runner=make_task_runner(args.task_runner, args.workers, args.dask_address))
    if args.api_server is not None:
        args.api_server.point_prefect_at_it()
    state = flow(str(args.source), str(args.out), recipe=args.recipe, overrides=list(args.overrides),
                 return_state=True, **parameters)
    try:
        state.result()  # a failed run raises its exception here
    except OutputBusy as exc:  # another run took the folder after the check before it
        print(f"savgbench {command}: {exc}", file=sys.stderr)
        return 3, state
    return 0, state


def _run_curate(args) -> int:
    refused = _refusal("curate", args)
    if refused is not None:
        return refused
    from flows.curate import curate

    code, state = _run_flow("curate", curate, args)
    if code:
        return code
    for name, path in state.result().items():
        print(f"{name}: {path}")
    print(state.message)
    return 0


PLAN_EXIT_CODES = """exit codes:
  0  the plan finished, also when it rejected recordings: they are rows of manifests/rejects.parquet; the lines
     printed give the funnel (recordings found, accepted, rejected; candidate and qualifying pairs; clips per split)
  1  the run failed (a traceback says where)
  2  refused before any work, with one line naming the cause: a missing source folder or one without annotation
     files (without --annotations-only: without STARSS-style files), an output folder inside the source folder or
     not writable, a bad recipe or an unknown recipe name
  3  refused: another run holds the output folder (one line names it); nothing was written"""


def _add_plan(sub) -> None:
    p = sub.add_parser(
        "plan", help="plan the clips a curate run would write: SOURCE → OUT/manifests, no media read or written",
        epilog=PLAN_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", type=Path, help="source root holding metadata_dev/ (and foa_dev/, video_dev/, *_eval/)")
    p.add_argument("out", type=Path, help="output root for manifests/, splits/ and report/")
    _add_recipe_choice(p, DEFAULT_RECIPE)
    _add_overrides(p, example="--set min_onscreen_frames=30")
    p.add_argument("--annotations-only", action="store_true",
                   help="a recording needs only its annotation csv; its duration comes from the wav or mp4 header "
                        "when present, else from its last annotated frame")
    _add_runner_options(p)


def _run_plan(args) -> int:
    refused = _refusal("plan", args, annotations_only=args.annotations_only, render=False)
    if refused is not None:
        return refused
    from flows.plan import plan

    code, state = _run_flow("plan", plan, args, annotations_only=args.annotations_only)
    if code:
        return code
    for line in plan_funnel_lines(state.result()):
        print(line)
    return 0


def plan_funnel_lines(paths: dict[str, str]) -> list[str]:
    """What `savgbench plan` prints: the funnel (recordings found, accepted, rejected; candidate and qualifying
    (window, view) pairs; clips kept per split) read from the manifests and the report a plan run wrote, then where
    they are."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from data_contracts.classes import SPLITS
    from tasks.report import class_funnel_lines, read_summary_rows

    status = pc.cast(pq.read_table(paths["recordings"], columns=["status"]).column("status"), pa.string())
    n_ok = pc.sum(pc.cast(pc.equal(status, "ok"), pa.int64())).as_py() or 0
    splits = pc.cast(pq.read_table(paths["clips"], columns=["split"]).column("split"), pa.string())
    per_split = {item["values"]: item["counts"] for item in pc.value_counts(splits).to_pylist()}
    summary = {row["stage"]: row["count"] for row in read_summary_rows(Path(paths["report"]))}
    manifests = Path(paths["clips"]).parent
    return [
        f"recordings: {len(status)} found, {n_ok} accepted, {len(status) - n_ok} rejected",
        f"candidate (window, view) pairs: {summary.get('candidate (window, view) pairs', 'unknown')}",
        f"qualifying pairs: {summary.get('qualifying pairs', 'unknown')}",
        f"clips kept: {len(splits)} ({', '.join(f'{split} {per_split.get(split, 0)}' for split in SPLITS)})",
        *class_funnel_lines(Path(paths["report"])),
        f"manifests: {manifests} (recordings, clips, events, rejects .parquet)",
        f"report: {paths['report']}",
    ]



def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="write OUT/report/index.html: tables, plots and contact sheets of a curated set")
    p.add_argument("out", type=Path, help="output root of a curate run (holds manifests/ and the clips)")


def _run_audit(args) -> int:
    from tasks.audit import write_audit_page

    manifests = args.out / "manifests"
    if not (manifests / "clips.parquet").is_file():
        print(f"savgbench audit: {manifests}: no manifests (run `savgbench curate` first)", file=sys.stderr)
        return 2
    print(f"report: {write_audit_page(args.out)}")
    return 0


def _add_recipe_options(p) -> None:
    _add_recipe_choice(p)
    _add_overrides(p, example="--set detector_person_classes=null")


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="re-run the visual verification stage on a curated output folder, in place")
    p.add_argument("out", type=Path, help="output root of `savgbench curate` (manifests/, video_*/ ...)")
    p.add_argument("--source", type=Path, default=None, metavar="SRC",
                   help="the source folder OUT was curated from (required when OUT has clips): the detector runs "
                        "once per view frame on the views remapped from its 360° videos, each decoded once")
    p.add_argument("--weights", default=None,
                   help="ultralytics model file or name (default: the recipe's detector_weights, yolo11n.pt)")
    _add_recipe_options(p)


def _run_verify(args) -> int:
    from curation.metric.detect import DetectorError
    from curation.media import MediaError
    from data_contracts.errors import ContractError
    from data_contracts.recipe import load_recipe
    from tasks.run_lock import OutputBusy
    from tasks.verify import verify_output_dir

    try:
        recipe = load_recipe(args.recipe, [*args.overrides, "verify=true"])
        counts = verify_output_dir(args.out, recipe, source_dir=args.source, weights=args.weights)
    except (ContractError, DetectorError, MediaError) as exc:
        print(f"savgbench verify: {exc}", file=sys.stderr)
        return 2
    except OutputBusy as exc:
        print(f"savgbench verify: {exc}", file=sys.stderr)
        return 3
    rate = counts["confirmed"] / counts["checked"] if counts["checked"] else float("nan")
    print(f"visually confirmed {counts['confirmed']} of {counts['checked']} onscreen speech events ({rate:.3f}); "
          f"{counts['rejected']} clips rejected, {counts['clips']} kept; {counts['detections']} detections; "
          f"{counts['clip_frames']} clip frames from {counts['detector_frames']} view frames through the detector")
    print(f"manifests: {args.out / 'manifests'}; `savgbench audit {args.out}` redraws the report page with the boxes")
    return 0


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="Spatial AV-Align of a folder of generated mp4 clips, or of localisation and detection CSVs",
        description="Score GENERATED/*.mp4 (detector and mid-side localiser, or the CSVs given), or, with "
                    "--localizations A --detections B and no GENERATED, the clips named by the CSVs' stems without "
                    "reading any video.")
    p.add_argument("generated", type=Path, nargs="?", default=None,
                   help="folder of mp4 clips (256x256 letterboxed or 256x144, stereo); leave out to score CSVs only")
    p.add_argument("--weights", default=None,
                   help="ultralytics model file or name (default: the recipe's detector_weights, yolo11n.pt)")
    p.add_argument("--json", type=Path, default=None,
                   help='write {"score", "tp", "fn", "clips", "by_class"} pooled over the set; by_class has '
                        '"speech" and "instrument" ({"score", "tp", "fn"}) from the CSVs\' classes 0 and 1 '
                        '(zero counts and a null score with the mid-side localiser, which does not classify)')
    p.add_argument("--parquet", type=Path, default=None,
                   help="per-clip TP, FN and score (default: GENERATED/spatial_av_align.parquet, or "
                        "LOCALIZATIONS/spatial_av_align.parquet when scoring CSVs only)")
    p.add_argument("--localizations", type=Path, default=None, metavar="DIR",
                   help="an external localiser's CSVs in the authors' SELD format, DIR/<clip>.csv with rows "
                        "frame,class,x at 10 fps, no header, integers or floats such as 12.0,0.0,123.456 "
                        "(default: the training-free mid-side localiser)")
    p.add_argument("--detections", type=Path, default=None, metavar="DIR",
                   help="person boxes in the authors' object-detection format instead of the detector: "
                        "DIR/<clip>.csv with rows frame,category,x0,y0,x1,y1 (video frames 0-19 at 4 fps, pixels of "
                        "the 256x256 frame, no header); a clip without a file has no boxes (every sound an FN)")
    _add_recipe_options(p)


def _run_evaluate(args) -> int:
    import json

    import pyarrow.parquet as pq

    from curation.metric.av_align import AlignCounts
    from curation.metric.detect import DetectorError, cached_detector, people_detect_fn
    from curation.metric.evaluate import (
        EvaluateInputError,
        csv_clips,
        evaluate_clip,
        evaluate_csv_clip,
        generated_videos,
    )
    from curation.metric.progress import Progress
    from curation.media import MediaError
    from data_contracts._atomic import atomic_path, write_text_atomic
    from data_contracts.classes import TARGET_CLASSES
    from data_contracts.errors import ContractError
    from data_contracts.manifests import SPATIAL_AV_ALIGN_SCHEMA, rows_to_table
    from data_contracts.recipe import load_recipe

    if args.generated is None and (args.localizations is None or args.detections is None):
        print("savgbench evaluate: give a folder of generated clips, or --localizations DIR and --detections DIR to "
              "score CSVs alone", file=sys.stderr)
        return 2
    csv_only = args.generated is None
    parquet_path = args.parquet or (args.localizations if csv_only else args.generated) / "spatial_av_align.parquet"
    rows = []
    by_class: dict[str, list] = {name: [] for name in TARGET_CLASSES}
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        if csv_only:
            clips = csv_clips(args.localizations, args.detections)
            no_boxes = sum(clip.detections_csv is None for clip in clips)
            no_sounds = sum(clip.localizations_csv is None for clip in clips)
            print(f"{len(clips)} clips from {args.localizations} and {args.detections} (no video read); "
                  f"{no_boxes} without a detection CSV (no boxes: every sound an FN), {no_sounds} without a "
                  "localisation CSV (nothing to score)", file=sys.stderr)
            evaluations = (evaluate_csv_clip(clip, recipe) for clip in clips)
        else:
            videos = generated_videos(args.generated)
            detect = None
            if args.detections is None:
                detect = people_detect_fn(cached_detector(args.weights or recipe.detector_weights,
                                                          recipe.detector_person_classes,
                                                          recipe.detector_image_size_px),
                                          recipe.detector_score_threshold)
            clips = videos
            evaluations = (evaluate_clip(video, recipe, detect, root=args.generated,
                                         localizations_csv=args.localizations / f"{video.stem}.csv"
                                         if args.localizations else None,
                                         detections_csv=args.detections / f"{video.stem}.csv"
                                         if args.detections else None)
                           for video in videos)
        print(f"{'clip':<48} {'tp':>5} {'fn':>5} {'score':>6}")
        progress = Progress("evaluate", len(clips) * recipe.frames_per_clip, lambda line: print(line, file=sys.stderr))
        with progress:
            for evaluation in evaluations:
                row = evaluation.row
                rows.append(row)
                for name, counts in evaluation.by_class.items():
                    by_class[name].append(counts)
                score = "-" if row.score is None else f"{row.score:.3f}"
                print(f"{row.clip:<48} {row.tp:>5} {row.fn:>5} {score:>6}", flush=True)
                progress.advance(recipe.frames_per_clip)
    except (ContractError, DetectorError, EvaluateInputError, MediaError) as exc:
        print(f"savgbench evaluate: {exc}", file=sys.stderr)
        return 2

    def figures(counts: AlignCounts) -> dict:
        return {"score": None if counts.n_scored == 0 else round(counts.score, 6), "tp": counts.tp, "fn": counts.fn}

    pooled = AlignCounts.pooled(AlignCounts(row.tp, row.fn) for row in rows)
    result = {**figures(pooled), "clips": len(rows),
              "by_class": {name: figures(AlignCounts.pooled(counts)) for name, counts in by_class.items()}}
    score = "-" if result["score"] is None else f"{result['score']:.3f}"
    print(f"{'pooled over ' + str(len(rows)) + ' clips':<48} {pooled.tp:>5} {pooled.fn:>5} {score:>6}")
    with atomic_path(parquet_path) as partial:
        pq.write_table(rows_to_table(rows, SPATIAL_AV_ALIGN_SCHEMA), partial)
    print(f"per clip: {parquet_path}")
    if args.json:
        write_text_atomic(args.json, json.dumps(result) + "\n")
        print(f"pooled: {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="savgbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_synth(sub)
    _add_curate(sub)
    _add_plan(sub)
    _add_audit(sub)
    _add_verify(sub)
    _add_evaluate(sub)
    args = parser.parse_args(argv)
    args.api_server = None
    if args.command in FLOW_COMMANDS:
        set_prefect_defaults()
        # Before anything imports Prefect: the server starts while the command imports (flows/early_api_server.py).
        args.api_server = EarlyApiServer.start_unless_configured()
    handlers = {"synth": _run_synth, "curate": _run_curate, "plan": _run_plan, "audit": _run_audit,
                "verify": _run_verify, "evaluate": _run_evaluate}
    try:
        return handlers[args.command](args)
    finally:
        if args.api_server is not None and not args.api_server.serving:  # refused: no flow will talk to it
            args.api_server.stop()


if __name__ == "__main__":
    sys.exit(main())
