"""The curation recipe: every parameter that shapes the dataset, with the SAVGBench values as defaults.

A recipe is flat (one level of keys), frozen and hashable; :attr:`Recipe.recipe_hash` identifies it in every
manifest row. Values are coerced (ints where counts are meant, floats for angles and levels) and validated when the
recipe is built, so a bad value fails before any work starts.
"""

import dataclasses
import difflib
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from data_contracts._atomic import write_text_atomic
from data_contracts.classes import CLASS_NAMES, SPLITS, TARGET_CLASSES
from data_contracts.errors import ContractError
from data_contracts.timebase import LABEL_FRAMES_PER_S


@dataclass(frozen=True)
class Recipe:
    """SAVGBench curation parameters (defaults: docs/conventions.md, "The SAVGBench recipe").

    Attributes:
        window_frames: clip length in 100 ms label frames (50 = 5 s).
        hop_frames: step between window starts in label frames (5 = 0.5 s); windows start at frame 0.
        view_azimuths_deg: view directions, degrees, + = left, in [-180, 360).
        view_elevations_deg: view elevations, degrees, + = up, in [-90, 90]; views are all azimuth x elevation pairs.
        h_fov_deg: horizontal field of view of the perspective crop, degrees, in (0, 180).
        content_width, content_height: picture size in pixels before letterboxing.
        frame_width, frame_height: output video frame size in pixels (content letterboxed into it).
        fps: output video frame rate, frames per second: an integer, or "source" to keep each recording's own
            frame rate exactly (a rational: 30000/1001 for 29.97 fps; `clip_fps`). A clip's frame k is the source
            frame shown at start_s + k / fps (frames by timestamp, as for an integer rate), and a clip has every
            frame starting within its window (`clip_frames`: 150 at 29.97 fps for 5 s). Verification and the
            metric count frames at one fixed rate, so "source" does not go with verify.
        audio_rate: output audio sample rate, Hz.
        highpass_hz: high-pass cut-off, Hz (a reconstruction: the published recipe does not give it); None (YAML
            null) switches the high-pass off, as the DCASE2025 stereo SELD generator has none.
        gain_db: gain applied after the high-pass, dB.
        audio_outputs: the audio files written per clip, a list of "stereo" (the SAVGBench mid-side stereo WAV in
            `audio_*/`; always written: the mp4's audio track (`video_audio`), the clipping test and the metric use
            it) and "foa" (the first-order ambisonics rotated to the view, 4 channels ACN/SN3D, after the same
            high-pass and gain, at audio_rate, a 32-bit float WAV in `foa_*/`). Which files exist, not what a clip
            holds: left out of the hash at its default ["stereo"], and adding "foa" later writes only the FOA files.
        label_format: the per-clip label files (`metadata_*/`): "savgbench" (rows frame,class,x,y of the onscreen
            events of interest, as released) or "dcase2025" (header frame,class,source,azimuth,distance,onscreen,
            every event, azimuth relative to the view folded to the front; `curation.labels`). Left out of the
            hash at its default "savgbench".
        video_codec: the clips' video codec, in the same .mp4 container with the same AAC track: "h264" (libx264,
            as released) or "mpeg4" (MPEG-4 Part 2, FFmpeg's native encoder at a fixed quantiser, tag mp4v: what
            the DCASE2025 stereo SELD generator writes with OpenCV's FourCC mp4v). What a clip's mp4 holds, so in
            the ledger's render key; left out of the hash at its default "h264".
        video_audio: the mp4's audio track: "aac" (the clip's stereo, AAC, as released; the default, left out of
            the hash) or None (YAML null: video only, as the DCASE2025 stereo SELD generator writes its mp4s with
            OpenCV, whose writer has no audio; the stereo stays in the clip's WAV). What a clip's mp4 holds, so in
            the ledger's render key.
        layout: where a clip's files go and how they are named (`curation.plan.clip_output_paths`): "savgbench"
            (`video_dev/<clip_id>.mp4`, `audio_dev/`, `metadata_dev/`, `foa_dev/`, as released) or "dcase2025",
            the DCASE2025 stereo SELD dataset's: `stereo_dev/<source_folder>/<name>.wav`, `video_dev/…mp4`,
            `metadata_dev/…csv`, `foa_dev/…wav`, <name> = `<recording_id>_deg<DDD>_start<SSSS>`; it needs integer
            view azimuths (the name's DDD) and elevation 0 only (the name has none). Where files go, not what they
            hold: left out of the hash at its default, and never part of the ledger's render key.
        class_map: (STARSS class id, target class) pairs; the targets are "speech" and "instrument".
        min_onscreen_frames: label frames of a window that must hold an onscreen event of interest to keep it.
        max_views_per_window: keep at most this many views per window (None: no limit).
        clip_peak_limit: a clip whose stereo peak (full scale = 1) exceeds this is rejected as clipped.
        max_av_mismatch_s: audio and video whose lengths differ by at most this many seconds are curated over
            their common length (the rest is trimmed, counted in recordings.trimmed_s); beyond it the recording is
            rejected (duration_mismatch).
        max_video_gap_s: a recording whose video has a hole longer than this many seconds (between two frames'
            timestamps, or before the first frame) is rejected (video_gaps); shorter holes show the previous frame.
        split_rules: (split, glob patterns) pairs matched against a recording's source folder.
        verify: run the visual verification stage (a person detector on every frame of every kept clip).
        detector_weights: ultralytics model file or name for verification (a name such as "yolo11n.pt" is fetched
            by ultralytics on first use where the internet is reachable).
        detector_score_threshold: keep boxes scoring above this, in [0, 1) (0.3 in the SAVGBench metric).
        detector_person_classes: the detector's class names that count as a person; None (or "*") for every
            class, for a model trained on people only.
        detector_image_size_px: the detector's input size in pixels (a multiple of its 32-px stride); the
            256-px-wide picture is scaled to it. 640 is ultralytics' default (a reconstruction: the authors' code
            does not set it). On a CPU, 416 costs under half as much and confirmed as many events on the synthetic
            set; 320 missed some people.
        min_visual_confirmation: reject a clip whose visual confirmation rate is below this, in [0, 1] (None: no
            filter; needs verify). Clips without onscreen speech have no rate and are kept.

    Selection policies, applied after the selection rule in this order; each is off when None (the default), and
    a policy left off is left out of the hash, so recipes from before the policies keep theirs:
        min_view_separation_deg: among one window's kept views, keep views greedily (most onscreen frames of
            interest first, ties in view order) whose centres are at least this many degrees apart (great-circle
            angle), in (0, 180].
        min_clip_gap_frames: two kept clips of one recording and view start at least this many label frames apart
            (greedy in time order, earliest first), >= 1.
        max_clips_per_source_hour: per split, a budget of this many clips per hour of the split's accepted
            recordings (> 0); clips beyond it are left out in the order of a hash of their clip ids.
        class_balance: (target class, weight > 0) pairs, one per target class of class_map, e.g. speech 2,
            instrument 1: the budget's share of each target class (a clip's target class is the one with the most
            onscreen label frames in it, ties: speech). Without a budget, the classes with more candidates are cut
            down to the ratio relative to the scarcest class.
        fill_max_near_duplicates: with a budget, a split whose clips after the clip gap fall short of it is filled
            up from the qualifying clips the two de-duplication policies removed (`curation.selection.
            fill_from_removed`: each nearly repeats at most one clip kept or filled before it), in the order of a
            hash of their clip ids, shared among the target classes by class_balance, as far as the split's mean
            near-duplicates per clip (`near_duplicate_counts`) stays at most this value, in [0, 2).

    Sampling, instead of the selection rule (left out of the hash with the rule, the default):
        sampling: "rule" (the SAVGBench selection rule and the policies above) or "random": clips drawn uniformly
            as the DCASE2025 stereo SELD generator draws them (`curation.sampling`): (recording, start label frame,
            view) with recordings weighted by their number of start frames, start frames anywhere, view azimuths on
            a grid of `sample_view_step_deg` from 0 (elevations: view_elevations_deg), distinct, deterministic for
            `sample_seed`. view_azimuths_deg and min_onscreen_frames are not used; max_views_per_window and the
            policies must be left off (null).
        sample_clips: with random sampling, the clips each split ends with (>= 1): a clip a later stage rejects
            (clipped audio, visual verification) is replaced by the stream's next draw.
        sample_seed: with random sampling, the seed of the draws (an integer >= 0).
        sample_view_step_deg: with random sampling, the step of the view azimuth grid, in (0, 360] degrees.
    """

    window_frames: int = 50
    hop_frames: int = 5
    view_azimuths_deg: tuple[float, ...] = tuple(float(azimuth) for azimuth in range(0, 360, 10))
    view_elevations_deg: tuple[float, ...] = (0.0,)
    h_fov_deg: float = 100.0
    content_width: int = 256
    content_height: int = 144
    frame_width: int = 256
    frame_height: int = 256
    fps: int | str = 4
    audio_rate: int = 16000
    highpass_hz: float | None = 50.0
    gain_db: float = 38.0
    audio_outputs: tuple[str, ...] = ("stereo",)
    label_format: str = "savgbench"
    video_codec: str = "h264"
    video_audio: str | None = "aac"
    layout: str = "savgbench"
    class_map: tuple[tuple[int, str], ...] = ((0, "speech"), (1, "speech"), (9, "instrument"))
    min_onscreen_frames: int = 40
    max_views_per_window: int | None = None
    clip_peak_limit: float = 0.9999
    max_av_mismatch_s: float = 1.0
    max_video_gap_s: float = 1.0
    split_rules: tuple[tuple[str, tuple[str, ...]], ...] = (("generation", ("dev-*",)), ("evaluation", ("eval*",)))
    verify: bool = False
    detector_weights: str = "yolo11n.pt"
    detector_score_threshold: float = 0.3
    detector_person_classes: tuple[str, ...] | None = ("person",)
    detector_image_size_px: int = 640
    min_visual_confirmation: float | None = None
    min_view_separation_deg: float | None = None
    min_clip_gap_frames: int | None = None
    max_clips_per_source_hour: float | None = None
    class_balance: tuple[tuple[str, float], ...] | None = None
    fill_max_near_duplicates: float | None = None
    sampling: str = "rule"
    sample_clips: int | None = None
    sample_seed: int | None = None
    sample_view_step_deg: float | None = None

    def __post_init__(self) -> None:
        # Coercing here (not only in load_recipe) means a Recipe built in code is checked and hashed the same way.
        for key, value in _coerce_fields(self).items():
            object.__setattr__(self, key, value)
        _validate(self)

    def class_map_dict(self) -> dict[int, str]:
        """``class_map`` as a dict: STARSS class id -> target class ("speech" or "instrument")."""
        return dict(self.class_map)

    def class_balance_dict(self) -> dict[str, float] | None:
        """``class_balance`` as a dict: target class -> weight (None when the policy is off)."""
        return None if self.class_balance is None else dict(self.class_balance)

    def split_rules_dict(self) -> dict[str, tuple[str, ...]]:
        """``split_rules`` as a dict: split name -> glob patterns for source folders."""
        return dict(self.split_rules)

    @property
    def v_fov_deg(self) -> float:
        """Vertical field of view in degrees that keeps square pixels in the content picture (~67.67 at 16:9)."""
        half_h_fov = math.radians(self.h_fov_deg) / 2
        return math.degrees(2 * math.atan(math.tan(half_h_fov) * self.content_height / self.content_width))

    @property
    def window_s(self) -> float:
        """Clip length in seconds."""
        return self.window_frames / LABEL_FRAMES_PER_S

    @property
    def hop_s(self) -> float:
        """Step between window starts in seconds."""
        return self.hop_frames / LABEL_FRAMES_PER_S

    @property
    def frames_per_clip(self) -> int:
        """Video frames per clip (window_s * fps; validated to be integral). Needs an integer fps: with
        fps "source" the count depends on the recording (`clip_frames`)."""
        if self.fps == SOURCE_FPS:
            raise ValueError("recipe: fps='source': frames per clip depend on each recording's frame rate "
                             "(clip_frames(clip_fps(source_fps)))")
        return self.window_frames * self.fps // LABEL_FRAMES_PER_S

    def clip_fps(self, source_fps: Fraction | None = None) -> Fraction:
        """The clips' exact frame rate: `fps`, or with fps "source" the recording's own rate `source_fps` (exact,
        e.g. Fraction(30000, 1001); ValueError when it is not given)."""
        if self.fps != SOURCE_FPS:
            return Fraction(self.fps)
        if source_fps is None or source_fps <= 0:
            raise ValueError(f"recipe: fps='source' needs the source's frame rate, got {source_fps!r}")
        return Fraction(source_fps)

    def clip_frames(self, fps: Fraction) -> int:
        """Video frames of a clip at the exact rate `fps`: those starting within the window, k / fps < window_s,
        i.e. ceil(window_s · fps) (20 at 4 fps; 150 at 30000/1001 fps, the last ending 5 ms after the window)."""
        return math.ceil(Fraction(self.window_frames, LABEL_FRAMES_PER_S) * Fraction(fps))

    @property
    def samples_per_clip(self) -> int:
        """Audio samples per channel per clip (window_s * audio_rate; validated to be integral)."""
        return self.window_frames * self.audio_rate // LABEL_FRAMES_PER_S

    def hashed_dict(self) -> dict[str, Any]:
        """`to_dict` without the keys that are at their "as before" value: a selection policy that is off (None),
        the sampling keys with the selection rule, and a key of `LATER_KEY_DEFAULTS` at its default. What the hash (and
        the ledger's render key) digest, so a recipe that sets none of the later keys hashes as it did before they
        existed."""
        return {key: value for key, value in self.to_dict().items()
                if not (key in POLICY_KEYS and value is None)
                and not (key in SAMPLING_KEYS and self.sampling == "rule")
                and not (key in LATER_KEY_DEFAULTS and value == LATER_KEY_DEFAULTS[key])}

    @property
    def recipe_hash(self) -> str:
        """First 16 hex digits of the sha256 of the recipe's canonical JSON (`hashed_dict`); equal recipes hash
        equally anywhere."""
        canonical = json.dumps(_canonical_numbers(self.hashed_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain YAML/JSON types (lists, dicts, numbers, strings); load_recipe accepts it back."""
        result: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "class_map" or (field.name == "class_balance" and value is not None):
                value = dict(value)
            elif field.name == "split_rules":
                value = {split: list(patterns) for split, patterns in value}
            elif isinstance(value, tuple):
                value = list(value)
            result[field.name] = value
        return result


def load_recipe(
    source: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Iterable[str] | Mapping[str, Any] | None = None,
) -> Recipe:
    """Build a recipe from defaults, then ``source``, then ``overrides``.

    ``source`` is None (defaults only), a path to a flat YAML mapping, a recipe name, or a mapping. A name is a string
    without a path separator and without a .yaml/.yml suffix that is not an existing file: the recipe of that name
    shipped in ``data_contracts/recipes/<name>.yaml`` (:func:`recipe_names`; ``exhaustive`` is the SAVGBench
    defaults, every qualifying window and view). ``overrides`` is a mapping or
    ``"key=value"`` strings (as given to ``--set``) whose values are parsed as YAML, e.g.
    ``"view_azimuths_deg=[-90, 0, 90]"`` or ``"max_views_per_window=null"``; later overrides win.
    Raises ContractError naming the file or key and the bad value.
    """
    values: dict[str, Any] = {}
    if isinstance(source, Mapping):
        values.update(_known_keys(source, "recipe"))
    elif source is not None:
        path = recipe_path(source)
        values.update(_known_keys(_read_yaml_mapping(path), str(path)))
    if isinstance(overrides, Mapping):
        values.update(_known_keys(overrides, "recipe overrides"))
    elif overrides is not None:
        if isinstance(overrides, str):
            raise ContractError(
                f"recipe overrides: {overrides!r}: expected a list of key=value strings, not one string"
            )
        for override in overrides:
            values.update(_known_keys(dict([_parse_override(override)]), "recipe override"))
    return Recipe(**values)


# The named recipes shipped with the package: <name>.yaml here. Adding one is adding its file.
RECIPES_DIR = Path(__file__).with_name("recipes")
_RECIPE_SUFFIXES = (".yaml", ".yml")


def recipe_names() -> list[str]:
    """Names of the recipes shipped in ``data_contracts/recipes/``, sorted."""
    return sorted(path.stem for path in RECIPES_DIR.glob("*.yaml"))


def recipe_path(source: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """The file a recipe ``source`` names: itself, unless it is a recipe name (a string without a path separator and
    without a .yaml/.yml suffix that is not an existing file), then ``data_contracts/recipes/<name>.yaml``.

    Raises ContractError listing the known names for a name that is none of them.
    """
    if not isinstance(source, str) or _looks_like_path(source) or Path(source).exists():
        return source
    if source not in recipe_names():
        raise ContractError(f"recipe {source!r}: no such file, and no recipe of that name; known names: "
                            f"{', '.join(recipe_names())} (or give the path of a recipe YAML file)")
    return RECIPES_DIR / f"{source}.yaml"


def _looks_like_path(text: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(separator in text for separator in separators) or text.lower().endswith(_RECIPE_SUFFIXES)


def dump_recipe_yaml(recipe: Recipe, path: str | os.PathLike[str]) -> None:
    """Write ``recipe`` as YAML (readable by :func:`load_recipe`) atomically, its hash in a leading comment."""
    body = yaml.safe_dump(recipe.to_dict(), sort_keys=False, default_flow_style=None)
    write_text_atomic(path, f"# recipe_hash: {recipe.recipe_hash}\n{body}")


_FIELD_NAMES = tuple(field.name for field in dataclasses.fields(Recipe))
# The selection policies: each off when None, and then left out of the recipe hash.
POLICY_KEYS = ("min_view_separation_deg", "min_clip_gap_frames", "max_clips_per_source_hour", "class_balance",
               "fill_max_near_duplicates")
# How clips are chosen: the selection rule (then these keys are left out of the recipe hash) or random draws.
SAMPLING_KEYS = ("sampling", "sample_clips", "sample_seed", "sample_view_step_deg")
SAMPLING_MODES = ("rule", "random")
# The audio files a clip can have (`audio_outputs`), in the order they are listed.
AUDIO_OUTPUTS = ("stereo", "foa")
# The per-clip label file formats (`label_format`; written by `curation.labels`).
LABEL_FORMATS = ("savgbench", "dcase2025")
# The clips' video codecs (`video_codec`; encoded by `curation.render`).
VIDEO_CODECS = ("h264", "mpeg4")
# The mp4's audio track (`video_audio`; None: none).
VIDEO_AUDIO = ("aac",)
# Where a clip's files go and how they are named (`layout`; `curation.plan.clip_output_paths`).
LAYOUTS = ("savgbench", "dcase2025")
# Keys added after outputs were curated, with their default as `to_dict` gives it: at the default, a key is left
# out of the hash, so recipes from before it keep theirs.
LATER_KEY_DEFAULTS: dict[str, Any] = {"audio_outputs": ["stereo"], "label_format": "savgbench", "layout": "savgbench",
                                      "video_codec": "h264", "video_audio": "aac"}
# Counts and sizes that must be positive; then every key held as an integer.
_POSITIVE_INT_KEYS = (
    "window_frames",
    "hop_frames",
    "content_width",
    "content_height",
    "frame_width",
    "frame_height",
    "audio_rate",
)
# `fps` that keeps each recording's own frame rate.
SOURCE_FPS = "source"
_INT_KEYS = (*_POSITIVE_INT_KEYS, "min_onscreen_frames", "detector_image_size_px")
_FLOAT_KEYS = ("h_fov_deg", "gain_db", "clip_peak_limit", "max_av_mismatch_s", "max_video_gap_s",
               "detector_score_threshold")
_ANGLE_LIST_KEYS = ("view_azimuths_deg", "view_elevations_deg")


def _read_yaml_mapping(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: cannot read recipe: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ContractError(f"{path}: recipe must be a mapping of keys to values, got {type(loaded).__name__}")
    return loaded


def _parse_override(override: str) -> tuple[str, Any]:
    if not isinstance(override, str) or "=" not in override:
        raise ContractError(f"recipe override {override!r}: expected key=value")
    key, text = override.split("=", 1)
    key = key.strip()
    try:
        return key, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"recipe override {key}={text!r}: value is not valid YAML: {exc}") from exc


def _known_keys(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    for key in values:
        if key not in _FIELD_NAMES:
            close = difflib.get_close_matches(str(key), _FIELD_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ContractError(f"{where}: unknown key {key!r}={values[key]!r}{hint}")
    return dict(values)


def _coerce_fields(recipe: Recipe) -> dict[str, Any]:
    coerced: dict[str, Any] = {}
    for key in _INT_KEYS:
        coerced[key] = _as_int(key, getattr(recipe, key))
    for key in _FLOAT_KEYS:
        coerced[key] = _as_float(key, getattr(recipe, key))
    for key in _ANGLE_LIST_KEYS:
        value = getattr(recipe, key)
        if not isinstance(value, (list, tuple)):
            raise ContractError(f"recipe: {key}={value!r}: expected a list of angles in degrees")
        coerced[key] = tuple(_as_float(key, angle) for angle in value)
    if recipe.max_views_per_window is None:
        coerced["max_views_per_window"] = None
    else:
        coerced["max_views_per_window"] = _as_int("max_views_per_window", recipe.max_views_per_window)
    coerced["class_map"] = _coerce_class_map(recipe.class_map)
    coerced["split_rules"] = _coerce_split_rules(recipe.split_rules)
    if not isinstance(recipe.verify, bool):
        raise ContractError(f"recipe: verify={recipe.verify!r}: expected true or false")
    if not isinstance(recipe.detector_weights, str) or not recipe.detector_weights.strip():
        raise ContractError(f"recipe: detector_weights={recipe.detector_weights!r}: expected a model file or name")
    coerced["detector_person_classes"] = _coerce_person_classes(recipe.detector_person_classes)
    if recipe.min_visual_confirmation is not None:
        coerced["min_visual_confirmation"] = _as_float("min_visual_confirmation", recipe.min_visual_confirmation)
    for key, as_number in (("highpass_hz", _as_float), ("min_view_separation_deg", _as_float),
                           ("min_clip_gap_frames", _as_int), ("max_clips_per_source_hour", _as_float),
                           ("fill_max_near_duplicates", _as_float)):
        value = getattr(recipe, key)
        coerced[key] = None if value is None else as_number(key, value)
    coerced["class_balance"] = _coerce_class_balance(recipe.class_balance)
    coerced["audio_outputs"] = _coerce_audio_outputs(recipe.audio_outputs)
    if recipe.fps != SOURCE_FPS:
        if isinstance(recipe.fps, str):
            raise ContractError(f"recipe: fps={recipe.fps!r}: expected an integer or {SOURCE_FPS!r}")
        coerced["fps"] = _as_int("fps", recipe.fps)
    if recipe.label_format not in LABEL_FORMATS:
        raise ContractError(f"recipe: label_format={recipe.label_format!r}: expected one of {', '.join(LABEL_FORMATS)}")
    if recipe.video_codec not in VIDEO_CODECS:
        raise ContractError(f"recipe: video_codec={recipe.video_codec!r}: expected one of {', '.join(VIDEO_CODECS)}")
    if recipe.video_audio is not None and recipe.video_audio not in VIDEO_AUDIO:
        raise ContractError(f"recipe: video_audio={recipe.video_audio!r}: expected one of {', '.join(VIDEO_AUDIO)}, "
                            "or null for no audio track")
    if recipe.layout not in LAYOUTS:
        raise ContractError(f"recipe: layout={recipe.layout!r}: expected one of {', '.join(LAYOUTS)}")
    for key, as_number in (("sample_clips", _as_int), ("sample_seed", _as_int), ("sample_view_step_deg", _as_float)):
        value = getattr(recipe, key)
        coerced[key] = None if value is None else as_number(key, value)
    return coerced


def _as_int(key: str, value: Any) -> int:
    # Integral floats are accepted (YAML or arithmetic may give 50.0); bools are not numbers here.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value % 1:
        raise ContractError(f"recipe: {key}={value!r}: expected an integer")
    return int(value)


def _as_float(key: str, value: Any) -> float:
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
    raise ContractError(f"recipe: {key}={value!r}: expected a finite number")


def _pairs(key: str, value: Any, expected: str) -> list[tuple[Any, Any]]:
    """A mapping's items, or a sequence of 2-item pairs, as a list; anything else is refused naming the key."""
    pairs = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = list(pairs)
        if not all(len(pair) == 2 for pair in pairs):
            raise TypeError
    except TypeError:
        raise ContractError(f"recipe: {key}={value!r}: expected {expected}") from None
    return pairs


def _coerce_class_map(value: Any) -> tuple[tuple[int, str], ...]:
    pairs = _pairs("class_map", value, "a mapping of class id to target class")
    coerced: dict[int, str] = {}
    for key, target in pairs:
        # JSON turns integer keys into strings, so "9" is accepted as class 9.
        class_id = int(key) if isinstance(key, str) and key.strip().isdigit() else key
        if isinstance(class_id, bool) or not isinstance(class_id, int) or class_id not in CLASS_NAMES:
            raise ContractError(f"recipe: class_map: class id {class_id!r} is not a STARSS23 class (0-12)")
        if target not in TARGET_CLASSES:
            raise ContractError(f"recipe: class_map: {class_id}={target!r}: target must be one of {TARGET_CLASSES}")
        coerced[class_id] = target
    return tuple(sorted(coerced.items()))


def _coerce_class_balance(value: Any) -> tuple[tuple[str, float], ...] | None:
    if value is None:
        return None
    pairs = _pairs("class_balance", value, "a mapping of target class to weight, e.g. {speech: 2, instrument: 1}")
    coerced: dict[str, float] = {}
    for target, weight in pairs:
        if not isinstance(target, str):
            raise ContractError(f"recipe: class_balance: {target!r}: expected a target class name {TARGET_CLASSES}")
        coerced[target] = _as_float(f"class_balance: {target}", weight)
    # Sorted, so that equal mappings compare and hash equal whatever order they were written in.
    return tuple(sorted(coerced.items()))


def _coerce_audio_outputs(value: Any) -> tuple[str, ...]:
    # A single output may be written without a list; order and repeats have no meaning (listed as AUDIO_OUTPUTS).
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise ContractError(f"recipe: audio_outputs={value!r}: expected a list of {', '.join(AUDIO_OUTPUTS)}")
    unknown = [name for name in names if name not in AUDIO_OUTPUTS]
    if unknown:
        raise ContractError(f"recipe: audio_outputs={value!r}: {unknown[0]!r} is not one of {', '.join(AUDIO_OUTPUTS)}")
    if "stereo" not in names:
        raise ContractError(f"recipe: audio_outputs={value!r}: must include 'stereo' (the mp4's audio track, the "
                            "clipping test and the metric use it)")
    return tuple(name for name in AUDIO_OUTPUTS if name in names)


def _coerce_person_classes(value: Any) -> tuple[str, ...] | None:
    # None and "*" both mean every class; a single name may be written without a list.
    if value is None or value == "*":
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ContractError(
            f"recipe: detector_person_classes={value!r}: expected a list of class names, or null / '*' for every class"
        )
    if not names:
        raise ContractError(
            "recipe: detector_person_classes=[]: no class would count as a person; use null or '*' for every class"
        )
    # Order has no meaning, so sorting makes equal choices compare and hash equal.
    return tuple(sorted(set(names)))


def _coerce_split_rules(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    pairs = _pairs("split_rules", value, "a mapping of split to glob patterns")
    coerced: dict[str, tuple[str, ...]] = {}
    for split, given in pairs:
        if split not in SPLITS:
            raise ContractError(f"recipe: split_rules: split {split!r} is not one of {SPLITS}")
        # A single pattern may be written without a list (YAML "evaluation: eval*").
        patterns = [given] if isinstance(given, str) else given
        if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) and p for p in patterns):
            raise ContractError(f"recipe: split_rules: {split}={patterns!r}: expected a list of glob patterns")
        # Pattern order has no meaning, so sorting makes equal rules compare and hash equal.
        coerced[split] = tuple(sorted(set(patterns)))
    return tuple(sorted(coerced.items()))


def _validate(recipe: Recipe) -> None:
    def fail(key: str, problem: str) -> None:
        raise ContractError(f"recipe: {key}={getattr(recipe, key)!r}: {problem}")

    for key in _POSITIVE_INT_KEYS:
        if getattr(recipe, key) <= 0:
            fail(key, "must be > 0")
    if not 0 < recipe.h_fov_deg < 180:
        fail("h_fov_deg", "must be in (0, 180) degrees")
    if recipe.content_width > recipe.frame_width:
        fail("content_width", f"is larger than frame_width={recipe.frame_width}")
    if recipe.content_height > recipe.frame_height:
        fail("content_height", f"is larger than frame_height={recipe.frame_height}")
    if not recipe.view_azimuths_deg:
        fail("view_azimuths_deg", "no views: the list is empty")
    if not recipe.view_elevations_deg:
        fail("view_elevations_deg", "no views: the list is empty")
    for azimuth in recipe.view_azimuths_deg:
        if not -180 <= azimuth < 360:
            fail("view_azimuths_deg", f"azimuth {azimuth:g} is outside [-180, 360) degrees")
    for elevation in recipe.view_elevations_deg:
        if not -90 <= elevation <= 90:
            fail("view_elevations_deg", f"elevation {elevation:g} is outside [-90, 90] degrees")
    # -10 and 350 look the same way: compare azimuths on the circle.
    seen_azimuths: dict[float, float] = {}
    for azimuth in recipe.view_azimuths_deg:
        on_circle = azimuth % 360.0
        if on_circle in seen_azimuths:
            fail("view_azimuths_deg", f"azimuth {azimuth:g} duplicates {seen_azimuths[on_circle]:g} (same view)")
        seen_azimuths[on_circle] = azimuth
    if len(set(recipe.view_elevations_deg)) != len(recipe.view_elevations_deg):
        fail("view_elevations_deg", "duplicate elevations (same view twice)")
    if not 0 <= recipe.min_onscreen_frames <= recipe.window_frames:
        fail("min_onscreen_frames", f"must be in [0, window_frames={recipe.window_frames}]")
    if recipe.max_views_per_window is not None and recipe.max_views_per_window < 1:
        fail("max_views_per_window", "must be >= 1 (or null for no limit)")
    if not recipe.class_map:
        fail("class_map", "no classes of interest: no clip could be kept")
    if recipe.highpass_hz is not None and not 0 < recipe.highpass_hz < recipe.audio_rate / 2:
        fail("highpass_hz", f"must be in (0, audio_rate / 2 = {recipe.audio_rate / 2:g}) Hz, or null for no high-pass")
    if not 0 < recipe.clip_peak_limit <= 1:
        fail("clip_peak_limit", "must be in (0, 1] (full scale = 1)")
    for key in ("max_av_mismatch_s", "max_video_gap_s"):
        if not 0 <= getattr(recipe, key) < math.inf:
            fail(key, "must be a finite number of seconds >= 0")
    if not 0 <= recipe.detector_score_threshold < 1:
        fail("detector_score_threshold", "must be in [0, 1)")
    if recipe.detector_image_size_px <= 0 or recipe.detector_image_size_px % 32:
        fail("detector_image_size_px", "must be a positive multiple of 32 (the detector's stride)")
    if recipe.min_visual_confirmation is not None:
        if not 0 <= recipe.min_visual_confirmation <= 1:
            fail("min_visual_confirmation", "must be in [0, 1] (or null for no filter)")
        if not recipe.verify:
            fail("min_visual_confirmation", "needs verify=true: without the verification stage there is no rate")
    _validate_policies(recipe, fail)
    _validate_sampling(recipe, fail)
    _validate_layout(recipe, fail)
    if recipe.fps == SOURCE_FPS:
        if recipe.verify:
            fail("fps", "verification counts a clip's frames at one fixed rate: give an integer fps with verify=true")
    elif recipe.fps <= 0:
        fail("fps", "must be > 0 (or 'source')")
    elif recipe.window_frames * recipe.fps % LABEL_FRAMES_PER_S:
        fail("fps", f"window_s * fps = {recipe.window_s:g} s * {recipe.fps} is not a whole number of video frames")
    if recipe.window_frames * recipe.audio_rate % LABEL_FRAMES_PER_S:
        fail("audio_rate", f"window_s * audio_rate = {recipe.window_s:g} s * {recipe.audio_rate} is not whole samples")


def _validate_policies(recipe: Recipe, fail: Callable[[str, str], None]) -> None:
    if recipe.min_view_separation_deg is not None and not 0 < recipe.min_view_separation_deg <= 180:
        fail("min_view_separation_deg", "must be in (0, 180] degrees (or null for no separation)")
    if recipe.min_clip_gap_frames is not None and recipe.min_clip_gap_frames < 1:
        fail("min_clip_gap_frames", "must be >= 1 label frame (or null for no gap)")
    if recipe.max_clips_per_source_hour is not None and recipe.max_clips_per_source_hour <= 0:
        fail("max_clips_per_source_hour", "must be > 0 (or null for no budget)")
    if recipe.fill_max_near_duplicates is not None:
        if not 0 <= recipe.fill_max_near_duplicates < 2:
            fail("fill_max_near_duplicates", "must be in [0, 2) near-duplicates per clip (or null for no filling)")
        if recipe.max_clips_per_source_hour is None:
            fail("fill_max_near_duplicates", "fills a clip budget up: set max_clips_per_source_hour too (or null for "
                                             "no filling)")
    if recipe.class_balance is not None:
        weights = recipe.class_balance_dict()
        targets = sorted(set(recipe.class_map_dict().values()))

        def refuse(problem: str) -> None:
            raise ContractError(f"recipe: class_balance={weights!r}: {problem}")

        for target, weight in weights.items():
            if target not in targets:
                refuse(f"{target!r} is not a target class of class_map ({', '.join(targets)})")
            if weight <= 0:
                refuse(f"the weight of {target!r} must be > 0")
        missing = [target for target in targets if target not in weights]
        if missing:
            refuse(f"no weight for target class {missing[0]!r}: give every target class of class_map a weight (or "
                   "null for no balance)")


def _validate_sampling(recipe: Recipe, fail: Callable[[str, str], None]) -> None:
    if recipe.sampling not in SAMPLING_MODES:
        fail("sampling", f"expected one of {', '.join(SAMPLING_MODES)}")
    if recipe.sampling == "rule":
        for key in SAMPLING_KEYS[1:]:
            if getattr(recipe, key) is not None:
                fail(key, "is for sampling: random (the selection rule draws nothing)")
        return
    for key in SAMPLING_KEYS[1:]:
        if getattr(recipe, key) is None:
            fail(key, "sampling: random needs it")
    if recipe.sample_clips < 1:
        fail("sample_clips", "must be >= 1")
    if recipe.sample_seed < 0:
        fail("sample_seed", "must be >= 0")
    if not 0 < recipe.sample_view_step_deg <= 360:
        fail("sample_view_step_deg", "must be in (0, 360] degrees")
    for key in ("max_views_per_window", *POLICY_KEYS):
        if getattr(recipe, key) is not None:
            fail(key, "is a selection policy: with sampling: random every drawn clip is kept (leave it null)")


def _validate_layout(recipe: Recipe, fail: Callable[[str, str], None]) -> None:
    """The dcase2025 layout names a clip by its integer rotation angle and has no elevation in the name."""
    if recipe.layout != "dcase2025":
        return
    if recipe.view_elevations_deg != (0.0,):
        fail("view_elevations_deg", "layout: dcase2025 names clips without an elevation: give [0]")
    if recipe.sampling == "random":
        if not float(recipe.sample_view_step_deg).is_integer():
            fail("sample_view_step_deg", "layout: dcase2025 names clips by an integer angle: give a whole number")
        return
    fractional = [azimuth for azimuth in recipe.view_azimuths_deg if not azimuth.is_integer()]
    if fractional:
        fail("view_azimuths_deg", f"layout: dcase2025 names clips by an integer angle, and {fractional[0]:g} is not "
                                  "a whole number of degrees")


def _canonical_numbers(value: Any) -> Any:
    """Integral floats as ints, so that 10 and 10.0 give the same JSON and the same hash."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _canonical_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_canonical_numbers(item) for item in value]
    return value
