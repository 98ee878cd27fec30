"""`savgbench` command line: thin wrappers over the curation library and the Prefect flows."""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="savgbench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_synth(sub)
    args = parser.parse_args(argv)
    handlers = {"synth": _run_synth}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
