"""End to end with a real detector: synthetic recordings (people cut from real photos) through the curate flow, then
the verification stage (`savgbench verify --source` and the `verify_recording` task, on the views remapped from the
sources) and `savgbench evaluate` on the evaluation split, its stereo channels swapped, and its video mirrored.

The source is what `write_synthetic_dataset` generates (the default mix of `synthetic_events`: talkers, an
instrument, other sources), with two recordings in the evaluation split. Sounds made by people (speech, clapping,
laughter, an instrument) are drawn as people, as in the real recordings; objects are drawn shapes, which a person
detector rightly does not confirm.

The detector is the fall-detection YOLOv8s (every class is a person), at an input size of 416 px rather than the
recipe's 640: it confirmed as many events on this set at under half the cost. Running it on every clip would still
take minutes on a CPU, so verification and evaluation run on a seeded random sample of the clips; production runs
on all of them.
"""

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.synthetic.generator import synthetic_events, write_synthetic_dataset
from data_contracts.annotations import write_annotations_csv
from data_contracts.manifests import DETECTIONS_SCHEMA, validate_manifests
from data_contracts.recipe import load_recipe
from flows.cli import main
from tasks.curate_recording import RecordingOutput
from tasks.report import VERIFICATION_RATE, read_summary_rows
from tests.helpers import (
    E2E_SYNTH,
    ARTIFACTS,
    DETECTOR_OPTIONS,
    DETECTOR_OVERRIDES,
    VIEWS_EVERY_30_DEG,
    evaluation_copies,
    fall_detection_weights,
    sample_copy,
)

pytestmark = pytest.mark.slow

# Seed 9: in 8 s its two evaluation recordings hold every kind of source (talkers, an instrument, a telephone,
# footsteps); other seeds' may hold talkers only, as short recordings of sources taking turns can.
SYNTH = dataclasses.replace(E2E_SYNTH, seed=9)
VERIFY_SAMPLE = 10
EVALUATE_SAMPLE = 8


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    annotations = tmp_path_factory.mktemp("annotations")
    # synthetic_events(duration, seed, index) is what `write_synthetic_dataset` generates for recording `index`;
    # recordings 2 and 5 are the first two it puts in the evaluation split.
    recordings = {
        "dev-train-synth/fold3_room90_mix001.csv": synthetic_events(SYNTH.duration_s, SYNTH.seed, 0),
        "dev-test-synth/fold4_room91_mix001.csv": synthetic_events(SYNTH.duration_s, SYNTH.seed, 1),
        "eval-synth/fold5_room92_mix001.csv": synthetic_events(SYNTH.duration_s, SYNTH.seed, 2),
        "eval-synth/fold5_room92_mix002.csv": synthetic_events(SYNTH.duration_s, SYNTH.seed, 5),
    }
    for rel, rows in recordings.items():
        (annotations / rel).parent.mkdir(parents=True, exist_ok=True)
        write_annotations_csv(annotations / rel, rows)
    root = tmp_path_factory.mktemp("source")
    write_synthetic_dataset(root, SYNTH, annotations_dir=annotations)
    return root


@pytest.fixture(scope="module")
def curated(source, tmp_path_factory) -> Path:
    from flows.curate import curate

    out = tmp_path_factory.mktemp("out")
    curate(str(source), str(out), overrides=[VIEWS_EVERY_30_DEG])
    return out


def record(name: str, figures: dict) -> None:
    """Keep the figures a run produced where a person can read them (tests/artifacts/spatial_av_align.json)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "spatial_av_align.json"
    recorded = json.loads(path.read_text()) if path.is_file() else {}
    recorded[name] = figures
    path.write_text(json.dumps(recorded, indent=2) + "\n")


def test_verification_confirms_at_least_90_percent_of_onscreen_speech_events(source, curated, tmp_path, capsys):
    copy = sample_copy(curated, tmp_path / "sample", VERIFY_SAMPLE)
    assert main(["verify", str(copy), "--source", str(source), "--weights", fall_detection_weights(),
                 *DETECTOR_OPTIONS]) == 0
    printed = capsys.readouterr().out
    # Progress as it goes, and the detector saw each view frame once: at most one picture per clip frame.
    assert "verify: " in printed and "frames (100%)" in printed
    assert f"{VERIFY_SAMPLE * 20} clip frames verified (" in printed
    tables = {name: pq.read_table(copy / "manifests" / f"{name}.parquet")
              for name in ("recordings", "clips", "events", "rejects", "detections")}
    validate_manifests(*tables.values())
    assert tables["detections"].schema.equals(DETECTIONS_SCHEMA, check_metadata=False)
    assert tables["detections"].num_rows > 0
    events = tables["events"].to_pandas()
    checked = events[events["visually_confirmed"].notna()]
    assert len(checked) == (events["onscreen"] & (events["target_class"] == "speech")).sum() > 200
    rate = checked["visually_confirmed"].astype(bool).mean()
    record("verification", {"confirmed": int(checked["visually_confirmed"].astype(bool).sum()),
                            "checked": len(checked), "rate": round(float(rate), 4),
                            "clips": tables["clips"].num_rows})
    assert rate >= 0.9, printed
    summary = {row["stage"]: row["count"] for row in read_summary_rows(copy / "report" / "summary.md")}
    assert summary[VERIFICATION_RATE] == pytest.approx(rate, abs=1e-4)


def test_the_task_verifies_one_rendered_recording(source, curated, tmp_path):
    from tasks.verify import verify_recording

    clips = pq.read_table(curated / "manifests" / "clips.parquet")
    events = pq.read_table(curated / "manifests" / "events.parquet")
    recording_id = "fold3_room90_mix001"
    mine = clips.filter(pc.equal(clips.column("recording_id"), recording_id)).slice(0, 2)
    output = RecordingOutput(recording_id, 0, 0, mine,
                             events.filter(pc.is_in(events.column("clip_id"), value_set=mine.column("clip_id"))),
                             (), {"audio": 1.0})
    recipe = load_recipe(overrides=[VIEWS_EVERY_30_DEG, "verify=true", f"detector_weights={fall_detection_weights()}",
                                    *DETECTOR_OVERRIDES])
    video = pq.read_table(curated / "manifests" / "recordings.parquet").to_pandas().set_index("recording_id").loc[
        recording_id, "video_path"]
    result = verify_recording(output, str(curated), recipe, str(source / video))
    detections, verified = result.detections, result.output
    assert isinstance(detections, pa.Table) and detections.schema.equals(DETECTIONS_SCHEMA, check_metadata=False)
    assert set(detections.column("clip_id").to_pylist()) <= set(mine.column("clip_id").to_pylist())
    assert result.rejects == [] and verified.clips.num_rows == 2 and verified.seconds["verify"] > 0
    assert verified.events.column("visually_confirmed").null_count < verified.events.num_rows


def evaluate(folder: Path, tmp_path: Path) -> dict:
    result_path = tmp_path / f"{folder.name}.json"
    assert main(["evaluate", str(folder), "--weights", fall_detection_weights(), *DETECTOR_OPTIONS,
                 "--json", str(result_path)]) == 0
    return json.loads(result_path.read_text())


def test_evaluate_scores_ground_truth_high_and_swapped_or_mirrored_copies_clearly_lower(curated, tmp_path, capsys):
    copies = evaluation_copies(curated, tmp_path, EVALUATE_SAMPLE)
    ground_truth = copies["ground_truth"]
    scores = {name: evaluate(folder, tmp_path) for name, folder in copies.items()}
    printed = capsys.readouterr().out
    record("evaluate", scores)
    assert all(result["clips"] == EVALUATE_SAMPLE and result["tp"] + result["fn"] > 200 for result in scores.values())
    # 0.80, not 0.85: the authors' rule scores localisations off the picture too (the mid-side localiser puts
    # about a sixth of this sample's sounds there), which the project's earlier rule skipped.
    assert scores["ground_truth"]["score"] >= 0.80, printed
    assert scores["swapped"]["score"] <= scores["ground_truth"]["score"] - 0.3, scores
    assert scores["mirrored"]["score"] <= scores["ground_truth"]["score"] - 0.3, scores
    per_clip = pq.read_table(ground_truth / "spatial_av_align.parquet")
    assert per_clip.num_rows == EVALUATE_SAMPLE
    assert sum(per_clip.column("tp").to_pylist()) == scores["ground_truth"]["tp"]
