"""Audit a curated set by looking: tables, plots and contact sheets from the manifests, assembled into a static page.

`write_report(output_dir, class_funnel)` reads `manifests/*.parquet` (and `manifests/detections.parquet` when the
verification stage ran), decodes one frame of each sampled clip, and writes `report/index.html` with its images in
`report/audit/`. The selection's funnel per split and target class is not in the manifests: the caller passes the
rows of the run's summary.md (`tasks.report.read_class_funnel_rows`). The page needs no server and no network:
open it from disk.

Everything else here is a function of DataFrames or frames, so it can be used from a notebook too. Plots use
matplotlib's object API on an Agg canvas (no pyplot, no global backend state, safe in worker threads); frames are
annotated with Pillow.

Coordinates follow `curation.geometry`: relative azimuths + = left, pixels of the content picture (x right, y down)
with the letterbox's top bar added when drawing on the full frame. Video frame k (at `fps`, the clip video's exact
nominal rate from its container: 30000/1001 for 29.97 fps) shows label frame floor(k / fps / 0.1 s) of its clip.
"""

from __future__ import annotations

import hashlib
import html
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from curation.geometry import angles_to_unit, unit_to_angles, view_rotation
from curation.media import MediaError, frame_period_s, open_video, probe_media
from curation.selection import near_duplicate_counts
from data_contracts._atomic import write_text_atomic
from data_contracts.classes import SPLITS, TARGET_CLASSES
from data_contracts.timebase import (
    LABEL_FRAME_S,
    label_frame_of_time,
    label_frame_of_video_frame,
    label_frame_start_s,
)

__all__ = [
    "ClipVideo",
    "GROUPS",
    "GROUP_COLOURS",
    "MANIFESTS",
    "NEAR_DUPLICATE_COLUMNS",
    "SheetCell",
    "best_video_frame",
    "class_balance",
    "class_funnel_figure",
    "clips_per_recording_figure",
    "clips_per_view_figure",
    "contact_sheet",
    "draw_clip_cell",
    "event_groups",
    "label_frame_of_video_frame",
    "letterbox_top_px",
    "manifest_funnel",
    "near_duplicate_summary",
    "near_duplicates",
    "near_duplicates_figure",
    "position_histograms_figure",
    "read_manifests",
    "recording_polar_figure",
    "rejects_by_reason",
    "sample_clips",
    "world_directions",
    "write_report",
]

MANIFESTS = ("recordings", "clips", "events", "rejects")
# Written by the verification stage when it runs; the audit draws its boxes when present.
DETECTIONS = "detections"

# Events are shown by the recipe's target class; every other STARSS class is "other".
GROUPS = (*TARGET_CLASSES, "other")
# Bright enough to read on the beige synthetic room and on dark clothes alike; the plots use the same colours.
GROUP_COLOURS = {"speech": "#2f9bff", "instrument": "#ff8a00", "other": "#b4b4b4"}
DETECTION_COLOUR = "#39e639"
SPLIT_COLOURS = {"generation": "#4c72b0", "evaluation": "#dd8452"}

# Fraction of the picture width at each side that counts as "near the edge" in the position histogram.
EDGE_FRACTION = 0.1
CLIPS_PER_SHEET = 20
SHEET_COLUMNS = 4
SHEET_GAP_PX = 4
# zlib level of the contact sheets' PNGs (lossless at any level): 3 writes a 1036×776 sheet in ~40 ms and a few
# per cent larger than optimize=True (level 9), which takes ~0.4 s.
SHEET_PNG_COMPRESS_LEVEL = 3
# Recordings beyond this many are summed into one bar, so the chart stays legible for the 160+ of STARSS23.
MAX_RECORDING_BARS = 40
# Marker geometry (pixels): a ring with ticks that leave the centre clear, so what is under the marker stays visible.
_MARKER_RADIUS_PX = 8
_MARKER_CLEAR_PX = 5
_MARKER_TICK_PX = 12


# ----------------------------------------------------------------------------------------------------------------
# Loading and tables


def read_manifests(output_dir: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The manifests of a curated output as DataFrames: recordings, clips, events, rejects (+ detections if any).

    Dictionary-encoded columns load as categoricals. A nullable boolean column (pyarrow gives pandas an object
    column of True/False/None) is turned into pandas' "boolean" dtype, so no object column is left.
    """
    manifests_dir = Path(output_dir) / "manifests"
    names = list(MANIFESTS)
    if (manifests_dir / f"{DETECTIONS}.parquet").is_file():
        names.append(DETECTIONS)
    tables = {}
    for name in names:
        frame = pd.read_parquet(manifests_dir / f"{name}.parquet")
        for column in frame.columns[frame.dtypes == object]:
            if frame[column].dropna().map(type).eq(bool).all():
                frame[column] = frame[column].astype("boolean")
        tables[name] = frame
    return tables


def event_groups(events: pd.DataFrame) -> pd.Series:
    """Each event's group: its target class ("speech", "instrument") or "other", as a categorical of GROUPS."""
    group = events["target_class"].astype("string").fillna("other")
    return pd.Series(pd.Categorical(group, categories=GROUPS), index=events.index, name="group")


def class_balance(clips: pd.DataFrame) -> pd.DataFrame:
    """Clips per split and target class, and the speech : instrument ratio (the release has about 2 : 1).

    A clip counts for a class when it has at least one label frame with that class onscreen (so a clip holding
    both counts for both, as in the funnel); label-frame totals are given too. Every split is listed, empty or not,
    then "all".
    """
    rows = []
    splits = clips["split"].astype("string")
    for split, in_split in [(name, clips[splits == name]) for name in SPLITS] + [("all", clips)]:
        row = {"split": split, "clips": len(in_split)}
        for target in TARGET_CLASSES:
            row[f"{target} clips"] = int((in_split[f"n_{target}_frames"] > 0).sum())
        for target in TARGET_CLASSES:
            row[f"{target} label frames"] = int(in_split[f"n_{target}_frames"].sum())
        speech, instrument = row["speech clips"], row["instrument clips"]
        row["speech : instrument"] = f"{speech / instrument:.2f} : 1" if instrument else "n/a"
        rows.append(row)
    return pd.DataFrame(rows)


def manifest_funnel(recordings: pd.DataFrame, clips: pd.DataFrame, rejects: pd.DataFrame) -> pd.DataFrame:
    """The funnel as far as the manifests tell it: recordings found, accepted, rejected; clips kept and rejected.

    (Candidate and qualifying (window, view) counts and stage timings are not in the manifests: they are in the
    run's `report/summary.md`.)
    """
    accepted = recordings["status"].astype("string") == "ok"
    clip_rejects = rejects["clip_id"].notna()
    rows = [
        ("recordings found", len(recordings)),
        ("recordings accepted", int(accepted.sum())),
        ("recordings rejected", int((~accepted).sum())),
        ("clips rejected", int(clip_rejects.sum())),
        ("clips kept", len(clips)),
    ]
    for split in SPLITS:
        in_split = clips["split"].astype("string") == split
        rows.append((f"clips kept in {split}", int(in_split.sum())))
        rows.append((f"recordings feeding {split}", int(clips.loc[in_split, "recording_id"].nunique())))
    return pd.DataFrame(rows, columns=["stage", "count"])


def rejects_by_reason(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejects counted per (stage, reason), most frequent first, with one example id and detail each."""
    columns = ["stage", "reason", "count", "example", "detail"]
    if rejects.empty:
        return pd.DataFrame(columns=columns)
    example = rejects["clip_id"].fillna(rejects["recording_id"]).fillna("")
    grouped = rejects.assign(example=example).groupby(["stage", "reason"], observed=True, sort=False)
    table = grouped.agg(count=("detail", "size"), example=("example", "first"), detail=("detail", "first"))
    return table.reset_index().sort_values(["count", "stage", "reason"], ascending=[False, True, True])[columns]


# The clips columns `near_duplicates` reads (with "split", those `near_duplicate_summary` reads), e.g.
# `pq.read_table(path, columns=[*NEAR_DUPLICATE_COLUMNS, "split"])`.
NEAR_DUPLICATE_COLUMNS = ("recording_id", "start_frame", "duration_s", "view_azimuth_deg", "view_elevation_deg",
                          "h_fov_deg")


def near_duplicates(clips: pd.DataFrame) -> pd.Series:
    """Per kept clip, how many other kept clips of its recording nearly repeat it: windows overlapping by more than
    half, view centres closer than h_fov_deg / 2 (`curation.selection.near_duplicate_counts`).

    The window (duration_s in 100 ms label frames) and h_fov_deg are the clips' own; clips of another window length
    or field of view (another recipe) are compared only among themselves. An int64 Series on the clips' index.
    """
    counts = pd.Series(0, index=clips.index, dtype="int64", name="near_duplicates")
    if clips.empty:
        return counts
    window_frames = pd.Series(np.rint(clips["duration_s"].to_numpy(dtype=float) / LABEL_FRAME_S).astype("int64"),
                              index=clips.index)
    columns = [clips[name].to_numpy() for name in
               ("recording_id", "start_frame", "view_azimuth_deg", "view_elevation_deg")]
    for (frames, h_fov_deg), rows in clips.groupby([window_frames, clips["h_fov_deg"]]).indices.items():
        counts.iloc[rows] = near_duplicate_counts(*(column[rows] for column in columns), int(frames), float(h_fov_deg))
    return counts


def near_duplicate_summary(clips: pd.DataFrame, counts: pd.Series) -> pd.DataFrame:
    """Per split, then "all": the clips, the mean of their near-duplicate `counts` (`near_duplicates`, as text with
    two decimals; "n/a" without clips), how many have none, and the most any has."""
    rows = []
    splits = clips["split"].astype("string")
    for split, mask in [(name, (splits == name).to_numpy(dtype=bool)) for name in SPLITS] + [
            ("all", np.ones(len(clips), dtype=bool))]:
        in_split = counts.to_numpy()[mask]
        rows.append({
            "split": split,
            "clips": int(in_split.size),
            "mean near-duplicates": f"{in_split.mean():.2f}" if in_split.size else "n/a",
            "clips with none": int((in_split == 0).sum()),
            "most": int(in_split.max()) if in_split.size else 0,
        })
    return pd.DataFrame(rows)


def world_directions(events: pd.DataFrame, clips: pd.DataFrame) -> pd.DataFrame:
    """World directions of the events in kept clips, one row per (recording, label frame, class, source).

    Events store directions relative to their clip's view; turning them back with the view's rotation
    (`curation.geometry.view_rotation`) is exact for any view elevation. The same recording frame appears in many
    clips (overlapping windows, several views); the first is kept. Columns: recording_id, time_s (from the
    recording's start), class_id, class_name, group, source_index, azimuth_deg, elevation_deg.
    """
    views = clips[["clip_id", "start_frame", "view_azimuth_deg", "view_elevation_deg"]]
    merged = events.merge(views, on="clip_id", how="inner", validate="many_to_one")
    merged["recording_frame"] = merged["start_frame"].astype("int64") + merged["frame"].astype("int64")
    merged = merged.drop_duplicates(["recording_id", "recording_frame", "class_id", "source_index"])
    camera = angles_to_unit(merged["azimuth_deg"].to_numpy(), merged["elevation_deg"].to_numpy())
    world = np.empty_like(camera)
    view_columns = ["view_azimuth_deg", "view_elevation_deg"]
    for (view_azimuth_deg, view_elevation_deg), rows in merged.groupby(view_columns).indices.items():
        # view_rotation maps world to camera (rows are the camera axes), so camera @ rotation maps back.
        world[rows] = camera[rows] @ view_rotation(view_azimuth_deg, view_elevation_deg)
    azimuth_deg, elevation_deg = unit_to_angles(world)
    result = pd.DataFrame({
        "recording_id": merged["recording_id"].to_numpy(),
        "time_s": label_frame_start_s(merged["recording_frame"].to_numpy()),
        "class_id": merged["class_id"].to_numpy(),
        "class_name": merged["class_name"].to_numpy(),
        "group": event_groups(merged).to_numpy(),
        "source_index": merged["source_index"].to_numpy(),
        "azimuth_deg": azimuth_deg,
        "elevation_deg": elevation_deg,
    })
    return result.sort_values(["recording_id", "time_s", "class_id", "source_index"], ignore_index=True)


# ----------------------------------------------------------------------------------------------------------------
# Figures


def _new_figure(width_in: float, height_in: float) -> Figure:
    figure = Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png", dpi=100)


def position_histograms_figure(events: pd.DataFrame, content_width_px: float, h_fov_deg: float) -> Figure:
    """Two histograms per event group: x_px of onscreen events in the picture, and azimuth relative to the view.

    The picture's outer EDGE_FRACTION at each side and the view's field of view are shaded. A set without a
    positional bias has flat x_px histograms; a bump at the edges means many clips only just catch their source.
    """
    figure = _new_figure(11, 3.6)
    ax_x, ax_azimuth = figure.subplots(1, 2)
    groups = event_groups(events)
    onscreen = events["onscreen"].to_numpy(dtype=bool)
    x_bins = np.linspace(0.0, content_width_px, 33)
    # Annotations and views sit on whole degrees and views come every 10°, so relative azimuths of a still source
    # repeat every 10°: 10° bins with edges half-way between integers hold the same values each (no false comb).
    azimuth_bins = np.arange(-180.0, 180.1, 10.0) - 0.5
    for group in GROUPS:
        in_group = (groups == group).to_numpy()
        x_px = events.loc[in_group & onscreen, "x_px"].to_numpy(dtype=float)
        if len(x_px):
            ax_x.hist(x_px, bins=x_bins, histtype="step", linewidth=1.8, color=GROUP_COLOURS[group],
                      label=f"{group} ({len(x_px):,})")
        azimuth = (events.loc[in_group, "azimuth_deg"].to_numpy(dtype=float) + 180.5) % 360.0 - 180.5
        if len(azimuth):
            ax_azimuth.hist(azimuth, bins=azimuth_bins, histtype="step", linewidth=1.8, color=GROUP_COLOURS[group],
                            label=f"{group} ({len(azimuth):,})")
    edge_px = EDGE_FRACTION * content_width_px
    for x0, x1 in ((0.0, edge_px), (content_width_px - edge_px, content_width_px)):
        ax_x.axvspan(x0, x1, color="#000000", alpha=0.06, linewidth=0)
    ax_x.set(xlim=(0, content_width_px), xlabel="x_px in the picture (0 = left edge)", ylabel="onscreen event frames",
             title="Where onscreen events sit in the picture")
    ax_azimuth.axvspan(-h_fov_deg / 2, h_fov_deg / 2, color="#000000", alpha=0.06, linewidth=0,
                       label=f"field of view (±{h_fov_deg / 2:g}°)")
    # + = left: plotted with left on the left, as the picture shows it.
    ax_azimuth.set(xlim=(179.5, -180.5), xticks=np.arange(-180, 181, 45), ylabel="event frames",
                   xlabel="azimuth relative to the view, degrees (+ = left)",
                   title="Event directions relative to their clip's view")
    for ax in (ax_x, ax_azimuth):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, frameon=False)
        ax.grid(alpha=0.25)
    return figure


def clips_per_view_figure(clips: pd.DataFrame) -> Figure:
    """Bar chart of kept clips per view azimuth (all elevations together), stacked by split."""
    figure = _new_figure(11, 3.2)
    ax = figure.subplots()
    counts = clips.groupby(["view_azimuth_deg", clips["split"].astype("string")]).size().unstack(fill_value=0)
    azimuths = counts.index.to_numpy(dtype=float)
    spacing = np.diff(np.sort(azimuths)).min() if len(azimuths) > 1 else 10.0
    bottom = np.zeros(len(azimuths))
    for split in SPLITS:
        if split in counts:
            ax.bar(azimuths, counts[split].to_numpy(), width=0.8 * spacing, bottom=bottom,
                   color=SPLIT_COLOURS[split], label=split)
            bottom += counts[split].to_numpy()
    ax.set(xlabel="view azimuth, degrees (+ = left)", ylabel="clips", title="Clips per view azimuth")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.25)
    return figure


def clips_per_recording_figure(clips: pd.DataFrame) -> Figure:
    """Horizontal bars of kept clips per recording, most first, coloured by split (the rest summed in one bar)."""
    per_recording = clips.groupby("recording_id").agg(clips=("clip_id", "size"), split=("split", "first"))
    per_recording = per_recording.sort_values("clips", ascending=False)
    shown = per_recording.iloc[:MAX_RECORDING_BARS]
    labels = list(shown.index)
    values = list(shown["clips"])
    colours = [SPLIT_COLOURS[str(split)] for split in shown["split"]]
    if len(per_recording) > MAX_RECORDING_BARS:
        rest = per_recording.iloc[MAX_RECORDING_BARS:]
        labels.append(f"{len(rest)} other recordings")
        values.append(int(rest["clips"].sum()))
        colours.append("#999999")
    figure = _new_figure(11, 1.2 + 0.24 * len(labels))
    ax = figure.subplots()
    positions = np.arange(len(labels))
    ax.barh(positions, values, color=colours)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.invert_yaxis()
    total = max(len(clips), 1)
    for position, value in zip(positions, values):
        ax.text(value, position, f" {value} ({100 * value / total:.0f}%)", va="center", fontsize=8)
    ax.set(xlabel="clips", title="Clips per recording")
    for split, colour in SPLIT_COLOURS.items():
        ax.bar(0, 0, color=colour, label=split)
    ax.legend(fontsize=8, frameon=False, loc="lower right")
    ax.margins(x=0.12)
    ax.grid(axis="x", alpha=0.25)
    return figure


def _funnel_count(value) -> float:
    """A funnel cell as a number; "unknown" (or anything else that is not a number) as NaN, a gap in the line."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def class_funnel_figure(rows: Sequence[dict]) -> Figure:
    """The selection's funnel per split and target class: one panel per split, a line per target class over the
    stages in order (rows {"stage", "<split> <target class>": count, ...} as `tasks.report.class_funnel_rows`
    gives them). The clip axis is linear up to 1 and logarithmic above, so candidates and kept clips both show;
    an unknown count leaves a gap."""
    stages = [str(row["stage"]) for row in rows]
    positions = np.arange(len(stages))
    figure = _new_figure(11, 3.8)
    axes = figure.subplots(1, len(SPLITS), sharey=True)
    for ax, split in zip(axes, SPLITS):
        for target in TARGET_CLASSES:
            counts = [_funnel_count(row.get(f"{split} {target}")) for row in rows]
            ax.plot(positions, counts, marker="o", linewidth=1.8, color=GROUP_COLOURS[target], label=target)
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_ylim(bottom=0)
        ax.set_xticks(positions, stages, rotation=30, ha="right", fontsize=8)
        ax.set_title(split)
        ax.grid(alpha=0.25)
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_ylabel("clips (window, view pairs)")
    return figure


def near_duplicates_figure(clips: pd.DataFrame, counts: pd.Series) -> Figure:
    """Histogram per split of the near-duplicate `counts` of the kept clips (`near_duplicates`), as shares of the
    split's clips (the splits' bars side by side, on a log axis so that the few clips repeated many times show),
    with each split's mean as a dashed line."""
    figure = _new_figure(11, 3.2)
    ax = figure.subplots()
    values = counts.to_numpy()
    most = int(values.max()) if values.size else 0
    # Whole counts, one bin each up to 60 bins, wider (still whole) beyond.
    step = max(1, math.ceil((most + 1) / 60))
    edges = np.arange(0, most + step + 1, step) - 0.5
    centres = (edges[:-1] + edges[1:]) / 2
    bar_width = 0.8 * step / len(SPLITS)
    splits = clips["split"].astype("string").to_numpy()
    handles, smallest_share = [], 100.0
    for index, split in enumerate(SPLITS):
        in_split = values[splits == split]
        if not in_split.size:
            continue
        colour = SPLIT_COLOURS[split]
        share, _ = np.histogram(in_split, bins=edges)
        offset = (index - (len(SPLITS) - 1) / 2) * bar_width
        share = 100.0 * share / in_split.size
        smallest_share = min(smallest_share, share[share > 0].min())
        handles.append(ax.bar(centres + offset, share, width=bar_width, color=colour,
                              label=f"{split} ({in_split.size:,} clips)"))
        mean = in_split.mean()
        handles.append(ax.axvline(mean, color=colour, linestyle="--", linewidth=1.2, label=f"{split} mean {mean:.2f}"))
    ax.set(xlabel="other kept clips of the same recording that nearly repeat the clip",
           ylabel="share of the split's clips, %", title="Near-duplicates per kept clip")
    ax.set_xlim(left=-0.5 - step / 2)
    ax.set_yscale("log")
    ax.set_ylim(smallest_share / 2, 150.0)
    if handles:
        ax.legend(handles=handles, fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return figure


# Clips whose (window, view) masks `_view_coverage` holds at once: bounds its memory for recordings of any length.
_COVERAGE_CHUNK_CLIPS = 2048


def _view_coverage(clips: pd.DataFrame, time_mid_s: np.ndarray, theta_mid_deg: np.ndarray) -> np.ndarray:
    """How many `clips` cover each (time, azimuth) cell centre, (len(time_mid_s), len(theta_mid_deg)) floats.

    Horizontal coverage only: a clip covers the azimuths within h_fov_deg / 2 of its view azimuth during its window
    [start_s, start_s + duration_s). The sum over clips of the outer products of the two masks, as one matrix
    product per chunk of clips (whole counts, exact in floats).
    """
    coverage = np.zeros((len(time_mid_s), len(theta_mid_deg)))
    for first in range(0, len(clips), _COVERAGE_CHUNK_CLIPS):
        chunk = clips.iloc[first : first + _COVERAGE_CHUNK_CLIPS]
        start_s = chunk["start_s"].to_numpy(dtype=float)[:, None]
        end_s = start_s + chunk["duration_s"].to_numpy(dtype=float)[:, None]
        off_deg = (theta_mid_deg - chunk["view_azimuth_deg"].to_numpy(dtype=float)[:, None] + 180.0) % 360.0 - 180.0
        in_view = np.abs(off_deg) <= chunk["h_fov_deg"].to_numpy(dtype=float)[:, None] / 2
        in_window = (time_mid_s >= start_s) & (time_mid_s < end_s)
        coverage += in_window.T.astype(float) @ in_view.astype(float)
    return coverage


def recording_polar_figure(directions: pd.DataFrame, clips: pd.DataFrame, title: str) -> Figure:
    """Top-down polar plot of one recording: event directions (angle) over time (radius, outwards).

    Front is up and + azimuth (left) counter-clockwise, as seen from above. The grey shading counts the kept clips
    whose field of view covers each (direction, time): where the curated views looked and when.
    """
    figure = _new_figure(4.2, 4.6)
    ax = figure.add_subplot(projection="polar")
    ax.set_theta_zero_location("N")
    ax.set_theta_direction(1)
    end_s = max(float(directions["time_s"].max()) if len(directions) else 0.0,
                float((clips["start_s"] + clips["duration_s"]).max()) if len(clips) else 0.0) + LABEL_FRAME_S

    theta_edges_deg = np.arange(0.0, 360.1, 2.0)
    time_edges_s = np.linspace(0.0, end_s, max(2, int(math.ceil(end_s / 0.5)) + 1))
    theta_mid_deg = (theta_edges_deg[:-1] + theta_edges_deg[1:]) / 2
    time_mid_s = (time_edges_s[:-1] + time_edges_s[1:]) / 2
    coverage = _view_coverage(clips, time_mid_s, theta_mid_deg)
    if coverage.any():
        mesh = ax.pcolormesh(np.deg2rad(theta_edges_deg), time_edges_s, coverage, cmap="Greys", shading="flat",
                             vmin=0, vmax=coverage.max() * 1.6, rasterized=True)
        colourbar = figure.colorbar(mesh, ax=ax, location="bottom", shrink=0.7, pad=0.08, aspect=30)
        colourbar.set_label("kept clips whose view covers it", fontsize=8)
        colourbar.ax.tick_params(labelsize=7)
    for group in GROUPS:
        rows = directions[directions["group"] == group]
        if len(rows):
            theta_rad = np.deg2rad(rows["azimuth_deg"].to_numpy()) % (2 * np.pi)
            ax.scatter(theta_rad, rows["time_s"], s=5, color=GROUP_COLOURS[group], edgecolors="none", label=group)
    # Plotting autoscales theta to the data; the whole circle is wanted, with angles in [0, 2 pi).
    ax.set_xlim(0.0, 2 * np.pi)
    ax.set_ylim(0, end_s)
    compass = ["0° front", "+90°\nleft", "180° back", "−90°\nright"]
    ax.set_xticks(np.deg2rad([0, 90, 180, 270]), compass, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_rlabel_position(135)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(-0.12, 1.08), markerscale=2)
    return figure


# ----------------------------------------------------------------------------------------------------------------
# Contact sheets


def letterbox_top_px(frame_width_px: int, frame_height_px: int, h_fov_deg: float, v_fov_deg: float) -> int:
    """Height of the top bar of a letterboxed frame, from the frame size and the view's fields of view.

    The content keeps square pixels (v_fov from h_fov and its aspect), so its height is
    width * tan(v_fov / 2) / tan(h_fov / 2); it spans the frame's width, as in every SAVGBench recipe.
    """
    ratio = math.tan(math.radians(v_fov_deg) / 2) / math.tan(math.radians(h_fov_deg) / 2)
    content_height_px = round(frame_width_px * ratio)
    return (frame_height_px - content_height_px) // 2


def sample_clips(clips: pd.DataFrame, n: int) -> pd.DataFrame:
    """A deterministic sample of n clips: those whose clip_id hashes (sha256) lowest, then ordered by clip_id.

    Hashing spreads the sample over recordings, windows and views, and it does not change when unrelated clips
    are added or removed.
    """
    keys = clips["clip_id"].map(lambda clip_id: hashlib.sha256(clip_id.encode()).hexdigest())
    return clips.loc[keys.sort_values().index[:n]].sort_values("clip_id")


@lru_cache(maxsize=4)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    # matplotlib ships DejaVu Sans, so the same font is there wherever this project is installed.
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size_px)


def draw_clip_cell(frame: np.ndarray, events: pd.DataFrame, detections: pd.DataFrame | None, top_px: int,
                   header: Sequence[str], footer: Sequence[str]) -> np.ndarray:
    """One contact-sheet cell: a letterboxed frame (H, W, 3) with its onscreen events and detections drawn.

    `events` are the clip's onscreen events at the label frame this video frame shows (x_px/y_px in content
    pixels; `top_px` is the letterbox's top bar). Each event gets a ring in its group's colour with ticks that
    leave the centre clear, and its class name; `detections` (x0..y1 in content pixels, or None) get boxes with
    scores. `header` lines go at the top of the top bar, `footer` lines at the bottom of the bottom bar.
    """
    image = Image.fromarray(np.ascontiguousarray(frame))
    draw = ImageDraw.Draw(image)
    small = _font(10)
    if detections is not None:
        for box in detections.itertuples():
            corners = (box.x0, box.y0 + top_px, box.x1, box.y1 + top_px)
            draw.rectangle(corners, outline=DETECTION_COLOUR, width=1)
            draw.text((box.x0 + 2, box.y0 + top_px + 1), f"{box.class_name} {box.score:.2f}", font=small,
                      fill=DETECTION_COLOUR, stroke_width=2, stroke_fill="#000000")
    groups = event_groups(events)
    for event, group in zip(events.itertuples(), groups):
        colour = GROUP_COLOURS[group]
        x, y = float(event.x_px), float(event.y_px) + top_px
        r = _MARKER_RADIUS_PX
        # A dark outline under the coloured ring keeps it visible on light and dark backgrounds alike.
        draw.ellipse((x - r, y - r, x + r, y + r), outline="#000000", width=3)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=2)
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            draw.line((x + dx * _MARKER_CLEAR_PX, y + dy * _MARKER_CLEAR_PX,
                       x + dx * _MARKER_TICK_PX, y + dy * _MARKER_TICK_PX), fill=colour, width=2)
        # Labels go to the marker's inner side, so they stay inside the picture near either edge.
        label_left = x < frame.shape[1] / 2
        draw.text((x + r + 3 if label_left else x - r - 3, y), str(event.class_name), font=small, fill=colour,
                  anchor="lm" if label_left else "rm", stroke_width=2, stroke_fill="#000000")
    caption = _font(11)
    for line_index, line in enumerate(header):
        draw.text((4, 3 + 13 * line_index), line, font=caption, fill="#ffffff")
    for line_index, line in enumerate(reversed(footer)):
        draw.text((4, frame.shape[0] - 4 - 13 * line_index), line, font=caption, fill="#d0d0d0", anchor="ld")
    return np.asarray(image)


@dataclass(frozen=True)
class SheetCell:
    """Where one clip sits on a contact sheet, in sheet pixels, and which of its video frames is shown."""

    clip_id: str
    video_path: str
    video_frame: int
    label_frame: int
    x0_px: int
    y0_px: int
    width_px: int
    height_px: int


def contact_sheet(cells: Sequence[np.ndarray], columns: int, gap_px: int = SHEET_GAP_PX):
    """Tile equally sized cells (H, W, 3) row by row on a dark background; returns (sheet, [(x0_px, y0_px)])."""
    height_px, width_px = cells[0].shape[:2]
    rows = math.ceil(len(cells) / columns)
    sheet = np.full((rows * height_px + (rows - 1) * gap_px, columns * width_px + (columns - 1) * gap_px, 3),
                    40, dtype=np.uint8)
    origins = []
    for index, cell in enumerate(cells):
        x0_px = (index % columns) * (width_px + gap_px)
        y0_px = (index // columns) * (height_px + gap_px)
        sheet[y0_px : y0_px + height_px, x0_px : x0_px + width_px] = cell
        origins.append((x0_px, y0_px))
    return sheet, origins


def best_video_frame(label_frames: Sequence[int], n_video_frames: int, fps: Fraction | float) -> int:
    """The video frame, of n_video_frames at `fps`, showing the most of the given events' label frames (one entry
    per onscreen event); ties: the frame nearest the middle of the clip, then the earlier. Frame k shows label frame
    `label_frame_of_video_frame(k, fps)`."""
    counts = pd.Series(label_frames, dtype="int64").value_counts()
    shown = label_frame_of_time(np.arange(n_video_frames) / float(fps))
    events_shown = counts.reindex(shown, fill_value=0).to_numpy()
    distance = np.abs(np.arange(n_video_frames) - (n_video_frames - 1) / 2)
    # lexsort sorts by its last key first: most events, then nearest the middle, then the earliest frame.
    return int(np.lexsort((np.arange(n_video_frames), distance, -events_shown))[0])


class ClipVideo:
    """A video opened once with PyAV: its exact frame rate and frame count from the container (demuxed, nothing
    decoded), and any one of its frames decoded on demand. The contact sheet picks a clip's frame from the first
    two (`best_video_frame`), then decodes only that one.

    `fps` is `curation.media.frame_period_s`'s nominal rate, exact (30000/1001 for 29.97 fps, not the 30 that
    frames over duration give); `n_frames` counts the packets with a timestamp. Use as a context manager. Raises
    MediaError naming the file if it is unreadable or has no frames.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._container, self._video = open_video(self.path)
        try:
            self.fps: Fraction = 1 / frame_period_s(self.path, self._video)
            try:
                # Decoding order; the demuxer ends with an empty packet, which flushes the decoder.
                self._packets = list(self._container.demux(self._video))
            except av.FFmpegError as exc:
                raise MediaError(f"{self.path}: unreadable video packets ({exc})") from exc
            self._showing_pts = sorted(packet.pts for packet in self._packets if packet.pts is not None)
            if not self._showing_pts:
                raise MediaError(f"{self.path}: the video stream has no frames")
        except BaseException:
            self._container.close()
            raise
        self.n_frames = len(self._showing_pts)

    def frame(self, video_frame: int, width_px: int, height_px: int) -> np.ndarray:
        """Frame `video_frame` (0-based, in showing order) as RGB (height_px, width_px, 3), decoding only what it
        needs: from the last keyframe shown at or before it, up to it.

        The picture goes through the filters `curation.media.iter_video_frames` runs (`scale=W:H:flags=area`, then
        rgb24), in-process, so it is the frame that function yields at the same index, pixel for pixel, for a video
        with constant frame timing. Raises MediaError naming the file if the video has no such frame or it does not
        decode.
        """
        if not 0 <= video_frame < self.n_frames:
            raise MediaError(f"{self.path}: no video frame {video_frame} (the video has {self.n_frames} frames)")
        wanted_pts = self._showing_pts[video_frame]
        start = max((index for index, packet in enumerate(self._packets)
                     if packet.is_keyframe and packet.pts is not None and packet.pts <= wanted_pts), default=0)
        try:
            # Forget what an earlier call left in the decoder (frames held back, the end of the stream reached).
            self._video.codec_context.flush_buffers()
            graph = _rgb_graph(self._video, width_px, height_px)
            for packet in self._packets[start:]:
                for frame in self._video.decode(packet):
                    if frame.pts == wanted_pts:
                        graph.push(frame)
                        return graph.pull().to_ndarray()
        except av.FFmpegError as exc:
            raise MediaError(f"{self.path}: video frame {video_frame} does not decode ({exc})") from exc
        raise MediaError(f"{self.path}: video frame {video_frame} (pts {wanted_pts}) did not come out of the decoder")

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> ClipVideo:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _rgb_graph(video, width_px: int, height_px: int) -> av.filter.Graph:
    """A PyAV filter graph taking frames of the stream `video` to rgb24 at width_px × height_px through the filters
    of `curation.media.iter_video_frames` (`scale=W:H:flags=area`, then rgb24): the same pictures, pixel for pixel,
    as that function's ffmpeg gives."""
    graph = av.filter.Graph()
    graph.link_nodes(graph.add_buffer(template=video), graph.add("scale", f"{width_px}:{height_px}:flags=area"),
                     graph.add("format", "rgb24"), graph.add("buffersink")).configure()
    return graph


def _split_sheet(output_dir: Path, frame_size_px: tuple[int, int], clips: pd.DataFrame, events: pd.DataFrame,
                 detections: pd.DataFrame | None):
    """Annotated cells of the sampled clips of one split, and (clip_id, video_path, video frame, label frame) each.

    `frame_size_px` is (width, height) of the clips' videos: one recipe made them all, so one probe tells. Each
    clip's frame is chosen from its onscreen events and its container's frame rate and frame count
    (`ClipVideo`, `best_video_frame`); only that frame is decoded (`ClipVideo.frame`). The events and
    detections of the sampled clips are picked out of the whole tables once, not once per clip.
    """
    width_px, height_px = frame_size_px
    sampled = sample_clips(clips, CLIPS_PER_SHEET)
    in_sample = events["clip_id"].isin(sampled["clip_id"])
    onscreen_by_clip = _rows_by_clip(events[in_sample & events["onscreen"]])
    boxes_by_clip = None
    if detections is not None:
        boxes_by_clip = _rows_by_clip(detections[detections["clip_id"].isin(sampled["clip_id"])])
    cells, records = [], []
    for clip in sampled.itertuples():
        onscreen = onscreen_by_clip.get(clip.clip_id, events.iloc[:0])
        with ClipVideo(output_dir / clip.video_path) as video:
            fps = video.fps
            k = best_video_frame(onscreen["frame"].to_numpy(), video.n_frames, fps)
            frame = video.frame(k, width_px, height_px)
        top_px = letterbox_top_px(width_px, height_px, clip.h_fov_deg, clip.v_fov_deg)
        label_frame = label_frame_of_video_frame(k, fps)
        shown = onscreen[onscreen["frame"] == label_frame]
        boxes = None
        if boxes_by_clip is not None:
            clip_boxes = boxes_by_clip.get(clip.clip_id, detections.iloc[:0])
            boxes = clip_boxes[clip_boxes["frame"] == k]
        end_s = clip.start_s + clip.duration_s
        header = [clip.recording_id, f"{clip.start_s:.1f}–{end_s:.1f} s · view az {clip.view_azimuth_deg:+g}° "
                                     f"el {clip.view_elevation_deg:+g}° · {clip.split}"]
        footer = [f"video frame {k} = label frame {label_frame} · {len(shown)} onscreen"]
        verification = []
        if boxes is not None:
            verification.append(f"{len(boxes)} detection boxes")
        rate = getattr(clip, "visual_confirmation_rate", None)
        if rate is not None and not pd.isna(rate):
            verification.append(f"{100 * rate:.0f}% visually confirmed")
        if verification:
            footer.append(" · ".join(verification))
        cells.append(draw_clip_cell(frame, shown, boxes, top_px, header, footer))
        records.append((clip.clip_id, clip.video_path, k, label_frame))
    return cells, records


def _rows_by_clip(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of `table` per clip_id (each clip's rows in table order), split in one pass."""
    return {str(clip_id): rows for clip_id, rows in table.groupby(table["clip_id"].astype("string"), sort=False)}


# ----------------------------------------------------------------------------------------------------------------
# The page


def write_report(output_dir: str | os.PathLike[str], class_funnel: Sequence[dict] | None = None) -> Path:
    """Write `report/index.html` and its images (`report/audit/`) for a curated output; returns the html path.

    `class_funnel` is the selection's funnel per split and target class, as the rows of the run's summary.md
    (`tasks.report.read_class_funnel_rows`: {"stage", "<split> <target class>": count or "unknown", ..., "all"});
    shown as a table and a figure with the funnel. None or no rows (an output whose summary.md has no such table):
    the page says so. The images are written to a fresh folder that then replaces the old one, so a re-run leaves
    no stale plots.
    """
    output_dir = Path(output_dir).resolve()
    tables = read_manifests(output_dir)
    recordings, clips, events, rejects = (tables[name] for name in MANIFESTS)
    detections = tables.get(DETECTIONS)
    near = near_duplicates(clips)
    report_dir = output_dir / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".audit-", dir=report_dir))
    try:
        sections = _build_sections(output_dir, staging, recordings, clips, events, rejects, detections,
                                   list(class_funnel or ()), near)
        assets = report_dir / "audit"
        if assets.exists():
            shutil.rmtree(assets)
        staging.chmod(0o755)  # mkdtemp makes it private; the report is meant to be shared like the data
        staging.rename(assets)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    recipe_hashes = sorted(set(clips["recipe_hash"]) | set(recordings["recipe_hash"]))
    ratio = class_balance(clips).set_index("split").loc["all", "speech : instrument"]
    mean_near = f"{near.mean():.2f}" if len(near) else "n/a"
    headline = (f"<b>{len(clips):,}</b> clips from <b>{clips['recording_id'].nunique()}</b> of {len(recordings)} "
                f"recordings · speech : instrument <b>{ratio}</b> · near-duplicates per clip <b>{mean_near}</b> · "
                f"<b>{len(rejects)}</b> rejects")
    path = report_dir / "index.html"
    write_text_atomic(path, _page(output_dir, recipe_hashes, headline, sections))
    return path


def _build_sections(output_dir: Path, assets: Path, recordings, clips, events, rejects, detections,
                    class_funnel: list[dict], near: pd.Series) -> list[str]:
    """HTML of each section, writing its images into `assets` (linked as audit/<name>)."""
    def figure_img(figure: Figure, name: str, alt: str) -> str:
        _save_png(figure, assets / name)
        return f'<img src="audit/{name}" alt="{html.escape(alt)}">'

    h_fov_deg = float(clips["h_fov_deg"].iloc[0]) if len(clips) else 100.0
    frame_size_px = (256, 256)
    if len(clips):
        info = probe_media(output_dir / clips["video_path"].iloc[0])
        frame_size_px = (info.width_px, info.height_px)
    # The picture spans the frame's width (letterbox bars are top and bottom only).
    content_width_px = float(frame_size_px[0])
    balance = class_balance(clips)
    sections = []

    run_summary = ('the run\'s <a href="summary.md">summary.md</a>' if (output_dir / "report" / "summary.md").is_file()
                   else "the curate run's summary.md")
    if class_funnel:
        funnel_table = pd.DataFrame(class_funnel)
        counts = [column for column in funnel_table.columns if column != "stage"]
        known = any(not math.isnan(_funnel_count(row.get(column))) for row in class_funnel for column in counts)
        class_funnel_html = (
            _table(funnel_table, "class-funnel", "Funnel per split and target class", right=counts)
            + (figure_img(class_funnel_figure(class_funnel), "class_funnel.png",
                          "funnel per split and target class") if known else "")
            + '<p class="note">From ' + run_summary + ": clips (window, view pairs) per split and target class at "
              "each step of the selection, in order; a policy that is off keeps every clip of the step before. "
              "\"rendered\" counts the clips written before verification, \"kept\" those the manifests list.</p>")
    else:
        class_funnel_html = (
            '<h3>Funnel per split and target class</h3><p class="note" id="no-class-funnel">Not available: '
            f"{run_summary} has no funnel per split and target class (an output written before the selection "
            "policies, or no summary at all). A new <code>savgbench curate</code> or <code>savgbench plan</code> "
            "run writes it.</p>")
    sections.append(_section("funnel", "Funnel and rejects", (
        '<div class="pair">'
        + _table(manifest_funnel(recordings, clips, rejects), "funnel", "Funnel")
        + _table(rejects_by_reason(rejects), "rejects", "Rejects by reason", empty="No rejects.")
        + "</div>"
        + '<p class="note">From the manifests. Candidate and qualifying (window, view) counts and stage timings are '
          f"in {run_summary}.</p>"
        + class_funnel_html
    )))

    sections.append(_section("balance", "Class balance", (
        _table(balance, "balance", "Clips per split and target class")
        + '<p class="note">A clip counts for a class when at least one of its label frames has that class onscreen; '
          "a clip with both counts for both. The SAVGBench release has speech : instrument ≈ 2 : 1.</p>"
    )))

    h_fov_text = "/".join(f"{value:g}°" for value in sorted(set(clips["h_fov_deg"]))) or "h_fov"
    sections.append(_section("near-duplicates", "Near-duplicates", (
        _table(near_duplicate_summary(clips, near), "near-duplicates", "Near-duplicates per kept clip",
               right=["mean near-duplicates"])
        + figure_img(near_duplicates_figure(clips, near), "near_duplicates.png",
                     "histogram of near-duplicates per kept clip, per split")
        + '<p class="note">For each kept clip, the other kept clips of the same recording whose windows overlap by '
          f"more than half and whose view centres are closer than half the horizontal field of view ({h_fov_text} "
          "/ 2): the same moment seen again from nearly the same direction. The release preset is calibrated to a "
          "mean of at most 1.0; keeping every qualifying window and view gives about 50 on real trajectories.</p>"
    ) if len(clips) else '<p class="note">No clips were kept.</p>'))

    sections.append(_section("positions", "Where the events are", figure_img(
        position_histograms_figure(events, content_width_px, h_fov_deg), "positions.png",
        "histograms of onscreen x_px and relative azimuth per class",
    ) if len(events) else '<p class="note">No events: no clips were kept.</p>'))

    sections.append(_section("views", "Views and recordings", (
        figure_img(clips_per_view_figure(clips), "clips_per_view.png", "clips per view azimuth")
        + figure_img(clips_per_recording_figure(clips), "clips_per_recording.png", "clips per recording")
    ) if len(clips) else '<p class="note">No clips were kept.</p>'))

    sheets = []
    for split in SPLITS:
        in_split = clips[clips["split"].astype("string") == split]
        if in_split.empty:
            sheets.append(f"<h3>{split}</h3><p class=\"note\">No clips in this split.</p>")
            continue
        cells, records = _split_sheet(output_dir, frame_size_px, in_split, events, detections)
        sheet, origins = contact_sheet(cells, SHEET_COLUMNS)
        name = f"contact_sheet_{split}.png"
        Image.fromarray(sheet).save(assets / name, compress_level=SHEET_PNG_COMPRESS_LEVEL)
        layout = [SheetCell(clip_id, video_path, k, label_frame, x0, y0, cells[0].shape[1], cells[0].shape[0])
                  for (clip_id, video_path, k, label_frame), (x0, y0) in zip(records, origins)]
        sheets.append(_sheet_html(split, name, sheet.shape, layout, len(in_split)))
    detections_note = ("Green boxes are the verification stage's detections in the shown frame, with scores."
                       if detections is not None else "The verification stage did not run: no detection boxes.")
    chips = " ".join(f'<span class="chip" style="background:{GROUP_COLOURS[group]}">{label}</span>'
                     for group, label in zip(GROUPS, ("speech", "instrument", "other classes")))
    sections.append(_section("sheets", "Contact sheets", (
        f'<p class="note">Per split, {CLIPS_PER_SHEET} clips sampled by the hash of their id (the same sample on every '
        "run), each at its video frame with the most onscreen events. Rings mark onscreen events at (x_px, y_px): "
        f"{chips}. {detections_note} Click a clip to play it.</p>" + "".join(sheets)
    )))

    directions = world_directions(events, clips)
    directions_by_recording = dict(tuple(directions.groupby("recording_id", sort=False)))
    status = recordings.set_index("recording_id")
    plots = []
    for recording_id, recording_clips in clips.groupby("recording_id", sort=True):
        split = status.loc[recording_id, "split"]
        figure = recording_polar_figure(directions_by_recording.get(recording_id, directions.iloc[:0]), recording_clips,
                                        f"{recording_id}\n{split} · {len(recording_clips)} clips")
        plots.append(figure_img(figure, f"recording_{recording_id}.png", f"event directions of {recording_id}"))
    sections.append(_section("recordings", "Recordings from above", (
        '<p class="note">Each recording seen from above (front up, left to the left): event directions in the kept '
        "clips, time growing outwards; grey shows how many kept clips' fields of view cover each direction and time. "
        "World directions are the events' relative directions turned back by their clip's view.</p>"
        f'<div class="grid">{"".join(plots)}</div>'
    )))
    return sections


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def _table(frame: pd.DataFrame, name: str, caption: str, empty: str = "none", right: Sequence[str] = ()) -> str:
    """A table with a caption; numeric columns, and those named in `right` (numbers as text), right-aligned. An
    empty frame gives a note instead of a bare header."""
    if frame.empty:
        return f'<div><h3>{html.escape(caption)}</h3><p class="note" id="table-{name}">{html.escape(empty)}</p></div>'
    numeric = [pd.api.types.is_numeric_dtype(frame[column]) or column in right for column in frame.columns]
    head = "".join(f'<th{" class=num" if is_number else ""}>{html.escape(str(column))}</th>'
                   for column, is_number in zip(frame.columns, numeric))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=num" if is_number else ""}>{html.escape(str(value))}</td>'
                         for value, is_number in zip(row, numeric)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return (f'<div><h3>{html.escape(caption)}</h3><table class="data" id="table-{name}">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _sheet_html(split: str, name: str, shape, layout: Sequence[SheetCell], n_clips: int) -> str:
    areas = "".join(
        f'<area shape="rect" coords="{c.x0_px},{c.y0_px},{c.x0_px + c.width_px},{c.y0_px + c.height_px}" '
        f'href="../{html.escape(c.video_path)}" title="{html.escape(c.clip_id)}" alt="{html.escape(c.clip_id)}" '
        f'data-clip-id="{html.escape(c.clip_id)}" data-video-frame="{c.video_frame}" '
        f'data-label-frame="{c.label_frame}">'
        for c in layout
    )
    return (f"<h3>{split} <small>{len(layout)} of {n_clips} clips</small></h3>"
            f'<img class="sheet" src="audit/{name}" usemap="#map-{split}" width="{shape[1]}" height="{shape[0]}" '
            f'alt="contact sheet of the {split} split"><map name="map-{split}">{areas}</map>')


_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; background: #fafafa; }
header { background: #23272e; color: #eee; padding: 14px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header code { color: #cde; }
nav { margin-top: 6px; } nav a { color: #9cf; margin-right: 14px; text-decoration: none; }
main { max-width: 1120px; margin: 0 auto; padding: 8px 28px 40px; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 4px 18px 16px; margin: 18px 0; }
h2 { font-size: 17px; border-bottom: 1px solid #eee; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 14px 0 6px; } h3 small { color: #777; font-weight: normal; }
table.data { border-collapse: collapse; margin: 6px 18px 6px 0; font-size: 13px; vertical-align: top; }
table.data th, table.data td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
table.data .num { text-align: right; font-variant-numeric: tabular-nums; }
table.data th { background: #f2f4f7; } table.data tr:nth-child(even) td { background: #fbfbfb; }
.pair { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 0 28px; }
.headline { margin-top: 4px; color: #fff; font-size: 15px; } .headline b { color: #ffd479; }
.note { color: #555; font-size: 13px; }
.chip { color: #000; padding: 0 5px; border-radius: 3px; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0; }
img.broken { outline: 3px solid #c00; min-height: 40px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 8px; }
.grid img { border: 1px solid #eee; }
"""

# Marks every image as loaded or broken once the page has loaded: a missing file is outlined in red with its
# path, and a headless browser can check `data-loaded` on every <img>.
_SCRIPT = """
window.addEventListener("load", function () {
  document.querySelectorAll("img").forEach(function (img) {
    var loaded = img.complete && img.naturalWidth > 0;
    img.setAttribute("data-loaded", String(loaded));
    if (!loaded) { img.classList.add("broken"); img.insertAdjacentText("afterend", "missing: " + img.src); }
  });
});
"""


def _page(output_dir: Path, recipe_hashes: Sequence[str], headline: str, sections: Sequence[str]) -> str:
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in (
        ("funnel", "Funnel"), ("balance", "Balance"), ("near-duplicates", "Near-duplicates"),
        ("positions", "Positions"), ("views", "Views"),
        ("sheets", "Contact sheets"), ("recordings", "Recordings")))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>SAVGBench audit: {html.escape(output_dir.name)}</title>"
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<header><h1>SAVGBench audit</h1><div><code>{html.escape(str(output_dir))}</code> · recipe "
        f"<code>{html.escape(', '.join(recipe_hashes))}</code></div><div class=\"headline\">{headline}</div>"
        f"<nav>{nav}</nav></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )
