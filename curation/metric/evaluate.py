"""Spatial AV-Align of generated videos (`savgbench evaluate`): a person detector on the video at 4 fps, an audio
localiser per 100 ms frame, and the metric's rule between them (`curation.metric.av_align`).

A generated clip is an mp4 with stereo audio, 256×256 letterboxed (the 256×144 picture between black bars) or the
bare 256×144 picture, at any frame rate of at least 4 fps; other sizes of the same shapes are scaled to them. The
localisations come from the training-free mid-side localiser (`curation.metric.localize`) or from an external
localiser's per-clip CSV in the authors' SELD format (no header, rows `frame,class,x` at 10 fps, numbers written as
integers or floats such as `12.0,0.0,123.456`, x in pixels of the 256-px-wide picture). Every localisation is scored
with the authors' rule (`match_boxes_authors`), off the picture or not.

The person boxes come from the detector, or from the authors' per-clip object-detection CSVs (no header, rows
`frame,category,x0,y0,x1,y1`, video frames 0–19 at 4 fps, pixels of the 256×256 frame). With both kinds of CSV no
video is read at all (`evaluate_csv_clip`): any pipeline's outputs can be scored.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np

from curation.metric.av_align import AlignCounts, AuthorsRuleError, align_counts, match_boxes_authors
from curation.metric.detect import DetectFn
from curation.metric.localize import localize_mid_side
from curation.media import MediaError, ffmpeg_command, iter_video_frames, probe_media
from data_contracts.classes import TARGET_CLASSES
from data_contracts.manifests import SpatialAvAlignRow
from data_contracts.recipe import SOURCE_FPS, Recipe

__all__ = [
    "EvaluateInputError",
    "MID_SIDE",
    "ClipLayout",
    "clip_layout",
    "read_stereo",
    "read_localizations_csv",
    "DETECTION_COLUMNS",
    "CsvBoxes",
    "read_detections_csv",
    "CsvClip",
    "csv_clips",
    "ClipEvaluation",
    "evaluate_clip",
    "evaluate_csv_clip",
    "evaluate_video",
    "generated_videos",
]

MID_SIDE = "mid_side"


class EvaluateInputError(ValueError):
    """A generated video or a localisation CSV cannot be evaluated; the message names the file and the problem."""


@dataclass(frozen=True)
class ClipLayout:
    """How a generated clip is decoded: frames of width_px × height_px, the picture at `content_box_px`
    (left, top, width, height) inside them, and the source frame rate."""

    width_px: int
    height_px: int
    content_box_px: tuple[int, int, int, int]
    fps: float


def clip_layout(path: Path, recipe: Recipe) -> ClipLayout:
    """The layout of a generated clip from `curation.media.probe_media`: it must have a video stream of the
    recipe's picture shape (content_width : content_height, possibly letterboxed into a taller frame), a frame rate
    of at least the recipe's fps, and a stereo audio stream. Frames are decoded at the recipe's content width."""
    try:
        info = probe_media(path)
    except MediaError:
        raise EvaluateInputError(f"{path}: no readable video stream") from None
    if info.audio_stream is None:
        raise EvaluateInputError(f"{path}: no audio stream (Spatial AV-Align needs stereo audio)")
    if info.audio_channels != 2:
        raise EvaluateInputError(f"{path}: audio is not stereo ({info.audio_stream})")
    source_width_px, source_height_px = info.width_px, info.height_px
    if recipe.fps == SOURCE_FPS:
        raise EvaluateInputError(f"{path}: the metric samples frames at the recipe's fixed fps; this recipe keeps "
                                 "each source's rate (fps 'source'): give an integer fps")
    fps = info.fps
    if not fps >= recipe.fps - 1e-3:
        raise EvaluateInputError(f"{path}: frame rate {fps:g} fps is below the metric's {recipe.fps} fps")
    # Scale to the picture's width; the height then tells bare picture from letterboxed frame.
    width_px = recipe.content_width
    height_px = int(round(source_height_px * width_px / source_width_px))
    if abs(height_px - recipe.content_height) <= 1:
        return ClipLayout(width_px, recipe.content_height, (0, 0, width_px, recipe.content_height), fps)
    if height_px < recipe.content_height:
        raise EvaluateInputError(
            f"{path}: {source_width_px}x{source_height_px} is wider than the {recipe.content_width}:"
            f"{recipe.content_height} picture"
        )
    height_px += height_px % 2
    top = (height_px - recipe.content_height) // 2
    return ClipLayout(width_px, height_px, (0, top, width_px, recipe.content_height), fps)


def read_stereo(path: Path, rate_hz: int) -> np.ndarray:
    """The audio of a media file as float32 (n, 2) at rate_hz."""
    cmd = ffmpeg_command(ffmpeg.input(str(path)).output("pipe:1", format="f32le", vn=None, ac=2, ar=rate_hz))
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        raise MediaError(f"{path}: ffmpeg audio decode failed ({result.stderr.decode(errors='replace')[-300:]})")
    return np.frombuffer(result.stdout, dtype=np.float32).reshape(-1, 2)


def _integral(path: Path, line_number: int, name: str, text: str) -> int:
    """A CSV field that must be a whole number, written as an integer or a float (`12`, `12.0`)."""
    try:
        value = float(text)
    except ValueError:
        raise EvaluateInputError(f"{path}: line {line_number}: {name}={text!r} is not a number") from None
    if not np.isfinite(value) or value != np.floor(value):
        raise EvaluateInputError(f"{path}: line {line_number}: {name}={text!r} is not a whole number")
    return int(value)


def _finite(path: Path, line_number: int, name: str, text: str) -> float:
    """A CSV field that must be a finite number (a pixel)."""
    try:
        value = float(text)
    except ValueError:
        raise EvaluateInputError(f"{path}: line {line_number}: {name}={text!r} is not a number") from None
    if not np.isfinite(value):
        raise EvaluateInputError(f"{path}: line {line_number}: {name}={text!r} is not a finite number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows(path: Path, columns: tuple[str, ...], *, exact: bool, what: str):
    """(line number, stripped fields) of each non-blank row of one of the authors' CSVs, which have no header.

    A first line is skipped as a header only when it clearly is one: as many fields as `columns`, the first one
    "frame" and none of them a number; any other line that does not parse is refused by the caller, naming it. A
    row with fewer fields than `columns` (or, if `exact`, another number of fields) is refused here. A missing file
    raises EvaluateInputError ("no <what> CSV").
    """
    if not path.is_file():
        raise EvaluateInputError(f"{path}: no {what} CSV for this clip")
    with path.open(newline="") as stream:
        for line_number, row in enumerate(csv.reader(stream), start=1):
            fields = [field.strip() for field in row]
            if not "".join(fields):
                continue
            if (line_number == 1 and len(fields) == len(columns) and fields[0].lower() == "frame"
                    and not any(_is_number(field) for field in fields)):
                continue
            if len(fields) < len(columns) or (exact and len(fields) != len(columns)):
                raise EvaluateInputError(
                    f"{path}: line {line_number}: expected {','.join(columns)}, got {','.join(row)!r}")
            yield line_number, fields


def read_localizations_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label_frame, class_index, x_px) of an external localiser's CSV in the authors' SELD format: no header, rows
    `frame,class,x` at 10 fps, several rows per frame allowed; frame and class whole numbers written as integers or
    floats (`12.0`), x a finite float. A first line that is clearly a header (`frame,class,x`) is skipped; an empty
    file has no rows.

    Raises EvaluateInputError naming the file, line and value of a malformed row.
    """
    frames, classes, xs = [], [], []
    for line_number, row in _csv_rows(path, ("frame", "class", "x"), exact=False, what="localisation"):
        frame = _integral(path, line_number, "frame", row[0])
        class_index = _integral(path, line_number, "class", row[1])
        try:
            x_px = float(row[2])
        except ValueError:
            raise EvaluateInputError(f"{path}: line {line_number}: x={row[2]!r} is not a number") from None
        if frame < 0 or not np.isfinite(x_px):
            raise EvaluateInputError(f"{path}: line {line_number}: frame={frame}, x={x_px}: out of range")
        frames.append(frame)
        classes.append(class_index)
        xs.append(x_px)
    return (np.asarray(frames, dtype=np.int64), np.asarray(classes, dtype=np.int64),
            np.asarray(xs, dtype=np.float64))


DETECTION_COLUMNS = ("frame", "category", "x0", "y0", "x1", "y1")


@dataclass(frozen=True)
class CsvBoxes:
    """The boxes of an object-detection CSV in the authors' format, one entry per row: video frame, the category as
    written (never compared), corners in pixels of the 256×256 frame (x as in the picture)."""

    frame: np.ndarray
    category: np.ndarray
    x0_px: np.ndarray
    y0_px: np.ndarray
    x1_px: np.ndarray
    y1_px: np.ndarray

    @classmethod
    def empty(cls) -> "CsvBoxes":
        return cls(np.zeros(0, np.int64), np.zeros(0, object), *(np.zeros(0, np.float64) for _ in range(4)))

    def __len__(self) -> int:
        return int(self.frame.size)


def read_detections_csv(path: Path, n_video_frames: int) -> CsvBoxes:
    """The boxes of an object-detection CSV in the authors' format: no header, rows `frame,category,x0,y0,x1,y1`,
    frame a whole number in 0 … n_video_frames − 1 (video frames at 4 fps), corners finite pixels with x0 ≤ x1 and
    y0 ≤ y1, numbers written as integers or floats (`12.0`); several rows per frame allowed. A first line that is
    clearly a header (six fields, the first "frame", none a number) is skipped; an empty file has no rows (a clip
    without boxes, where every sound is an FN).

    Raises EvaluateInputError naming the file, line and value of a malformed row.
    """
    columns: dict[str, list] = {name: [] for name in DETECTION_COLUMNS}
    for line_number, row in _csv_rows(path, DETECTION_COLUMNS, exact=True, what="detection"):
        frame = _integral(path, line_number, "frame", row[0])
        if not 0 <= frame < n_video_frames:
            raise EvaluateInputError(f"{path}: line {line_number}: frame={row[0]!r} is outside the clip's video "
                                     f"frames 0–{n_video_frames - 1}")
        if not row[1]:
            raise EvaluateInputError(f"{path}: line {line_number}: category is empty")
        corners = {name: _finite(path, line_number, name, text) for name, text in zip(DETECTION_COLUMNS[2:], row[2:])}
        for low, high in (("x0", "x1"), ("y0", "y1")):
            if corners[low] > corners[high]:
                raise EvaluateInputError(f"{path}: line {line_number}: {low}={row[DETECTION_COLUMNS.index(low)]!r} "
                                         f"is past {high}={row[DETECTION_COLUMNS.index(high)]!r}")
        columns["frame"].append(frame)
        columns["category"].append(row[1])
        for name, value in corners.items():
            columns[name].append(value)
    return CsvBoxes(np.asarray(columns["frame"], dtype=np.int64), np.asarray(columns["category"], dtype=object),
                    *(np.asarray(columns[name], dtype=np.float64) for name in DETECTION_COLUMNS[2:]))


def generated_videos(folder: Path) -> list[Path]:
    """The mp4 files directly in `folder`, sorted (hidden partial files skipped); raises if there are none."""
    if not folder.is_dir():
        raise EvaluateInputError(f"{folder}: not a folder")
    videos = sorted(p for p in folder.glob("*.mp4") if not p.name.startswith("."))
    if not videos:
        raise EvaluateInputError(f"{folder}: no .mp4 files to evaluate")
    return videos


@dataclass(frozen=True)
class CsvClip:
    """A clip scored from CSVs alone: its name and its localisation and detection CSVs (None where that folder has
    no file of this name)."""

    clip: str
    localizations_csv: Path | None
    detections_csv: Path | None


def csv_clips(localizations_dir: Path, detections_dir: Path) -> list[CsvClip]:
    """The clips named by the stems of the `*.csv` files directly in either folder (hidden files skipped), sorted by
    name. A clip with a localisation CSV but no detection CSV has no boxes (every sound an FN, as the authors' rule
    says for a clip without boxes); one with a detection CSV only has no sounds (nothing to score). Raises
    EvaluateInputError when a folder is missing or neither holds a CSV."""
    stems: dict[str, dict[str, Path]] = {}
    for kind, folder in (("localizations", localizations_dir), ("detections", detections_dir)):
        if not folder.is_dir():
            raise EvaluateInputError(f"{folder}: not a folder")
        for path in folder.glob("*.csv"):
            if not path.name.startswith("."):
                stems.setdefault(path.stem, {})[kind] = path
    if not stems:
        raise EvaluateInputError(f"{localizations_dir}, {detections_dir}: no .csv files to evaluate")
    return [CsvClip(stem, found.get("localizations"), found.get("detections")) for stem, found in sorted(stems.items())]


@dataclass(frozen=True)
class ClipEvaluation:
    """Spatial AV-Align of one generated clip: its `row`, and TP/FN per target class (`by_class`, "speech" for the
    CSV's class 0 and "instrument" for 1, as the authors number them; empty for the mid-side localiser, which does
    not classify). Rows of other classes count only in `row`."""

    row: SpatialAvAlignRow
    by_class: dict[str, AlignCounts]


def evaluate_video(path: Path, recipe: Recipe, detect: DetectFn, *, localizations_csv: Path | None = None,
                   root: Path | None = None) -> SpatialAvAlignRow:
    """Spatial AV-Align TP and FN of one generated clip: `evaluate_clip(...).row`."""
    return evaluate_clip(path, recipe, detect, localizations_csv=localizations_csv, root=root).row


def evaluate_clip(path: Path, recipe: Recipe, detect: DetectFn | None, *, localizations_csv: Path | None = None,
                  detections_csv: Path | None = None, root: Path | None = None) -> ClipEvaluation:
    """Spatial AV-Align TP and FN of one generated clip, overall and per class (`video_path` in the row is relative
    to `root` if given).

    Boxes come from `detections_csv` if given (the authors' object-detection format; a missing file is a clip
    without boxes), else the video is resampled to the recipe's fps (frame k shows time k/fps) and every frame goes
    to `detect`. Sounds come from `localizations_csv` if given, else from the mid-side localiser on the clip's
    audio. A sound whose video frame falls outside the clip's `recipe.frames_per_clip` (other than the clamped last
    one) is refused.
    """
    layout = clip_layout(path, recipe)
    if detections_csv is not None:
        boxes = _csv_boxes(detections_csv, recipe)
        n_video_frames = recipe.frames_per_clip
    else:
        if detect is None:
            raise ValueError("evaluate_clip needs a detector or a detections CSV")
        frames = np.stack(list(iter_video_frames(path, layout.width_px, layout.height_px, fps=recipe.fps)))
        boxes = detect(frames, layout.content_box_px)
        n_video_frames = len(frames)
    if localizations_csv is not None:
        label_frame, class_index, x_px = read_localizations_csv(localizations_csv)
        localizer = str(localizations_csv)
    else:
        localization = localize_mid_side(read_stereo(path, recipe.audio_rate), recipe.audio_rate,
                                         h_fov_deg=recipe.h_fov_deg, content_width_px=recipe.content_width,
                                         content_height_px=recipe.content_height)
        label_frame = np.flatnonzero(localization.active)
        x_px = localization.x_px[label_frame]
        class_index = None
        localizer = MID_SIDE
    source = localizations_csv if localizations_csv is not None else path
    video_path = str(path.relative_to(root)) if root is not None else str(path)
    return _score(path.stem, video_path, localizer, n_video_frames, (label_frame, class_index, x_px), boxes, recipe,
                  source)


def evaluate_csv_clip(clip: CsvClip, recipe: Recipe) -> ClipEvaluation:
    """Spatial AV-Align TP and FN of one clip from its CSVs alone, no video read (`savgbench evaluate
    --localizations A --detections B`): sounds from its localisation CSV (none without one), boxes from its
    detection CSV (none without one). The row's `video_path` is the detection CSV (or "" without one), its
    `localizer` the localisation CSV (or "")."""
    if clip.localizations_csv is not None:
        sounds = read_localizations_csv(clip.localizations_csv)
    else:
        sounds = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    boxes = _csv_boxes(clip.detections_csv, recipe)
    source = clip.localizations_csv or clip.detections_csv
    return _score(clip.clip, str(clip.detections_csv or ""), str(clip.localizations_csv or ""),
                  recipe.frames_per_clip, sounds, boxes, recipe, source)


def _csv_boxes(path: Path | None, recipe: Recipe) -> CsvBoxes:
    """The boxes of a detection CSV; a clip without one (None, or no such file) has none."""
    if path is None or not path.exists():
        return CsvBoxes.empty()
    return read_detections_csv(path, recipe.frames_per_clip)


def _score(clip: str, video_path: str, localizer: str, n_video_frames: int, sounds, boxes, recipe: Recipe,
           source: Path) -> ClipEvaluation:
    """The authors' rule on one clip's sounds (label_frame, class_index or None, x_px) and boxes (anything with
    `frame`, `x0_px`, `x1_px`): its row and per-class counts. An AuthorsRuleError becomes an EvaluateInputError
    naming `source`."""
    label_frame, class_index, x_px = sounds
    try:
        matched = match_boxes_authors(label_frame, x_px, boxes.frame, boxes.x0_px, boxes.x1_px,
                                      video_fps=recipe.fps, n_video_frames=recipe.frames_per_clip)
    except AuthorsRuleError as exc:
        raise EvaluateInputError(f"{source}: {exc}") from None
    counts: AlignCounts = align_counts(matched)
    by_class = {} if class_index is None else {
        name: align_counts(matched[class_index == index]) for index, name in enumerate(TARGET_CLASSES)}
    row = SpatialAvAlignRow(clip=clip, video_path=video_path, localizer=localizer, n_video_frames=n_video_frames,
                            tp=counts.tp, fn=counts.fn, score=None if counts.n_scored == 0 else counts.score)
    return ClipEvaluation(row, by_class)
