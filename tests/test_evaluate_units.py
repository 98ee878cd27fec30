"""`savgbench evaluate` without a detector: reading generated clips (letterboxed or bare picture, frame rates, stereo
only), external localisation CSVs, and TP/FN of a clip with a stub detector that puts boxes where we say."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from curation.metric.detect import Detections
from curation.metric.evaluate import (
    EvaluateInputError,
    clip_layout,
    evaluate_clip,
    evaluate_video,
    read_detections_csv,
    read_localizations_csv,
)
from curation.foa import encode_plane_wave, stereo_weights
from curation.metric.localize import sin_azimuth_to_x_px
from curation.media import VideoEncoder
from data_contracts.manifests import SPATIAL_AV_ALIGN_SCHEMA
from data_contracts.recipe import Recipe
from flows.cli import main

RECIPE = Recipe()
RELATIVE_AZIMUTH_DEG = 20.0
SOURCE_X_PX = float(sin_azimuth_to_x_px(np.sin(np.deg2rad(RELATIVE_AZIMUTH_DEG)), 100.0, 256, 144))


def write_clip(path: Path, width_px=256, height_px=256, fps=4, channels=2, duration_s=5.0) -> Path:
    """A generated clip: grey frames, and a noise source at RELATIVE_AZIMUTH_DEG in mid-side stereo (or mono)."""
    rng = np.random.default_rng(0)
    n_samples = int(duration_s * 16000)
    source = 0.05 * rng.standard_normal(n_samples)
    stereo = encode_plane_wave(source, RELATIVE_AZIMUTH_DEG, 0.0) @ stereo_weights(0.0)
    wav = path.with_suffix(".wav")
    sf.write(wav, stereo if channels == 2 else stereo[:, :1], 16000, subtype="PCM_16")
    frame = np.full((height_px, width_px, 3), 90, np.uint8)
    with VideoEncoder(path, width_px, height_px, fps, audio_wav=wav) as encoder:
        for _ in range(int(duration_s * fps)):
            encoder.write(frame)
    wav.unlink()
    return path


class StubDetector:
    """Boxes [x0, x1] × [40, 100] in every frame; records the content boxes it was given."""

    def __init__(self, x0_px: float, x1_px: float):
        self.x0_px, self.x1_px = x0_px, x1_px
        self.content_boxes = []

    def __call__(self, frames, content_box_px):
        self.content_boxes.append(content_box_px)
        n = len(frames)
        return Detections(np.arange(n), np.array(["person"] * n, dtype=object), np.full(n, 0.9),
                          np.full(n, self.x0_px), np.full(n, 40.0), np.full(n, self.x1_px), np.full(n, 100.0))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated")
    return {
        "letterboxed": write_clip(root / "letterboxed.mp4"),
        "bare_25fps": write_clip(root / "bare_25fps.mp4", height_px=144, fps=25),
        "large": write_clip(root / "large.mp4", width_px=512, height_px=512, fps=8),
        "mono": write_clip(root / "mono.mp4", channels=1),
        "slow": write_clip(root / "slow.mp4", fps=2),
        "too_wide": write_clip(root / "too_wide.mp4", height_px=100),
    }


def test_layouts_of_letterboxed_bare_and_scaled_clips(clips):
    layout = clip_layout(clips["letterboxed"], RECIPE)
    assert (layout.width_px, layout.height_px, layout.content_box_px, layout.fps) == (256, 256, (0, 56, 256, 144), 4)
    layout = clip_layout(clips["bare_25fps"], RECIPE)
    assert (layout.width_px, layout.height_px, layout.content_box_px, layout.fps) == (256, 144, (0, 0, 256, 144), 25)
    layout = clip_layout(clips["large"], RECIPE)
    assert (layout.width_px, layout.height_px, layout.content_box_px) == (256, 256, (0, 56, 256, 144))


@pytest.mark.parametrize(("name", "message"), [
    ("mono", "audio is not stereo"),
    ("slow", "frame rate 2 fps is below the metric's 4 fps"),
    ("too_wide", "256x100 is wider than the 256:144 picture"),
])
def test_clips_that_cannot_be_evaluated_are_refused_naming_the_file(clips, name, message):
    with pytest.raises(EvaluateInputError, match=message) as raised:
        clip_layout(clips[name], RECIPE)
    assert str(clips[name]) in str(raised.value)


@pytest.mark.parametrize("name", ["letterboxed", "bare_25fps", "large"])
def test_a_box_at_the_source_is_a_true_positive_and_one_elsewhere_a_false_negative(clips, name):
    at_source = StubDetector(SOURCE_X_PX - 10, SOURCE_X_PX + 10)
    row = evaluate_video(clips[name], RECIPE, at_source)
    # The AAC clip has 50 label frames of sound; maybe one fewer at the end after the codec's padding.
    assert row.fn == 0 and 49 <= row.tp <= 50 and row.score == 1.0
    assert row.n_video_frames == 20
    assert at_source.content_boxes == [clip_layout(clips[name], RECIPE).content_box_px]
    mirrored = evaluate_video(clips[name], RECIPE, StubDetector(256 - SOURCE_X_PX - 10, 256 - SOURCE_X_PX + 10))
    assert mirrored.tp == 0 and mirrored.fn == row.tp and mirrored.score == 0.0


def test_external_localisations_are_scored_as_given(clips, tmp_path):
    csv_path = tmp_path / "letterboxed.csv"
    # The authors' writer: no header, floats. Frames 0-9 at the box, 10-19 far from it, 20 twice (two classes), one
    # off the picture (an FN: scored like any other), 49 (video frame 20, clamped to 19).
    lines = [f"{f}.0,0.0,{SOURCE_X_PX:.3f}" for f in range(10)] + [f"{f}.0,1.0,240.0" for f in range(10, 20)]
    lines += ["20,0,85", "20,9,240", "21,0,-30", "49.0,1.0,90.5"]
    csv_path.write_text("\n".join(lines) + "\n")
    row = evaluate_video(clips["letterboxed"], RECIPE, StubDetector(SOURCE_X_PX - 10, SOURCE_X_PX + 10),
                         localizations_csv=csv_path)
    assert (row.tp, row.fn) == (12, 12)
    assert row.localizer == str(csv_path)


def test_localisation_csv_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "clip.csv"
    path.write_text("0,1,100\n1,1\n")
    with pytest.raises(EvaluateInputError, match=r"clip.csv: line 2: expected frame,class,x"):
        read_localizations_csv(path)
    path.write_text("0,1,100\n1,1,left\n")
    with pytest.raises(EvaluateInputError, match=r"clip.csv: line 2: x='left' is not a number"):
        read_localizations_csv(path)
    with pytest.raises(EvaluateInputError, match=r"missing.csv: no localisation CSV"):
        read_localizations_csv(tmp_path / "missing.csv")
    path.write_text("3,0,12.5\n4,1,200\n")
    frames, classes, x_px = read_localizations_csv(path)
    assert frames.tolist() == [3, 4] and classes.tolist() == [0, 1] and x_px.tolist() == [12.5, 200.0]


def test_the_authors_seld_csv_is_read_without_a_header_and_with_float_numbers(tmp_path):
    path = tmp_path / "clip.csv"
    # As pandas writes it: no header, every number a float, several rows per frame.
    path.write_text("12.0,0.0,123.456\n12.0,1.0,-3.5\n13.0,0.0,259.0\n")
    frames, classes, x_px = read_localizations_csv(path)
    assert frames.tolist() == [12, 12, 13] and classes.tolist() == [0, 1, 0]
    assert x_px.tolist() == [123.456, -3.5, 259.0]
    assert frames.dtype == np.int64 and classes.dtype == np.int64
    # A header naming the three columns is still accepted.
    path.write_text("frame,class,x\n12,0,100\n")
    assert read_localizations_csv(path)[0].tolist() == [12]
    # An empty file is no rows, not an error.
    path.write_text("")
    assert [a.tolist() for a in read_localizations_csv(path)] == [[], [], []]


@pytest.mark.parametrize(("text", "message"), [
    ("12.5,0.0,100.0\n", r"clip.csv: line 1: frame='12.5' is not a whole number"),
    ("12.0,0.0,100.0\n13.0,0.5,100.0\n", r"clip.csv: line 2: class='0.5' is not a whole number"),
    ("x,0,100\n", r"clip.csv: line 1: frame='x' is not a number"),
    ("12,0,100\nframe,class,x\n", r"clip.csv: line 2: frame='frame' is not a number"),
    ("12,0,nan\n", r"clip.csv: line 1: frame=12, x=nan: out of range"),
    ("-1.0,0,100\n", r"clip.csv: line 1: frame=-1, x=100.0: out of range"),
    ("inf,0,100\n", r"clip.csv: line 1: frame='inf' is not a whole number"),
])
def test_non_integral_or_malformed_frames_and_classes_are_refused_naming_file_line_and_value(tmp_path, text,
                                                                                            message):
    path = tmp_path / "clip.csv"
    path.write_text(text)
    with pytest.raises(EvaluateInputError, match=message):
        read_localizations_csv(path)


def test_a_localisation_past_the_clip_is_refused_naming_the_csv(clips, tmp_path):
    csv_path = tmp_path / "late.csv"
    # Label frame 52 is video frame round(20.8) = 21: outside a 20-frame clip (only 20 is clamped to 19).
    csv_path.write_text("51.0,0.0,100.0\n52.0,0.0,100.0\n")
    message = r"late.csv: label frame 52 is video frame 21, outside the clip's 0–19"
    with pytest.raises(EvaluateInputError, match=message):
        evaluate_video(clips["letterboxed"], RECIPE, StubDetector(90.0, 110.0), localizations_csv=csv_path)


def test_cli_refuses_an_empty_folder(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--weights", str(tmp_path / "none.pt")]) == 2
    assert f"savgbench evaluate: {tmp_path}: no .mp4 files to evaluate" in capsys.readouterr().err


def test_cli_writes_per_clip_parquet_and_pooled_json(tmp_path, capsys, clips, monkeypatch):
    import curation.metric.detect

    folder = tmp_path / "generated"
    folder.mkdir()
    (folder / "a.mp4").symlink_to(clips["letterboxed"])
    (folder / "b.mp4").symlink_to(clips["bare_25fps"])
    stub = StubDetector(SOURCE_X_PX - 10, SOURCE_X_PX + 10)
    # The CLI's detector, replaced by the stub: the real one is tested in test_detect and the slow end-to-end test.
    monkeypatch.setattr(curation.metric.detect, "cached_detector", lambda *args: "detector")
    monkeypatch.setattr(curation.metric.detect, "detect_people",
                        lambda detector, frames, box, threshold: stub(frames, box))
    assert main(["evaluate", str(folder), "--json", str(tmp_path / "result.json")]) == 0
    out = capsys.readouterr().out
    assert "pooled over 2 clips" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert set(result) == {"score", "tp", "fn", "clips", "by_class"}
    assert result["clips"] == 2 and result["fn"] == 0 and result["score"] == 1.0 and result["tp"] >= 98
    # The mid-side localiser does not classify: no per-class figures.
    assert result["by_class"] == {name: {"score": None, "tp": 0, "fn": 0} for name in ("speech", "instrument")}
    table = pq.read_table(folder / "spatial_av_align.parquet")
    assert table.schema.equals(SPATIAL_AV_ALIGN_SCHEMA, check_metadata=False)
    assert table.column("clip").to_pylist() == ["a", "b"]
    assert sum(table.column("tp").to_pylist()) == result["tp"]


def test_cli_scores_the_authors_csvs_pooled_and_per_class(tmp_path, capsys, clips, monkeypatch):
    import curation.metric.detect

    folder, csvs = tmp_path / "generated", tmp_path / "seld"
    folder.mkdir()
    csvs.mkdir()
    (folder / "a.mp4").symlink_to(clips["letterboxed"])
    (folder / "b.mp4").symlink_to(clips["bare_25fps"])
    # a: speech at the person (TP) twice, instrument across the picture (FN) and off it (FN), an unknown class (TP).
    (csvs / "a.csv").write_text(f"0.0,0.0,{SOURCE_X_PX!r}\n0.0,1.0,240.0\n1.0,0.0,{SOURCE_X_PX!r}\n"
                                f"2.0,1.0,-3.0\n3.0,5.0,{SOURCE_X_PX!r}\n")
    # b: an instrument at the person in the clamped last frames (TP) and a speech row off the picture (FN).
    (csvs / "b.csv").write_text(f"49.0,1.0,{SOURCE_X_PX!r}\n50.0,0.0,259.0\n")
    stub = StubDetector(SOURCE_X_PX - 10, SOURCE_X_PX + 10)
    monkeypatch.setattr(curation.metric.detect, "cached_detector", lambda *args: "detector")
    monkeypatch.setattr(curation.metric.detect, "detect_people",
                        lambda detector, frames, box, threshold: stub(frames, box))
    assert main(["evaluate", str(folder), "--localizations", str(csvs), "--json", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["tp"], result["fn"], result["score"]) == (4, 3, round(4 / 7, 6))
    assert result["by_class"] == {"speech": {"score": round(2 / 3, 6), "tp": 2, "fn": 1},
                                  "instrument": {"score": round(1 / 3, 6), "tp": 1, "fn": 2}}
    table = pq.read_table(folder / "spatial_av_align.parquet")
    assert table.column("tp").to_pylist() == [3, 1] and table.column("fn").to_pylist() == [2, 1]


def test_the_authors_detection_csv_is_read_with_integers_or_floats_and_without_a_header(tmp_path):
    path = tmp_path / "clip.csv"
    # Two boxes in frame 3 (integers and pandas' floats mixed), one in the last frame at a fraction of a pixel.
    path.write_text("3,person,10,60,50,150\n3.0,0.0,100.0,70.5,140.25,180.0\n19.0,0,255.5,56,256,199.9\n")
    boxes = read_detections_csv(path, 20)
    assert boxes.frame.tolist() == [3, 3, 19] and boxes.frame.dtype == np.int64
    assert boxes.category.tolist() == ["person", "0.0", "0"]
    assert boxes.x0_px.tolist() == [10.0, 100.0, 255.5] and boxes.x1_px.tolist() == [50.0, 140.25, 256.0]
    assert boxes.y0_px.tolist() == [60.0, 70.5, 56.0] and boxes.y1_px.tolist() == [150.0, 180.0, 199.9]
    # A first line that is clearly a header is skipped.
    path.write_text("frame,category,x0,y0,x1,y1\n3,person,10,60,50,150\n")
    assert read_detections_csv(path, 20).frame.tolist() == [3]
    # An empty file (or one of blank lines) is a clip without boxes, not an error.
    for text in ("", "\n\n"):
        path.write_text(text)
        assert len(read_detections_csv(path, 20)) == 0


@pytest.mark.parametrize(("text", "message"), [
    ("3,person,10,60,50\n", r"clip.csv: line 1: expected frame,category,x0,y0,x1,y1, got '3,person,10,60,50'"),
    ("3,person,10,60,50,150,0.9\n", r"clip.csv: line 1: expected frame,category,x0,y0,x1,y1"),
    ("3,person,10,60,50,150\n20,person,10,60,50,150\n",
     r"clip.csv: line 2: frame='20' is outside the clip's video frames 0–19"),
    ("-1.0,person,10,60,50,150\n", r"clip.csv: line 1: frame='-1.0' is outside the clip's video frames 0–19"),
    ("3.5,person,10,60,50,150\n", r"clip.csv: line 1: frame='3.5' is not a whole number"),
    ("3,person,ten,60,50,150\n", r"clip.csv: line 1: x0='ten' is not a number"),
    ("3,person,10,60,nan,150\n", r"clip.csv: line 1: x1='nan' is not a finite number"),
    ("3,person,50.5,60,50,150\n", r"clip.csv: line 1: x0='50.5' is past x1='50'"),
    ("3,person,10,160,50,150\n", r"clip.csv: line 1: y0='160' is past y1='150'"),
    ("3,,10,60,50,150\n", r"clip.csv: line 1: category is empty"),
    # Only a first line of six words starting with "frame" is a header; these are refused as data.
    ("frame,person,10,60,50,150\n", r"clip.csv: line 1: frame='frame' is not a number"),
    ("3,person,10,60,50,150\nframe,category,x0,y0,x1,y1\n", r"clip.csv: line 2: frame='frame' is not a number"),
])
def test_malformed_detection_rows_are_refused_naming_file_line_and_value(tmp_path, text, message):
    path = tmp_path / "clip.csv"
    path.write_text(text)
    with pytest.raises(EvaluateInputError, match=message):
        read_detections_csv(path, 20)


def test_a_generated_clip_with_a_detection_csv_is_scored_on_its_boxes_without_the_detector(clips, tmp_path):
    boxes = tmp_path / "letterboxed.csv"
    # A box at the source in video frames 0-9 only: the mid-side localiser's sounds of label frames 0-26 (video
    # frames round(0.4 f) = 0-10, within one frame of a box) match, the rest do not.
    boxes.write_text("".join(f"{k},person,{SOURCE_X_PX - 10:.2f},60,{SOURCE_X_PX + 10:.2f},150\n" for k in range(10)))
    evaluation = evaluate_clip(clips["letterboxed"], RECIPE, None, detections_csv=boxes)
    assert evaluation.row.tp == 27 and 49 <= evaluation.row.tp + evaluation.row.fn <= 50
    assert evaluation.row.n_video_frames == 20
    # No detection file for the clip: no boxes, every sound an FN.
    missing = evaluate_clip(clips["letterboxed"], RECIPE, None, detections_csv=tmp_path / "none.csv").row
    assert missing.tp == 0 and missing.fn == evaluation.row.tp + evaluation.row.fn


def csv_folders(root: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """Folders seld/ and boxes/ under root holding `files` ({"seld/a.csv": text, ...})."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root / "seld", root / "boxes"


def test_cli_scores_localisation_and_detection_csvs_alone(tmp_path, capsys):
    seld, boxes = csv_folders(tmp_path, {
        # a: two rows at the box (TP), one past its edge by a fraction truncation forgives (TP), one far (FN).
        "seld/a.csv": "10.0,0.0,100.0\n10.0,1.0,139.9\n11.0,0.0,150.9\n12.0,0.0,200.0\n",
        "boxes/a.csv": "4,person,80,60,110.5,150\n",
        # b: localisations but no detection file: no boxes, every row an FN.
        "seld/b.csv": "0,0,100\n1,1,100\n",
        # c: an empty detection file, same; d: boxes but no sounds: nothing to score.
        "seld/c.csv": "49.0,0.0,100.0\n",
        "boxes/c.csv": "",
        "boxes/d.csv": "0,person,0,60,256,150\n",
    })
    assert main(["evaluate", "--localizations", str(seld), "--detections", str(boxes),
                 "--json", str(tmp_path / "r.json")]) == 0
    printed = capsys.readouterr()
    assert "4 clips" in printed.err and "1 without a detection CSV" in printed.err
    assert "evaluate: 80 / 80 frames (100%)" in printed.err
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["tp"], result["fn"], result["clips"]) == (3, 4, 4)
    assert result["by_class"]["speech"] == {"score": round(2 / 5, 6), "tp": 2, "fn": 3}
    table = pq.read_table(seld / "spatial_av_align.parquet").to_pylist()
    assert [(r["clip"], r["tp"], r["fn"], r["score"]) for r in table] == [
        ("a", 3, 1, 0.75), ("b", 0, 2, 0.0), ("c", 0, 1, 0.0), ("d", 0, 0, None)]
    assert table[0]["video_path"] == str(boxes / "a.csv") and table[0]["localizer"] == str(seld / "a.csv")
    assert table[1]["video_path"] == "" and table[3]["localizer"] == ""


def test_cli_refuses_a_bad_detection_csv_naming_it_and_csvs_without_both_folders(tmp_path, capsys):
    seld, boxes = csv_folders(tmp_path, {"seld/a.csv": "10,0,100\n",
                                         "boxes/a.csv": "4,person,80,60,110,150\n4,person,80,60,110\n"})
    assert main(["evaluate", "--localizations", str(seld), "--detections", str(boxes)]) == 2
    assert f"savgbench evaluate: {boxes / 'a.csv'}: line 2: expected frame,category,x0,y0,x1,y1" in \
        capsys.readouterr().err
    assert main(["evaluate", "--detections", str(boxes)]) == 2
    assert "--localizations DIR and --detections DIR" in capsys.readouterr().err
    assert not (seld / "spatial_av_align.parquet").exists()
