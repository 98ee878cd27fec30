"""Scale-out: the curate flow run through a local Dask cluster (2 workers) gives the default runner's manifests."""

from fractions import Fraction

import pytest

from curation.synthetic.generator import SynthConfig, write_synthetic_dataset

pytestmark = pytest.mark.slow

RECIPE = ["view_azimuths_deg=[0, 60, 120, 180, 240, 300]", "min_onscreen_frames=20"]
MANIFESTS = ("recordings", "clips", "events", "rejects")


def test_dask_cluster_gives_the_same_manifests_as_threads(tmp_path):
    from distributed import LocalCluster

    from flows.curate import curate
    from flows.runners import make_task_runner

    source = tmp_path / "source"
    write_synthetic_dataset(source, SynthConfig(n_recordings=3, duration_s=6.0, seed=21, width_px=640,
                                                height_px=320, fps=Fraction(20)))
    curate.with_options(task_runner=make_task_runner("threads"))(str(source), str(tmp_path / "threads"),
                                                                 overrides=RECIPE)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runner = make_task_runner("dask", dask_address=cluster.scheduler_address)
        curate.with_options(task_runner=runner)(str(source), str(tmp_path / "dask"), overrides=RECIPE)
        # Both workers did work: each recording's render ran on one of them.
        assert len(cluster.scheduler.workers) == 2
    for name in MANIFESTS:
        ours = (tmp_path / "dask" / "manifests" / f"{name}.parquet").read_bytes()
        assert ours == (tmp_path / "threads" / "manifests" / f"{name}.parquet").read_bytes(), name


def test_runner_is_chosen_from_the_environment(monkeypatch):
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner

    from flows.runners import make_task_runner

    monkeypatch.setenv("SAVGBENCH_TASK_RUNNER", "processes")
    assert isinstance(make_task_runner(), ProcessPoolTaskRunner)
    monkeypatch.setenv("SAVGBENCH_TASK_RUNNER", "threads")
    assert isinstance(make_task_runner(), ThreadPoolTaskRunner)
    monkeypatch.setenv("SAVGBENCH_TASK_RUNNER", "spark")
    with pytest.raises(ValueError, match="spark"):
        make_task_runner()
