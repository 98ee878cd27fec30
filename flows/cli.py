"""`savgbench` command line: thin wrappers over the curation library and the Prefect flows."""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path


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
    from curation.synth import SynthConfig, write_synthetic_dataset

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


def _add_curate(sub) -> None:
    p = sub.add_parser("curate", help="run the curate flow in-process: SOURCE (STARSS23 layout) → OUT")
    p.add_argument("source", type=Path, help="source root holding foa_dev/, video_dev/, metadata_dev/ (and *_eval/)")
    p.add_argument("out", type=Path, help="output root for clips, manifests/, splits/ and report/")
    p.add_argument("--recipe", type=Path, default=None, help="recipe YAML (default: the SAVGBench recipe)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one recipe key; the value is parsed as YAML, e.g. --set view_azimuths_deg=[-90,0,90]",
    )
    p.add_argument("--task-runner", choices=("threads", "processes", "dask"), default=None,
                   help="engine for the tasks (default: $SAVGBENCH_TASK_RUNNER or threads)")
    p.add_argument("--workers", type=int, default=None, help="pool size / local Dask workers (default 2)")
    p.add_argument("--dask-address", default=None, help="connect to this Dask scheduler instead of a local cluster")


def _run_curate(args) -> int:
    from data_contracts.errors import ContractError
    from data_contracts.recipe import load_recipe

    try:
        load_recipe(args.recipe, args.overrides)  # refuse a bad recipe before Prefect starts
    except ContractError as exc:
        print(f"savgbench curate: {exc}", file=sys.stderr)
        return 2
    # Prefect's in-process API server can take longer than its default 20 s to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.curate import curate
    from flows.runners import make_task_runner

    if args.task_runner or args.workers or args.dask_address:
        curate = curate.with_options(task_runner=make_task_runner(args.task_runner, args.workers, args.dask_address))
    paths = curate(
        str(args.source), str(args.out),
        recipe=str(args.recipe) if args.recipe else None, overrides=list(args.overrides),
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _add_audit(sub) -> None:
    p = sub.add_parser("audit", help="write OUT/report/index.html: tables, plots and contact sheets of a curated set")
    p.add_argument("out", type=Path, help="output root of a curate run (holds manifests/ and the clips)")


def _run_audit(args) -> int:
    from curation.audit import write_report

    manifests = args.out / "manifests"
    if not (manifests / "clips.parquet").is_file():
        print(f"savgbench audit: {manifests}: no manifests (run `savgbench curate` first)", file=sys.stderr)
        return 2
    print(f"report: {write_report(args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="savgbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_synth(sub)
    _add_curate(sub)
    _add_audit(sub)
    args = parser.parse_args(argv)
    handlers = {"synth": _run_synth, "curate": _run_curate, "audit": _run_audit}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
