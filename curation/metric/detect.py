"""Person detection with an ultralytics YOLO model: load the weights (failing fast, with one clear message, when
they cannot be had), then batched detection over clip frames, boxes in pixels of the content picture.

Which of the model's classes count as a person is the caller's choice (the recipe's `detector_person_classes`):
COCO models call it "person"; a model trained on people only may call them anything (the fall-detection YOLOv8s
used by the tests has "Normal" and "Fall"), and None counts every class.

Frames are RGB uint8 (N, H, W, 3), as `curation.media` decodes them. Detection runs on the content picture cut out
of each letterboxed frame: the bars hold nothing to detect, and a smaller input is faster.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "DetectorError",
    "WeightsUnavailableError",
    "WeightsInvalidError",
    "PersonClassError",
    "Detections",
    "DetectFn",
    "PersonDetector",
    "default_device",
    "resolve_weights",
    "load_detector",
    "cached_detector",
    "detect_people",
    "people_detect_fn",
]

# Where ultralytics downloads its released weights from; probed first so that an unreachable network fails in
# seconds rather than after ultralytics' retries with 30 s connect timeouts.
_DOWNLOAD_HOST = ("github.com", 443)
_PROBE_TIMEOUT_S = 5.0
# Tasks whose models predict boxes.
_BOX_TASKS = ("detect", "segment", "pose")

_HOW_TO_PROVIDE = (
    "pass --weights PATH (or set the recipe key detector_weights) to a local ultralytics .pt file, e.g. one "
    "downloaded with `yolo predict model=yolo11n.pt` where the internet is reachable"
)


class DetectorError(RuntimeError):
    """The person detector cannot be used; subclasses say why. Messages name the weights and the offending value."""


class WeightsUnavailableError(DetectorError):
    """The weights are neither a local file nor downloadable from here."""


class WeightsInvalidError(DetectorError):
    """The weights file exists but is not an ultralytics box-predicting checkpoint."""


class PersonClassError(DetectorError):
    """The classes said to be people are not classes of the model."""


@dataclass(frozen=True)
class Detections:
    """Boxes found in a sequence of frames, one entry per box, as equal-length arrays.

    `frame` indexes the input frames; `class_name` is the model's class; `score` in [0, 1]; `x0_px`..`y1_px` are the
    corners in pixels of the content picture (x right, y down), within [0, W] × [0, H].
    """

    frame: np.ndarray
    class_name: np.ndarray
    score: np.ndarray
    x0_px: np.ndarray
    y0_px: np.ndarray
    x1_px: np.ndarray
    y1_px: np.ndarray

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros(0, np.int64), np.zeros(0, object), *(np.zeros(0, np.float64) for _ in range(5)))

    def __len__(self) -> int:
        return int(self.frame.size)


# What the verify stage and the metric's evaluation call to find people: frames (N, H, W, 3) RGB uint8 and the
# content picture's (left, top, width, height) in pixels of them → the person boxes, in pixels of that picture.
DetectFn = Callable[[np.ndarray, tuple[int, int, int, int]], Detections]


@dataclass(frozen=True, eq=False)
class PersonDetector:
    """A loaded model and what is needed to run it: the class ids that count as a person, the device and the input
    size in pixels. Predictions go through `lock`: an ultralytics model is not safe to call from two threads."""

    model: Any
    weights: str
    class_names: dict[int, str]
    person_class_ids: tuple[int, ...]
    device: str
    image_size_px: int
    lock: threading.Lock = field(default_factory=threading.Lock)


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu"."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _download_possible() -> bool:
    if os.environ.get("YOLO_OFFLINE", "").strip().lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection(_DOWNLOAD_HOST, timeout=_PROBE_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def resolve_weights(weights: str) -> Path:
    """The local file of `weights`: a path to an existing file, or an ultralytics release name ("yolo11n.pt")
    found in ultralytics' weights folder or downloaded into it.

    Raises WeightsUnavailableError, without waiting on the network, when the file does not exist, when the name is
    not an ultralytics release, or when it is not on this machine and cannot be downloaded (YOLO_OFFLINE set, or
    github.com unreachable within 5 s).
    """
    given = Path(weights).expanduser()
    if given.is_file():
        return given
    # A name with a folder in it is a path the user means, never something to download.
    if given.parent != Path(".") or weights.startswith("~"):
        raise WeightsUnavailableError(f"detector weights {weights!r}: no such file; {_HOW_TO_PROVIDE}")

    from ultralytics.utils import SETTINGS
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, attempt_download_asset

    cached = Path(SETTINGS["weights_dir"]) / weights
    if cached.is_file():
        return cached
    if weights not in GITHUB_ASSETS_NAMES:
        raise WeightsUnavailableError(
            f"detector weights {weights!r}: not a file here and not an ultralytics release name; {_HOW_TO_PROVIDE}"
        )
    if not _download_possible():
        raise WeightsUnavailableError(
            f"detector weights {weights!r}: not in {cached.parent} and cannot be downloaded here (offline); "
            f"{_HOW_TO_PROVIDE}"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        attempt_download_asset(cached, retry=1)
    except Exception as exc:  # ultralytics raises a variety of network and file errors here
        raise WeightsUnavailableError(
            f"detector weights {weights!r}: download failed ({exc}); {_HOW_TO_PROVIDE}") from exc
    if not cached.is_file():
        raise WeightsUnavailableError(
            f"detector weights {weights!r}: download left no file at {cached}; {_HOW_TO_PROVIDE}")
    return cached


def load_detector(
    weights: str,
    person_classes: Sequence[str] | None,
    *,
    device: str | None = None,
    image_size_px: int = 640,
) -> PersonDetector:
    """Load an ultralytics model from `weights` (file or release name, see `resolve_weights`) for person detection.

    `person_classes` are the class names that count as a person (None: every class). Raises
    WeightsUnavailableError, WeightsInvalidError (not a box-predicting ultralytics checkpoint) or PersonClassError
    (a named class is not one of the model's).
    """
    path = resolve_weights(weights)
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
        # Exported formats load lazily: reading the class names is what makes them load.
        class_names = {int(k): str(v) for k, v in model.names.items()}
    except Exception as exc:  # whatever torch or ultralytics raise, the file is not a usable checkpoint
        raise WeightsInvalidError(f"detector weights {str(path)!r}: not an ultralytics model ({exc})") from exc
    if model.task not in _BOX_TASKS:
        raise WeightsInvalidError(
            f"detector weights {str(path)!r}: a {model.task!r} model predicts no boxes (need one of {_BOX_TASKS})"
        )
    if person_classes is None:
        person_ids = tuple(sorted(class_names))
    else:
        by_name = {name: class_id for class_id, name in class_names.items()}
        missing = [name for name in person_classes if name not in by_name]
        if missing:
            raise PersonClassError(
                f"detector weights {str(path)!r}: detector_person_classes {missing} are not classes of this model "
                f"(its classes: {sorted(by_name)}); set detector_person_classes to some of them, or null for all"
            )
        person_ids = tuple(sorted(by_name[name] for name in person_classes))
    device = device or default_device()
    if device == "cpu":
        _use_every_core()
    return PersonDetector(model=model, weights=str(path), class_names=class_names, person_class_ids=person_ids,
                          device=device, image_size_px=image_size_px)


def _use_every_core() -> None:
    """Let torch's CPU kernels use every core this process may run on (its default can be the physical cores
    only)."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() < cores:
        torch.set_num_threads(cores)


_LOAD_LOCK = threading.Lock()


def cached_detector(weights: str, person_classes: tuple[str, ...] | None, image_size_px: int) -> PersonDetector:
    """`load_detector` on the default device, loaded once per process for the same arguments (recordings verified
    in parallel threads share one model; loading takes seconds and hundreds of MB)."""
    with _LOAD_LOCK:
        return _cached_detector(weights, person_classes, image_size_px)


@lru_cache(maxsize=2)
def _cached_detector(weights: str, person_classes: tuple[str, ...] | None, image_size_px: int) -> PersonDetector:
    return load_detector(weights, person_classes, image_size_px=image_size_px)


def detect_people(
    detector: PersonDetector,
    frames: np.ndarray,
    content_box_px: tuple[int, int, int, int],
    score_threshold: float,
    *,
    batch_size: int = 32,
) -> Detections:
    """Person boxes scoring above `score_threshold` in each frame (N, H, W, 3) RGB uint8, in content pixels.

    `content_box_px` = (left, top, width, height) of the picture inside the frame ((0, 56, 256, 144) for a
    SAVGBench letterboxed frame). Frames go to the model `batch_size` at a time.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected RGB uint8 frames (N, H, W, 3), got {frames.dtype} {frames.shape}")
    left, top, width_px, height_px = content_box_px
    if left < 0 or top < 0 or left + width_px > frames.shape[2] or top + height_px > frames.shape[1]:
        raise ValueError(f"content box {content_box_px} does not fit in {frames.shape[2]}x{frames.shape[1]} frames")
    # ultralytics takes numpy images as BGR (OpenCV's order).
    content = frames[:, top : top + height_px, left : left + width_px, ::-1]
    parts = []
    for first in range(0, len(content), batch_size):
        batch = [np.ascontiguousarray(image) for image in content[first : first + batch_size]]
        with detector.lock:
            results = detector.model.predict(batch, imgsz=detector.image_size_px, conf=score_threshold,
                                             classes=list(detector.person_class_ids), device=detector.device,
                                             verbose=False)
        for offset, result in enumerate(results):
            boxes = result.boxes
            if boxes is None or len(boxes) == 0:
                continue
            xyxy = boxes.xyxy.cpu().numpy().astype(np.float64)
            class_ids = boxes.cls.cpu().numpy().astype(np.int64)
            parts.append((np.full(len(xyxy), first + offset), class_ids, boxes.conf.cpu().numpy().astype(np.float64),
                          xyxy))
    if not parts:
        return Detections.empty()
    frame_index = np.concatenate([p[0] for p in parts])
    class_ids = np.concatenate([p[1] for p in parts])
    score = np.concatenate([p[2] for p in parts])
    xyxy = np.concatenate([p[3] for p in parts])
    # The metric keeps scores strictly above the threshold; ultralytics' own cut is the same today, this pins it.
    keep = score > score_threshold
    # ultralytics clips boxes to the image it was given; clipping again keeps the contract if that ever changes.
    x0, x1 = (np.clip(xyxy[keep, i], 0.0, width_px) for i in (0, 2))
    y0, y1 = (np.clip(xyxy[keep, i], 0.0, height_px) for i in (1, 3))
    names = np.array([detector.class_names[c] for c in class_ids[keep]], dtype=object)
    return Detections(frame=frame_index[keep], class_name=names, score=score[keep], x0_px=x0, y0_px=y0, x1_px=x1,
                      y1_px=y1)


def people_detect_fn(detector: PersonDetector, score_threshold: float) -> DetectFn:
    """`detect_people` with this detector and score threshold, as a DetectFn."""

    def detect(frames: np.ndarray, content_box_px: tuple[int, int, int, int]) -> Detections:
        return detect_people(detector, frames, content_box_px, score_threshold)

    return detect
