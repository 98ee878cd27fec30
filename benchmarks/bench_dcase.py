"""Benchmark: seconds per clip of the DCASE2025 stereo SELD job (issue #16), against a per-clip run of the same job.

Ours: `savgbench curate SRC OUT --recipe dcase2025-stereo-seld` (`DCASE_RECIPE_ARGS`: 640x360 content and frame,
h_fov 100, the source's frame rate, MPEG-4 Part 2 video, 24 kHz stereo, no high-pass, 0 dB gain, DCASE2025 labels,
random sampling with the challenge's seed) and `sample_clips` lowered to a few hundred, run as a child process (this
module again, `--child curate-N`, calling the CLI in-process) on the issue-5 benchmark recording: the 60 s 1920x960
synthetic recording of `bench_curate.ensure_source`, whose video is at 30000/1001 fps like STARSS23's. Its seconds
per clip are given with the command's fixed start-up (imports, Prefect's temporary server, discovery, manifests,
report) and without it: the start-up is the same command run on a source with nothing to curate (the recording's
annotation file alone, which the run rejects as incomplete).

The per-clip run: for a sample of the written clips, one ffmpeg per clip doing the same job the way the challenge
generator does it (one decode of the 360-degree source from the clip's start, `v360` crop to the clip's view at
640x360, encode with the recipe's codec and settings as ours, video only as ours (the recipe's `video_audio` null; with
an AAC track the clip's stereo wav, ours, would be encoded beside it), so the per-clip run is charged nothing for the
audio: its figure is a lower bound),
each clip several times, the median kept. Goal: ours at least 20x cheaper per clip. Beside it, the encode alone of
the same clips' frames (our 640x360 mp4s re-encoded with the same settings): a cost both approaches pay in full per
clip, so per-clip run / encode alone is the most any renderer could gain; and the per-clip decode alone (seek, decode
the clip's window, nothing else), the share of the per-clip run that one shared decode of the recording saves.

The generator-style per-clip run (`generator_style_clip`): a few clips made in Python the way issue #16 describes the
challenge generator making each one: the 360-degree video decoded again from the clip's start, each frame converted
with scipy's bilinear `map_coordinates` through the project's pinhole geometry, written with OpenCV's mp4v writer,
the stereo wav beside it. Slow (seconds per clip), so timed once each on a small sample; its ratio to ours is printed
beside the per-clip run's, and beside the challenge generator's own 3.65 s per clip, quoted from its log (issue #16),
not measured here. The renderer's own seconds per stage (report/summary.md) say where ours went.

It is a measurement, not a test: it exits 0 whether or not the goal is met. The synthetic source is cached in
`--work DIR` (default: a temporary folder, removed afterwards), shared with bench_curate's cache layout.

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_dcase [--work DIR]`
(`make bench-dcase`).
"""

from __future__ import annotations

import os

# Set before anything can import Prefect, so no run of the benchmark (nor its children) phones home.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse
import json
import re
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.bench_curate import (
    _report_seconds,
    DEFAULT_SEED,
    ChildRun,
    PerClipSample,
    Recording,
    Usage,
    bench_parser,
    breakdown_rows,
    command_line,
    ensure_source,
    frame_difference,
    format_pct,
    format_table,
    log,
    print_header,
    run_child,
    redo_clip,
    run_ffmpeg_timed,
    settle,
    verdict,
    video_encoder_args,
    work_folder,
)
from benchmarks.bench_scale import fresh_prefect_home
from curation.foa import prepare_foa, stereo_weights
from curation.perspective import letterbox, source_sample_coordinates
from curation.render import video_frame_rate
from data_contracts._atomic import write_text_atomic
from data_contracts.manifests import ClipRow
from data_contracts.recipe import Recipe, load_recipe

MODULE = "benchmarks.bench_dcase"

# The DCASE2025 stereo SELD job as `savgbench curate` options, in one place: the named recipe (its layout, and
# sample_clips=30000, which the benchmark lowers with its own --set, given after these).
DCASE_RECIPE_ARGS = ["--recipe", "dcase2025-stereo-seld"]
DEFAULT_SAMPLE_CLIPS = 300
GOAL_PER_CLIP_RATIO = 20.0
# The challenge generator's own figure, from its log as quoted in issue #16 (not measured here).
CHALLENGE_GENERATOR_S_PER_CLIP = 3.65
STARSS23_FPS = Fraction(30000, 1001)
# `--child curate-N SOURCE OUTPUT RESULT`: the curate command with sample_clips=N.
CHILD_MODE = re.compile(r"curate-(\d+)")


def curate_args(sample_clips: int) -> list[str]:
    """The recipe options of the measured command: the DCASE job with `sample_clips` clips."""
    return [*DCASE_RECIPE_ARGS, "--set", f"sample_clips={sample_clips}"]


def recipe_of(args: list[str]) -> Recipe:
    """The recipe that `--recipe NAME --set KEY=VALUE ...` options select, as `savgbench curate` loads it."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--recipe")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    options = parser.parse_args(args)
    return load_recipe(options.recipe, options.overrides)


# ----------------------------------------------------------------------------------------------------------------
# The child: `savgbench curate` in-process


def child_curate(source_dir: Path, output_dir: Path, sample_clips: int) -> dict:
    """Child mode `curate-N`: `savgbench curate SOURCE OUTPUT <DCASE options, sample_clips=N>` (flows.cli.main)."""
    import flows.cli

    code = flows.cli.main(["curate", str(source_dir), str(output_dir), *curate_args(sample_clips)])
    if code != 0:
        raise RuntimeError(f"savgbench curate exited with {code}")
    clips_path = output_dir / "manifests" / "clips.parquet"
    return {"n_clips": pq.read_metadata(clips_path).num_rows if clips_path.is_file() else 0}


def child_main(mode: str, source_dir: Path, output_dir: Path, result_path: Path) -> int:
    """Entry point of a child process: run the curate command, write its result as JSON (last: only on success)."""
    match = CHILD_MODE.fullmatch(mode)
    if match is None:
        raise SystemExit(f"--child: unknown mode {mode!r} (expected curate-N)")
    result = child_curate(source_dir, output_dir, int(match.group(1)))
    write_text_atomic(result_path, json.dumps(result))
    return 0


# ----------------------------------------------------------------------------------------------------------------
# The measurements


def empty_source(work_dir: Path, source: Recording) -> Path:
    """A source with nothing to curate: the benchmark recording's annotation file alone (no audio, no video), which
    the run discovers, rejects as incomplete and reports; everything else the command does at start-up it does."""
    source_dir = work_dir / f"{source.root.name}-annotations-only"
    target = source_dir / source.metadata_path.relative_to(source.root)
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source.metadata_path, target)
    return source_dir


def curate(source_dir: Path, output_dir: Path, sample_clips: int, work_dir: Path, env: dict[str, str],
           label: str) -> ChildRun:
    """One timed run of the curate command in a child process, into a fresh output folder; its log and result in
    work_dir/<label>/."""
    shutil.rmtree(output_dir, ignore_errors=True)
    run_dir = work_dir / label
    run_dir.mkdir(parents=True, exist_ok=True)
    settle()
    run = run_child(f"curate-{sample_clips}", source_dir, output_dir, run_dir, env=env, module=MODULE)
    settle()
    return run


def read_clips(output_dir: Path) -> list[ClipRow]:
    """The clips manifest of a curate run, as rows."""
    names = [f.name for f in fields(ClipRow)]
    table = pq.read_table(output_dir / "manifests" / "clips.parquet", columns=names)
    return [ClipRow(**row) for row in table.to_pylist()]


def spread_sample(clips: list[ClipRow], n_clips: int) -> list[ClipRow]:
    """n_clips clips evenly spaced in (start, view) order: spread over the recording and over the views."""
    ordered = sorted(clips, key=lambda clip: (clip.start_frame, clip.view_azimuth_deg))
    positions = np.linspace(0, len(ordered) - 1, num=min(n_clips, len(ordered))).round().astype(int)
    return [ordered[p] for p in sorted(set(positions.tolist()))]


def time_per_clip(source: Recording, clips: list[ClipRow], output_dir: Path, per_clip_dir: Path, recipe: Recipe,
                  fps: Fraction, repeats: int) -> list[PerClipSample]:
    """Redo each clip with one ffmpeg at the clips' exact rate, `repeats` times (the median is kept: one run of a
    few seconds varies by tens of percent on a shared VM), and compare its frames with ours."""
    per_clip_dir.mkdir(parents=True, exist_ok=True)
    return [redo_clip(source.video_path, clip, output_dir, per_clip_dir, recipe, repeats, fps=fps) for clip in clips]


def encode_alone_args(clip: ClipRow, output_dir: Path, per_clip_dir: Path, recipe: Recipe) -> list[str]:
    """ffmpeg re-encoding our clip's frames alone (decode our 640x360 mp4, encode with the recipe's codec as both
    approaches encode, video only, one thread as our encoder runs): a cost both approaches pay in full for every clip,
    so per-clip run / this is the most any renderer could gain on the per-clip run with the same encoder."""
    return ["-y", "-i", str(output_dir / clip.video_path), "-an", *video_encoder_args(recipe.video_codec), "-pix_fmt",
            "yuv420p", "-threads", "1", "-f", "mp4", str(per_clip_dir / f"{clip.clip_id}-encode.mp4")]


def decode_alone_args(clip: ClipRow, source_video: Path, window_s: float) -> list[str]:
    """ffmpeg seeking to the clip's start and decoding its window of the 360-degree source, nothing else: the share
    of the per-clip run that one decode of the whole recording, shared by every clip, saves."""
    return ["-ss", f"{clip.start_s:.3f}", "-t", f"{window_s:g}", "-i", str(source_video), "-an", "-f", "null", "-"]


def generator_style_clip(source: Recording, clip: ClipRow, output_dir: Path, per_clip_dir: Path, recipe: Recipe,
                         fps: Fraction) -> PerClipSample:
    """One clip made the way issue #16 describes the challenge generator making each clip (written here from that
    description): open the 360-degree video and decode it again from the clip's start, convert each of the clip's
    frames to the view with scipy's bilinear `map_coordinates` through the project's pinhole geometry
    (`curation.perspective.source_sample_coordinates`, the coordinates our cv2 remap uses), write them with OpenCV's
    VideoWriter, FourCC mp4v, at the clip's rate; and the clip's stereo (its FOA segment through the recipe's chain
    and the view's mid-side matrix, peak checked) to a 16-bit wav. Timed once (seconds per clip), with the CPU of
    this process (every thread: PyAV's decoder, OpenCV's writer). Its frames are compared with ours."""
    import av
    import cv2
    import soundfile as sf
    from scipy.ndimage import map_coordinates

    video_path, wav_path = per_clip_dir / f"{clip.clip_id}-generator.mp4", per_clip_dir / f"{clip.clip_id}.wav"
    before = Usage.now()
    n_frames = recipe.clip_frames(fps)
    container = av.open(str(source.video_path))
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width_px, height_px = stream.codec_context.width, stream.codec_context.height
        map_x, map_y = source_sample_coordinates(width_px, height_px, clip.view_azimuth_deg, clip.view_elevation_deg,
                                                 recipe.h_fov_deg, recipe.v_fov_deg, recipe.content_width,
                                                 recipe.content_height)
        coordinates = np.stack([map_y, map_x])
        period_s = 1 / fps
        container.seek(int(clip.start_s / stream.time_base), stream=stream, backward=True)
        writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                 (recipe.frame_width, recipe.frame_height))
        written = 0
        for frame in container.decode(stream):
            # The frames shown from the clip's start on: the one shown at start_s is the last starting before it.
            if frame.pts is None or (frame.pts * stream.time_base + period_s) <= Fraction(clip.start_s):
                continue
            rgb = frame.to_ndarray(format="rgb24")
            content = np.empty((recipe.content_height, recipe.content_width, 3), np.uint8)
            for channel in range(3):
                content[..., channel] = map_coordinates(rgb[..., channel], coordinates, order=1, mode="grid-wrap")
            picture = letterbox(content, recipe.frame_width, recipe.frame_height)
            writer.write(np.ascontiguousarray(picture[..., ::-1]))
            written += 1
            if written == n_frames:
                break
        writer.release()
    info = sf.info(source.audio_path)
    first = round(clip.start_s * info.samplerate)
    foa, rate_hz = sf.read(source.audio_path, start=first, frames=round(recipe.window_s * info.samplerate),
                           dtype="float32", always_2d=True)
    stereo = prepare_foa(foa, rate_hz, recipe.audio_rate, recipe.highpass_hz, recipe.gain_db) @ stereo_weights(
        clip.view_azimuth_deg, clip.view_elevation_deg)
    clipped = float(np.abs(stereo).max()) > recipe.clip_peak_limit
    sf.write(wav_path, stereo, recipe.audio_rate, subtype="PCM_16")
    after = Usage.now()
    if written != n_frames or clipped:
        raise RuntimeError(f"{clip.clip_id}: generator-style clip has {written} of {n_frames} frames"
                           + (", clipped audio" if clipped else ""))
    sample = PerClipSample(clip_id=clip.clip_id, start_s=clip.start_s, view_azimuth_deg=clip.view_azimuth_deg,
                           wall_s=[after.wall_s - before.wall_s], cpu_s=[after.own_cpu_s - before.own_cpu_s],
                           mean_abs_diff=frame_difference(output_dir / clip.video_path, video_path, recipe))
    log(f"generator-style {clip.clip_id}: {sample.median_wall_s:.2f} s, frame difference {sample.mean_abs_diff:.2f}")
    return sample


def mean_median_wall_s(commands: list[list[str]], repeats: int) -> float:
    """The mean over the ffmpeg commands of each one's median wall over `repeats` runs."""
    return statistics.mean(statistics.median(run_ffmpeg_timed(args)[0] for _ in range(repeats)) for args in commands)


@dataclass(frozen=True)
class Figures:
    """Ours and the per-clip run, per clip."""

    n_clips: int
    ours: ChildRun
    floor: ChildRun  # the same command on a source with nothing to curate
    per_clip_s: float  # mean of the sampled clips' median wall
    per_clip_cpu_s: float
    encode_alone_s: float  # mean of the sampled clips' median wall of the encode alone
    decode_alone_s: float  # mean of the sampled clips' median wall of the per-clip decode alone
    generator_s: float  # mean wall of the generator-style clips (scipy remap, mp4v)
    generator_cpu_s: float

    @property
    def ours_s(self) -> float:
        return self.ours.wall_s / self.n_clips

    @property
    def ours_net_s(self) -> float:
        return (self.ours.wall_s - self.floor.wall_s) / self.n_clips

    @property
    def ours_cpu_s(self) -> float:
        return self.ours.cpu_s / self.n_clips

    @property
    def ours_net_cpu_s(self) -> float:
        return (self.ours.cpu_s - self.floor.cpu_s) / self.n_clips


def summary_rows(figures: Figures, per_clip_others_pct: float | None) -> list[tuple[str, ...]]:
    """Seconds per clip of each approach, and ours against the per-clip run (the goal) and the challenge's figure."""
    goal = f">= {GOAL_PER_CLIP_RATIO:g}x"
    ratio_net = figures.per_clip_s / figures.ours_net_s
    ratio = figures.per_clip_s / figures.ours_s
    generator_net = figures.generator_s / figures.ours_net_s
    generator = figures.generator_s / figures.ours_s
    return [
        ("ours: seconds per clip, start-up subtracted", f"{figures.ours_net_s:.3f} s", "", "-",
         f"({figures.ours.wall_s:.1f} s - {figures.floor.wall_s:.1f} s) / {figures.n_clips} clips; "
         f"CPU {figures.ours_net_cpu_s:.3f} s"),
        ("ours: seconds per clip, start-up included", f"{figures.ours_s:.3f} s", "", "-",
         f"{figures.ours.wall_s:.1f} s / {figures.n_clips} clips; CPU {figures.ours_cpu_s:.3f} s; others' load "
         f"{format_pct(figures.ours.others_load_pct)}"),
        ("fixed start-up: same command, nothing to curate", f"{figures.floor.wall_s:.1f} s", "", "-",
         f"CPU {figures.floor.cpu_s:.1f} s; others' load {format_pct(figures.floor.others_load_pct)}"),
        ("per-clip run of the same job (measured here)", f"{figures.per_clip_s:.3f} s", "", "-",
         f"CPU {figures.per_clip_cpu_s:.3f} s; others' load {format_pct(per_clip_others_pct)}"),
        ("per-clip run / ours, start-up subtracted", f"{ratio_net:.1f}x", goal,
         verdict(ratio_net >= GOAL_PER_CLIP_RATIO),
         f"in CPU seconds {figures.per_clip_cpu_s / figures.ours_net_cpu_s:.1f}x"),
        ("per-clip run / ours, start-up included", f"{ratio:.1f}x", goal, verdict(ratio >= GOAL_PER_CLIP_RATIO),
         f"in CPU seconds {figures.per_clip_cpu_s / figures.ours_cpu_s:.1f}x"),
        ("encode alone of a clip's frames (paid by both)", f"{figures.encode_alone_s:.3f} s", "", "-",
         f"ceiling of per-clip run / ours: {figures.per_clip_s / figures.encode_alone_s:.1f}x"),
        ("per-clip decode alone: seek + decode the window (saved by ours)", f"{figures.decode_alone_s:.3f} s", "",
         "-", "the per-clip run's share that one shared decode of the recording saves"),
        ("generator-style per-clip run: decode, scipy remap, mp4v (measured here)", f"{figures.generator_s:.3f} s",
         "", "-", f"CPU {figures.generator_cpu_s:.3f} s; the challenge generator's quoted "
         f"{CHALLENGE_GENERATOR_S_PER_CLIP:.2f} s is {CHALLENGE_GENERATOR_S_PER_CLIP / figures.generator_s:.2f}x it"),
        ("generator-style run / ours, start-up subtracted", f"{generator_net:.1f}x", goal,
         verdict(generator_net >= GOAL_PER_CLIP_RATIO),
         f"in CPU seconds {figures.generator_cpu_s / figures.ours_net_cpu_s:.1f}x"),
        ("generator-style run / ours, start-up included", f"{generator:.1f}x", goal,
         verdict(generator >= GOAL_PER_CLIP_RATIO),
         f"in CPU seconds {figures.generator_cpu_s / figures.ours_cpu_s:.1f}x"),
        ("challenge generator, its own log (quoted, not measured)", f"{CHALLENGE_GENERATOR_S_PER_CLIP:.2f} s", "",
         "-", f"/ ours start-up subtracted: {CHALLENGE_GENERATOR_S_PER_CLIP / figures.ours_net_s:.0f}x; "
         f"included: {CHALLENGE_GENERATOR_S_PER_CLIP / figures.ours_s:.0f}x"),
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, MODULE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the 60 s synthetic recording")
    parser.add_argument("--clips", type=int, default=DEFAULT_SAMPLE_CLIPS,
                        help="sample_clips of the measured curate run (the named recipe's is 30000)")
    parser.add_argument("--sample-clips", type=int, default=8, help="written clips redone the per-clip way")
    parser.add_argument("--per-clip-repeats", type=int, default=3, help="runs of each sampled clip (median kept)")
    parser.add_argument("--generator-clips", type=int, default=6,
                        help="written clips redone the generator's way (scipy remap, mp4v; a few seconds each)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "SOURCE", "OUTPUT", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("clips", "sample_clips", "per_clip_repeats", "generator_clips"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        mode, source, output, result = args.child
        return child_main(mode, Path(source), Path(output), Path(result))
    command = command_line(MODULE, argv)
    wall_started_s = time.perf_counter()
    recipe = recipe_of(curate_args(args.clips))
    with work_folder(args.work, "savgbench-bench-dcase-") as (work_dir, temporary):
        source = ensure_source(work_dir, args.seed, recipe)
        source_fps = video_frame_rate(source.video_path)
        if source_fps != STARSS23_FPS:
            print(f"{source.video_path}: {source_fps} fps, expected {STARSS23_FPS} (STARSS23's); remove the cached "
                  "source", file=sys.stderr)
            return 2
        fps = recipe.clip_fps(source_fps)
        env = fresh_prefect_home(work_dir, "dcase")

        log("the fixed start-up: the same command on a source with nothing to curate")
        floor = curate(empty_source(work_dir, source), work_dir / "out-dcase-empty", args.clips, work_dir, env,
                       "run-empty")
        log(f"start-up: {floor.wall_s:.1f} s ({floor.result['n_clips']} clips)")

        log(f"curating with the DCASE2025 stereo SELD recipe, sample_clips={args.clips}")
        output_dir = work_dir / "out-dcase"
        ours = curate(source.root, output_dir, args.clips, work_dir, env, "run-dcase")
        n_clips = ours.result["n_clips"]
        log(f"ours: {n_clips} clips in {ours.wall_s:.1f} s")
        if n_clips == 0:
            print("the curate run wrote no clip: nothing to compare", file=sys.stderr)
            return 2

        stage_seconds = _report_seconds(output_dir)
        written = read_clips(output_dir)
        n_views = len({(clip.view_azimuth_deg, clip.view_elevation_deg) for clip in written})
        sample = spread_sample(written, args.sample_clips)
        log(f"timing the per-clip run on {len(sample)} clips x {args.per_clip_repeats} runs")
        before = Usage.now()
        samples = time_per_clip(source, sample, output_dir, work_dir / "per-clip-dcase", recipe, fps,
                                args.per_clip_repeats)
        per_clip_others_pct = Usage.now().others_load_pct(before)
        log("timing the encode alone and the per-clip decode alone of the same clips")
        encode_alone_s = mean_median_wall_s([encode_alone_args(clip, output_dir, work_dir / "per-clip-dcase", recipe)
                                             for clip in sample], args.per_clip_repeats)
        decode_alone_s = mean_median_wall_s([decode_alone_args(clip, source.video_path, recipe.window_s)
                                             for clip in sample], args.per_clip_repeats)
        generator_sample = spread_sample(written, args.generator_clips)
        log(f"timing the generator-style per-clip run on {len(generator_sample)} clips")
        before = Usage.now()
        generated = [generator_style_clip(source, clip, output_dir, work_dir / "per-clip-dcase", recipe, fps)
                     for clip in generator_sample]
        generator_others_pct = Usage.now().others_load_pct(before)
        figures = Figures(n_clips, ours, floor, statistics.mean(s.median_wall_s for s in samples),
                          statistics.mean(s.median_cpu_s for s in samples), encode_alone_s, decode_alone_s,
                          statistics.mean(s.median_wall_s for s in generated),
                          statistics.mean(s.median_cpu_s for s in generated))
        total_wall_s = time.perf_counter() - wall_started_s

    print_header("DCASE2025 stereo SELD job: seconds per clip (issue #16)", command, work_dir, temporary)
    print(f"source:  {source.recording_id} (seed {args.seed}), 1920x960, {source_fps} fps, 60 s")
    print(f"ours:    savgbench curate SRC OUT {' '.join(curate_args(args.clips))}")
    audio_note = ("-an, no audio track as ours" if recipe.video_audio is None else
                  "-f wav -i clip.wav + AAC as ours; the clip wav is ours (no FOA rotation or mid-side charged to it)")
    print(f"per-clip run: one ffmpeg per clip (-ss START -t {recipe.window_s:g} -i src.mp4, "
          f"fps={fps},v360 to {recipe.content_width}x{recipe.content_height} h_fov {recipe.h_fov_deg:g}; "
          f"{' '.join(video_encoder_args(recipe.video_codec))}; {audio_note}).")
    print(f"{len(samples)} clips, {args.per_clip_repeats} runs each; 'diff' = mean |RGB difference| (0-255) "
          "between its frames and ours:")
    for s in samples:
        print(f"  {s.clip_id}  start {s.start_s:5.1f} s  view {s.view_azimuth_deg:3.0f} deg  runs "
              + " ".join(f"{t:.2f}" for t in s.wall_s) + f" s  median {s.median_wall_s:.2f} s  "
              f"(CPU {s.median_cpu_s:.2f} s)  diff {s.mean_abs_diff:.2f}")
    print(f"generator-style per-clip run: {len(generated)} clips, once each (PyAV decode from the clip's start, "
          "scipy map_coordinates order 1 per channel, cv2.VideoWriter mp4v, stereo wav); others' load "
          f"{format_pct(generator_others_pct)}:")
    for s in generated:
        print(f"  {s.clip_id}  start {s.start_s:5.1f} s  view {s.view_azimuth_deg:3.0f} deg  {s.median_wall_s:.2f} s  "
              f"(CPU {s.median_cpu_s:.2f} s)  diff {s.mean_abs_diff:.2f}")
    print(f"benchmark wall: {total_wall_s:.0f} s")
    print()
    print(f"Where ours went: the renderer's own seconds (report/summary.md), {n_clips} clips from {n_views} views")
    print(format_table(breakdown_rows("[ours]", stage_seconds, None)))
    print()
    print(format_table(summary_rows(figures, per_clip_others_pct),
                       header=("figure", "value", "goal", "status", "beside it"), right_aligned=(1,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
