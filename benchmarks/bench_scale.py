"""Benchmark: planning at scale (issue #13), on the real STARSS22 annotation files tiled 1x, 4x, 16x.

Each tiling copies the shared annotation files (`../shared/data/starss22-metadata-sample/<folder>/*.csv`, beside the
repository) k times under new recording ids (`<stem>_t00` … `<stem>_t<k-1>`) into a source tree of annotation
files only (`WORK/source-<k>x/metadata_dev/<folder>/`), then runs `savgbench plan SRC OUT --annotations-only
--recipe exhaustive` on it as a child process with a fresh OUT, while a thread sums the RSS of the child's whole
process tree (Prefect's temporary server included) from /proc every 0.1 s. Per tiling it prints the source hours,
the manifests' rows (from their Parquet footers), wall and CPU seconds, seconds per stage (from the start and end
times Prefect's database, in the run's own PREFECT_HOME, holds for each task run) and the peak RSS; then the goals:
peak RSS of the tree < 2 GB at the largest tiling, and time linear (the largest tiling's wall within 18/16 of its
tile ratio times the 1x wall: 16x within 18x).

It is a measurement, not a test: it exits 0 whether or not the goals are met (2 when the shared annotation files
are absent). The work folder (`--work DIR`, default a new temporary folder) is kept: the tiled sources are reused
by the next run with the same DIR, and each run's log is left there as `plan-<k>x.log`.

Run it as a module from the repository root: `.venv/bin/python -m benchmarks.bench_scale [--work DIR] [--tiles
1,4,16]` (`make bench-scale`).
"""

from __future__ import annotations

import os

# Set before anything can import Prefect, so no run of the benchmark (nor its children) phones home.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse
import contextlib
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.bench_curate import (
    GOAL_PEAK_RSS_BYTES,
    RSS_SAMPLE_INTERVAL_S,
    ProcessTreeMemory,
    Usage,
    command_line,
    failure,
    format_gb,
    format_pct,
    format_table,
    log,
    print_header,
    run_child,
    settle,
    verdict,
)
from data_contracts.manifests import recording_id_problem
from data_contracts.timebase import LABEL_FRAME_S
from tests.helpers import MANIFEST_NAMES, PROJECT_ROOT, STARSS22_SAMPLE

MODULE = "benchmarks.bench_scale"

DEFAULT_TILES = (1, 4, 16)
RECIPE = "exhaustive"
# The flow's default task runner: a pool of this many threads.
WORKERS = 2
# Time linear: the largest tiling's wall at most this many times its tile ratio times the 1x wall (16x within 18x).
GOAL_LINEAR_SLACK = 18 / 16
# Prefect names a task run without a template `<task name>-<3 hex digits>`.
_DEFAULT_RUN_SUFFIX = re.compile(r"-[0-9a-f]{3}$")


# ----------------------------------------------------------------------------------------------------------------
# The tiled sources


@dataclass(frozen=True)
class SampleFile:
    """One shared annotation file: its folder (e.g. dev-train-sony), path, and annotated length in label frames."""

    source_folder: str
    path: Path
    n_label_frames: int  # last annotated frame + 1


def sample_files(sample_dir: Path) -> list[SampleFile]:
    """The annotation CSVs directly under sample_dir's folders, sorted; each one's last annotated frame + 1."""
    files = []
    for path in sorted(sample_dir.glob("*/*.csv")):
        with path.open(encoding="utf-8") as lines:
            last_frame = max((int(line.split(",", 1)[0]) for line in lines if line.strip()), default=-1)
        files.append(SampleFile(path.parent.name, path, last_frame + 1))
    return files


def tiled_id(stem: str, copy_index: int) -> str:
    """The recording id of copy `copy_index` of the file `stem`, e.g. fold3_room21_mix001_t03."""
    return f"{stem}_t{copy_index:02d}"


def tiled_source(work_dir: Path, files: list[SampleFile], copies: int) -> Path:
    """WORK/source-<copies>x: every shared file copied `copies` times under new ids, annotation files only.

    Built in a hidden folder and renamed at the end, so a folder of that name is complete; one that already holds
    exactly the expected files, with the expected sizes, is reused.
    """
    source_dir = work_dir / f"source-{copies}x"
    expected = {}
    for sample in files:
        for copy_index in range(copies):
            recording_id = tiled_id(sample.path.stem, copy_index)
            problem = recording_id_problem(recording_id)
            if problem is not None:
                raise ValueError(f"{sample.path}: {problem}")
            relative = Path("metadata_dev") / sample.source_folder / f"{recording_id}.csv"
            expected[relative] = sample.path
    if source_dir.is_dir():
        found = {path.relative_to(source_dir): path.stat().st_size for path in source_dir.rglob("*") if path.is_file()}
        if found == {relative: original.stat().st_size for relative, original in expected.items()}:
            log(f"reusing the {copies}x source in {source_dir}")
            return source_dir
        shutil.rmtree(source_dir)
    log(f"tiling {len(files)} annotation files {copies}x into {source_dir}")
    partial_dir = work_dir / f".source-{copies}x.partial"
    shutil.rmtree(partial_dir, ignore_errors=True)
    for relative, original in expected.items():
        (partial_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, partial_dir / relative)
    partial_dir.rename(source_dir)
    return source_dir


# ----------------------------------------------------------------------------------------------------------------
# One run of `savgbench plan`


def plan_command(source_dir: Path, output_dir: Path) -> list[str]:
    """`savgbench plan SRC OUT --annotations-only --recipe exhaustive`: the venv's entry point, else flows.cli."""
    entry_point = Path(sys.executable).parent / "savgbench"
    program = [str(entry_point)] if entry_point.is_file() else [sys.executable, "-m", "flows.cli"]
    return [*program, "plan", str(source_dir), str(output_dir), "--annotations-only", "--recipe", RECIPE]


def run_env(prefect_home: Path) -> dict[str, str]:
    """This process's environment with Prefect kept to `prefect_home`: its own database, no standing server (an
    inherited PREFECT_API_URL would send the run to someone else's), no analytics; and the flow's default task runner
    (2 threads) pinned, so that an engineer's SAVGBENCH_* settings cannot change the figures."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PREFECT_API_URL", "SAVGBENCH_DASK_ADDRESS")}
    env.update({"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "SAVGBENCH_TASK_RUNNER": "threads", "SAVGBENCH_WORKERS": str(WORKERS)})
    return env


def fresh_prefect_home(work_dir: Path, label: str) -> dict[str, str]:
    """A new PREFECT_HOME for one run, its database created by one server start before the run (not measured), so
    that the measured run starts the server as every run after a user's first does; the run's environment."""
    prefect_home = work_dir / f"prefect-home-{label}"
    shutil.rmtree(prefect_home, ignore_errors=True)
    env = run_env(prefect_home)
    log(f"creating Prefect's database in {prefect_home} (one server start, not measured)")
    run_child("server", work_dir, work_dir / "unused", work_dir, env=env)
    return env


@dataclass(frozen=True)
class Stage:
    """One stage of a run (its task runs: e.g. every recording's `plan-<id>`), from Prefect's records of them."""

    name: str
    n_task_runs: int
    n_not_completed: int
    first_start_s: float  # since the process started
    last_end_s: float
    task_s: float  # the task runs' durations added up: time spent in them, over every worker

    @property
    def span_s(self) -> float:
        """From its first task run's start to its last one's end. Stages with a task run per recording overlap: one
        recording is planned while another is inspected."""
        return self.last_end_s - self.first_start_s


@dataclass(frozen=True)
class StageTimes:
    """Where a run's time went, from the start and end times Prefect's database (in PREFECT_HOME) holds for the
    flow run and each task run, in seconds since the process started: startup (imports, the temporary server)
    until the flow run started, the stages in the order they started, and the flow run's end."""

    flow_start_s: float
    flow_end_s: float
    stages: tuple[Stage, ...]


def stage_of(task_run_name: str, recording_ids: set[str]) -> str:
    """The stage a task run belongs to: its name without the recording id (`plan-<id>` → plan) or without
    Prefect's random suffix (`write-manifests-0fe` → write-manifests)."""
    head, _, tail = task_run_name.partition("-")
    if tail in recording_ids:
        return head
    return _DEFAULT_RUN_SUFFIX.sub("", task_run_name)


def _utc_epoch_s(text: str) -> float:
    """A time as Prefect's SQLite database stores it (UTC, no zone: `2026-11-30 05:54:56.854123`) → epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def stage_times(prefect_home: Path, started_epoch_s: float, recording_ids: set[str]) -> StageTimes | None:
    """The stages of the last flow run recorded in prefect_home's database (see StageTimes); started_epoch_s is when
    the process was started (time.time()). None when the database holds no finished flow run."""
    database = prefect_home / "prefect.db"
    if not database.is_file():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        flow_run = connection.execute("SELECT id, start_time, end_time FROM flow_run WHERE end_time IS NOT NULL "
                                      "ORDER BY start_time DESC LIMIT 1").fetchone()
        if flow_run is None:
            return None
        task_runs = connection.execute("SELECT name, state_type, start_time, end_time FROM task_run WHERE "
                                       "flow_run_id = ? AND start_time IS NOT NULL AND end_time IS NOT NULL",
                                       (flow_run[0],)).fetchall()

    def since_start_s(text: str) -> float:
        return _utc_epoch_s(text) - started_epoch_s

    by_stage: dict[str, list[tuple[str, float, float]]] = {}
    for name, state_type, start, end in task_runs:
        by_stage.setdefault(stage_of(name, recording_ids), []).append((state_type, since_start_s(start),
                                                                       since_start_s(end)))
    stages = [Stage(name=stage, n_task_runs=len(runs),
                    n_not_completed=sum(state != "COMPLETED" for state, _, _ in runs),
                    first_start_s=min(start for _, start, _ in runs), last_end_s=max(end for _, _, end in runs),
                    task_s=sum(end - start for _, start, end in runs))
              for stage, runs in by_stage.items()]
    return StageTimes(since_start_s(flow_run[1]), since_start_s(flow_run[2]),
                      tuple(sorted(stages, key=lambda stage: stage.first_start_s)))


@dataclass
class PlanRun:
    """One tiling's `savgbench plan`: what it planned, its times, its load, and its process tree's memory."""

    copies: int
    n_source_files: int
    source_hours: float  # annotated length of the tiled files: last annotated frame + 1, summed
    wall_s: float
    cpu_s: float  # user + system of the child and everything it waited for (Prefect's server included)
    others_load_pct: float | None
    load_average: tuple[float, float]  # 1-minute load average before and after the run
    rows: dict[str, int]  # manifest name → rows, from the Parquet footer
    output_bytes: int
    stages: StageTimes | None  # None when Prefect's database holds no finished flow run
    largest_process_rss_bytes: int  # wait4's ru_maxrss: the largest single process of the tree
    memory: ProcessTreeMemory
    log_path: Path

    @property
    def peak_sum_bytes(self) -> int:
        """Peak of the tree's summed RSS over the samples: the figure compared with the goal."""
        return self.memory.peak_sum_bytes

    @property
    def upper_bound_bytes(self) -> int:
        """Each process's own peak (VmHWM) added, as if all had peaked at once: no spike between samples exceeds
        it."""
        return sum(hwm for _, hwm in self.memory.peak_by_pid.values())


def manifest_rows(output_dir: Path) -> dict[str, int]:
    """Rows of each published manifest, read from its Parquet footer (no table is read)."""
    rows = {}
    for name in MANIFEST_NAMES:
        path = output_dir / "manifests" / f"{name}.parquet"
        if path.is_file():
            rows[name] = pq.ParquetFile(path).metadata.num_rows
    return rows


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under folder (links not followed: a release is counted once)."""
    return sum(entry.stat(follow_symlinks=False).st_size for entry in folder.rglob("*")
               if entry.is_file() and not entry.is_symlink())


def run_plan(command: list[str], env: dict[str, str], output_dir: Path, log_path: Path, copies: int,
             files: list[SampleFile]) -> PlanRun:
    """Run `command` as a child (its output to log_path), sampling its process tree's memory; raise with the log's
    tail if it fails or publishes no manifests."""
    shutil.rmtree(output_dir, ignore_errors=True)  # a fresh output: nothing reused from a previous run
    settle()
    load_before = os.getloadavg()[0]
    started = Usage.now()
    started_epoch_s = time.time()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT)
        memory = ProcessTreeMemory(proc.pid)
        memory.start()
        try:
            # wait4 rather than Popen.wait: it also returns the child's resource usage.
            _, status, rusage = os.wait4(proc.pid, 0)
        finally:
            memory.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    finished = Usage.now()
    rows = manifest_rows(output_dir)
    if proc.returncode != 0 or "clips" not in rows:
        missing = "" if "clips" in rows else ", no manifests/clips.parquet"
        raise RuntimeError(f"{Path(command[0]).name} {command[1]} exited with {proc.returncode}{missing} (log: "
                           f"{log_path.name})\nthe log's end:\n{log_path.read_text(errors='replace')[-2000:]}")
    wall_s = finished.wall_s - started.wall_s
    recording_ids = {tiled_id(sample.path.stem, i) for sample in files for i in range(copies)}
    return PlanRun(
        copies=copies,
        n_source_files=len(files) * copies,
        source_hours=copies * sum(sample.n_label_frames for sample in files) * LABEL_FRAME_S / 3600,
        wall_s=wall_s,
        cpu_s=rusage.ru_utime + rusage.ru_stime,
        others_load_pct=finished.others_load_pct(started),
        load_average=(load_before, os.getloadavg()[0]),
        rows=rows,
        output_bytes=folder_bytes(output_dir),
        stages=stage_times(Path(env["PREFECT_HOME"]), started_epoch_s, recording_ids),
        largest_process_rss_bytes=rusage.ru_maxrss * 1024,  # kilobytes on Linux
        memory=memory,
        log_path=log_path,
    )


# ----------------------------------------------------------------------------------------------------------------
# The report


def format_rows(n_rows: int | None) -> str:
    return "n/a" if n_rows is None else f"{n_rows:,}"


def run_rows(run: PlanRun) -> list[tuple[str, str, str, str]]:
    """Table rows of one tiling: what it planned, its time and where it went, its memory."""
    tag = f"[{run.copies}x]"
    n_events = run.rows.get("events")
    rows = [
        (f"{tag} source: annotation files / hours annotated", f"{run.n_source_files} / {run.source_hours:.2f} h", "",
         "-"),
        *((f"{tag} {name}.parquet rows", format_rows(run.rows.get(name)), "", "-") for name in MANIFEST_NAMES),
        (f"{tag} output on disk (manifests, parts, report)", format_gb(run.output_bytes), "", "-"),
        (f"{tag} wall, process start to exit", f"{run.wall_s:.1f} s", "", "-"),
    ]
    times = run.stages
    if times is None:
        rows.append((f"{tag}   stages: no finished flow run in Prefect's database", "n/a", "", "-"))
    else:
        rows += [
            (f"{tag}   startup until the flow run started (imports, Prefect's temporary server)",
             f"{times.flow_start_s:.1f} s", "", "-"),
            (f"{tag}   flow run", f"{times.flow_end_s - times.flow_start_s:.1f} s", "", "-"),
        ]
        for stage in times.stages:
            runs = f"{stage.n_task_runs} task run{'s' * (stage.n_task_runs != 1)}"
            label = f"{tag}     {stage.name}: {runs} from +{stage.first_start_s:.1f} s; span / time in them, summed"
            rows.append((label, f"{stage.span_s:.1f} s / {stage.task_s:.1f} s", "", "-"))
            if stage.n_not_completed:
                rows.append((f"{tag}       {stage.name}: task runs not Completed (see {run.log_path.name})",
                             str(stage.n_not_completed), "0", "NOT MET"))
        rows.append((f"{tag}   after the flow run: the CLI's funnel lines, server stop, exit",
                     f"{run.wall_s - times.flow_end_s:.1f} s", "", "-"))
    rows += [
        (f"{tag} CPU, user + system, the whole tree", f"{run.cpu_s:.1f} s", "", "-"),
        (f"{tag} CPU / (wall x {os.cpu_count()} CPUs)", f"{100 * run.cpu_s / (run.wall_s * os.cpu_count()):.0f} %",
         "", "-"),
        (f"{tag} other processes' load meanwhile, % of the machine", format_pct(run.others_load_pct), "", "-"),
        (f"{tag} 1-minute load average before / after", f"{run.load_average[0]:.2f} / {run.load_average[1]:.2f}",
         "", "-"),
    ]
    if n_events:
        rows.append((f"{tag} wall per million event rows", f"{1e6 * run.wall_s / n_events:.1f} s", "", "-"))
    rows += [
        (f"{tag} peak RSS, process tree summed ({run.memory.n_samples} samples, every {RSS_SAMPLE_INTERVAL_S:g} s)",
         format_gb(run.peak_sum_bytes), "", "-"),
        (f"{tag} upper bound: each process's own peak (VmHWM), added", format_gb(run.upper_bound_bytes), "", "-"),
        (f"{tag} largest single process (wait4 ru_maxrss = /usr/bin/time -v)",
         format_gb(run.largest_process_rss_bytes), "", "-"),
    ]
    processes = sorted(run.memory.peak_by_pid.items(), key=lambda item: -item[1][1])
    rows += [(f"{tag}   peak of pid {pid} ({name})", format_gb(hwm), "", "-") for pid, (name, hwm) in processes[:3]]
    if n_events:
        rows.append((f"{tag} peak RSS per million event rows", f"{run.peak_sum_bytes / n_events:.0f} MB", "", "-"))
    return rows


def overview_rows(runs: dict[int, PlanRun | str]) -> list[tuple[str, ...]]:
    """One row per tiling: its size, its rows, wall, CPU, load and peak RSS (or the error it failed with)."""
    table = []
    for copies, run in runs.items():
        if isinstance(run, str):
            table.append((f"{copies}x", "FAILED", "", "", "", "", "", "", "", run))
            continue
        table.append((f"{copies}x", f"{run.source_hours:.2f}", format_rows(run.rows.get("recordings")),
                      format_rows(run.rows.get("clips")), format_rows(run.rows.get("events")), f"{run.wall_s:.1f}",
                      f"{run.cpu_s:.1f}", format_gb(run.peak_sum_bytes), format_pct(run.others_load_pct), ""))
    return table


def goal_rows(runs: dict[int, PlanRun | str]) -> list[tuple[str, ...]]:
    """The goals of issue #13 this benchmark measures, each with its value and verdict.

    Peak RSS at the largest tiling run; time linear between the 1x run (else the smallest) and the largest, with the
    same ratio in CPU seconds beside it (less moved by other processes' load).
    """
    largest = max(runs)
    goal_rss = f"< {format_gb(GOAL_PEAK_RSS_BYTES)}"
    run = runs[largest]
    if isinstance(run, PlanRun):
        rows = [(f"peak RSS of the process tree at {largest}x", format_gb(run.peak_sum_bytes), goal_rss,
                 verdict(run.peak_sum_bytes < GOAL_PEAK_RSS_BYTES),
                 f"upper bound {format_gb(run.upper_bound_bytes)}; {format_rows(run.rows.get('events'))} event rows")]
    else:
        rows = [(f"peak RSS of the process tree at {largest}x", "FAILED", goal_rss, "-", run)]
    base = min(runs)
    ratio = largest / base
    goal_linear = f"<= {GOAL_LINEAR_SLACK * ratio:g}x"
    name = f"time linear: wall {largest}x / wall {base}x"
    if base == largest:
        rows.append((name, "not measured", goal_linear, "-", "needs two tilings, e.g. --tiles 1,16"))
    elif isinstance(runs[base], PlanRun) and isinstance(run, PlanRun):
        wall_ratio = run.wall_s / runs[base].wall_s
        rows_ratio = run.rows.get("events", 0) / max(runs[base].rows.get("events", 0), 1)
        beside = (f"in CPU seconds {run.cpu_s / runs[base].cpu_s:.2f}x; event rows {rows_ratio:.2f}x; others' "
                  f"load {format_pct(runs[base].others_load_pct)} / {format_pct(run.others_load_pct)}")
        rows.append((name, f"{wall_ratio:.2f}x", goal_linear, verdict(wall_ratio <= GOAL_LINEAR_SLACK * ratio), beside))
    else:
        rows.append((name, "FAILED", goal_linear, "-", "a run failed (above)"))
    return rows


def parse_tiles(text: str) -> tuple[int, ...]:
    """`1,4,16` → (1, 4, 16): positive copy counts, sorted, each once."""
    try:
        tiles = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tiles {text!r}: not a comma-separated list of integers") from None
    if not tiles or tiles[0] < 1:
        raise argparse.ArgumentTypeError(f"--tiles {text!r}: copy counts must be >= 1")
    return tuple(tiles)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, metavar="DIR",
                        help="folder that caches the tiled sources and keeps the outputs and logs (default: a new "
                             "temporary folder, kept and printed)")
    parser.add_argument("--tiles", type=parse_tiles, default=",".join(map(str, DEFAULT_TILES)), metavar="K,K,...",
                        help="copies of the shared annotation files, one run each")
    return parser.parse_args(argv)


def shlex_join(command: list[str]) -> str:
    """A command as a shell line, paths inside the repository shown relative to it."""

    def shown(part: str) -> str:
        path = Path(part)
        return os.path.relpath(path, PROJECT_ROOT) if path.is_absolute() and path.is_relative_to(PROJECT_ROOT) else part

    return shlex.join(shown(part) for part in command)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = command_line(MODULE, argv)
    if not STARSS22_SAMPLE.is_dir():
        print(f"bench_scale: the real STARSS22 annotation files are not at {STARSS22_SAMPLE} (the `shared` folder "
              "beside the repository, absent in a user's clone); nothing to tile", file=sys.stderr)
        return 2
    files = sample_files(STARSS22_SAMPLE)
    if not files:
        print(f"bench_scale: {STARSS22_SAMPLE}: no <folder>/*.csv annotation files; nothing to tile", file=sys.stderr)
        return 2
    work_dir = (args.work or Path(tempfile.mkdtemp(prefix="savgbench-bench-scale-"))).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"work folder: {work_dir} (kept)")

    runs: dict[int, PlanRun | str] = {}
    for copies in args.tiles:
        label = f"{copies}x"
        try:
            source_dir = tiled_source(work_dir, files, copies)
            env = fresh_prefect_home(work_dir, label)
            output_dir = work_dir / f"out-{label}"
            log(f"{label}: {shlex_join(plan_command(source_dir, output_dir))}")
            runs[copies] = run_plan(plan_command(source_dir, output_dir), env, output_dir,
                                    work_dir / f"plan-{label}.log", copies, files)
            run = runs[copies]
            log(f"{label}: {format_rows(run.rows.get('clips'))} clips, {format_rows(run.rows.get('events'))} event "
                f"rows in {run.wall_s:.1f} s, peak tree RSS {format_gb(run.peak_sum_bytes)}")
        except (RuntimeError, OSError, ValueError) as exc:
            log(f"{label} failed: {exc}")
            runs[copies] = failure(exc)

    print_header("SAVGBench planning at scale (issue #13)", command, work_dir, False)
    print(f"source:  {len(files)} real STARSS22 annotation files ({STARSS22_SAMPLE}), "
          f"{sum(f.n_label_frames for f in files) * LABEL_FRAME_S / 3600:.2f} h annotated, tiled "
          + ", ".join(f"{k}x" for k in args.tiles) + " under new ids")
    print(f"run:     {shlex_join(plan_command(Path('SRC'), Path('OUT')))} (fresh OUT; PREFECT_HOME in the work "
          f"folder; task runner: {WORKERS} threads)")
    print()
    print("Details")
    rows = []
    for run in runs.values():
        if isinstance(run, PlanRun):
            rows += run_rows(run)
    print(format_table(rows) if rows else "(no run finished)")
    print()
    print("Tilings")
    print(format_table(overview_rows(runs), header=("tiling", "hours", "recordings", "clips", "event rows", "wall s",
                                                    "CPU s", "peak RSS", "others' load", ""),
                       right_aligned=(1, 2, 3, 4, 5, 6, 7, 8)))
    print()
    print("Issue #13: the goals measured here")
    print(format_table(goal_rows(runs), header=("figure", "value", "goal", "status", "beside it")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
