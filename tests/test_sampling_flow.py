"""Random sampling through the flow (`sampling: random`): each split ends with exactly `sample_clips` clips, the
stream's first draws; a clip rejected as clipped is replaced by the stream's next draw; planning gives the same
draws, and the same bytes run after run."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from curation.sampling import ClipDraws, split_seed, view_grid_deg
from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from data_contracts.manifests import make_clip_id
from data_contracts.recipe import load_recipe
from data_contracts.timebase import whole_label_frames

SAMPLE_CLIPS = 8
RECIPE = ["sampling=random", f"sample_clips={SAMPLE_CLIPS}", "sample_seed=7", "sample_view_step_deg=45",
          "window_frames=20", "hop_frames=10", "min_onscreen_frames=0"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sampling-source")
    write_synthetic_dataset(root, SynthConfig(n_recordings=3, duration_s=6.0, seed=11, width_px=320, height_px=160,
                                              fps=Fraction(20)))
    return root


def run(source: Path, out: Path, overrides=(), render: bool = True):
    from flows.pipeline import PlainTaskCaller, run_curation

    recipe = load_recipe(overrides=[*RECIPE, *overrides])
    with PlainTaskCaller(2) as caller:
        return recipe, run_curation(str(source), str(out), recipe, caller, render=render)


def expected_ids(out: Path, recipe, n_per_split: dict[str, int]) -> dict[str, set[str]]:
    """The first n clip ids of each split's stream, drawn here from the recordings the run accepted."""
    recordings = pq.read_table(out / "manifests" / "recordings.parquet").to_pylist()
    ids = {}
    for split, n in n_per_split.items():
        stream = ClipDraws([(r["recording_id"], whole_label_frames(r["duration_s"])) for r in recordings
                            if r["split"] == split and r["status"] == "ok"], recipe.window_frames,
                           view_grid_deg(recipe.sample_view_step_deg), recipe.view_elevations_deg,
                           split_seed(recipe.sample_seed, split))
        ids[split] = {make_clip_id(c.recording_id, c.start_frame, c.view_azimuth_deg, c.view_elevation_deg)
                      for c in stream.take(n)}
    return ids


def clip_ids_by_split(out: Path) -> dict[str, list[str]]:
    clips = pq.read_table(out / "manifests" / "clips.parquet", columns=["clip_id", "split"]).to_pylist()
    by_split: dict[str, list[str]] = {}
    for clip in clips:
        by_split.setdefault(clip["split"], []).append(clip["clip_id"])
    return by_split


def test_planning_draws_each_splits_first_clips_the_same_way_every_time(source, tmp_path):
    recipe, _ = run(source, tmp_path / "a", render=False)
    ours = clip_ids_by_split(tmp_path / "a")
    assert set(ours) == {"generation", "evaluation"}
    assert all(len(ids) == SAMPLE_CLIPS == len(set(ids)) for ids in ours.values())
    assert {split: set(ids) for split, ids in ours.items()} == expected_ids(tmp_path / "a", recipe,
                                                                           dict.fromkeys(ours, SAMPLE_CLIPS))
    run(source, tmp_path / "b", render=False)
    for name in ("recordings", "clips", "events", "rejects"):
        assert (tmp_path / "a" / "manifests" / f"{name}.parquet").read_bytes() == \
            (tmp_path / "b" / "manifests" / f"{name}.parquet").read_bytes(), name
    # Without sampling, these keys are refused rather than ignored.
    with pytest.raises(Exception, match="sample_clips=8: is for sampling: random"):
        load_recipe(overrides=[f"sample_clips={SAMPLE_CLIPS}"])


def test_clipped_clips_are_replaced_by_the_streams_next_draws(source, tmp_path):
    recipe, first = run(source, tmp_path / "loud")
    assert first.n_clips == 2 * SAMPLE_CLIPS
    # Half the clips' peaks as the limit: about half of every round's draws are clipped and drawn again.
    clips = pq.read_table(tmp_path / "loud" / "manifests" / "clips.parquet").to_pylist()
    peaks = [float(np.abs(sf.read(tmp_path / "loud" / c["audio_path"])[0]).max()) for c in clips]
    limit = float(np.median(peaks))
    recipe, run_ = run(source, tmp_path / "limited", [f"clip_peak_limit={limit}"])

    ours = clip_ids_by_split(tmp_path / "limited")
    assert {split: len(ids) for split, ids in ours.items()} == {"generation": SAMPLE_CLIPS, "evaluation": SAMPLE_CLIPS}
    rejects = pq.read_table(tmp_path / "limited" / "manifests" / "rejects.parquet").to_pylist()
    assert rejects and {(r["stage"], r["reason"]) for r in rejects} == {("render", "clipped")}
    split_of = {r["recording_id"]: r["split"] for r in
                pq.read_table(tmp_path / "limited" / "manifests" / "recordings.parquet").to_pylist()}
    rejected: dict[str, set[str]] = {}
    for r in rejects:
        rejected.setdefault(split_of[r["recording_id"]], set()).add(r["clip_id"])
    # Kept and clipped together: exactly the stream's first draws, as many as were kept and rejected.
    expected = expected_ids(tmp_path / "limited", recipe,
                            {split: SAMPLE_CLIPS + len(rejected.get(split, ())) for split in ours})
    for split, ids in ours.items():
        assert set(ids) | rejected.get(split, set()) == expected[split], split
        assert not set(ids) & rejected.get(split, set())
    # Every kept clip's audio is within the limit; the media of rejected clips is not left behind.
    kept = pq.read_table(tmp_path / "limited" / "manifests" / "clips.parquet").to_pylist()
    assert all(np.abs(sf.read(tmp_path / "limited" / c["audio_path"])[0]).max() <= limit for c in kept)
    assert all((tmp_path / "limited" / c["video_path"]).is_file() for c in kept)
    for clip_id in set().union(*rejected.values()):
        assert not list((tmp_path / "limited").rglob(f"{clip_id}.*")), clip_id
