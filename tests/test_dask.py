"""Scale-out: the curate flow run through a local Dask cluster (2 workers) gives the default runner's manifests; the
workers write the recordings' parts to the shared output folder, the flow merges them."""

from fractions import Fraction

import pytest

from curation.synthetic.generator import SynthConfig, write_synthetic_dataset
from tasks.parts import PARTS_DIR
from tests.helpers import MANIFEST_NAMES

pytestmark = pytest.mark.slow

RECIPE = ["view_azimuths_deg=[0, 60, 120, 180, 240, 300]", "min_onscreen_frames=20"]


def executed_task_names(dask_worker) -> list[str]:
    """The function name of every task this Dask worker ran to completion (run on the worker by `Client.run`)."""
    from dask.utils import key_split

    # A transition log entry: (key, start state, recommended state, final state, recommendations, stimulus, time).
    return [key_split(entry[0]) for entry in dask_worker.state.log
            if len(entry) == 7 and entry[1] == "executing" and entry[3] == "memory"]


def test_dask_cluster_gives_the_same_manifests_as_threads(tmp_path):
    from distributed import Client, LocalCluster

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
        with Client(cluster) as client:
            executed = client.run(executed_task_names)
    # Both workers did work (the three recordings' tasks, submitted at once, start on both idle workers), and each
    # recording's task ran exactly once, on one of them.
    assert len(executed) == 2 and all(executed.values()), executed
    assert sum(names.count("curate_recording_task") for names in executed.values()) == 3, executed
    for name in MANIFEST_NAMES:
        ours = (tmp_path / "dask" / "manifests" / f"{name}.parquet").read_bytes()
        assert ours == (tmp_path / "threads" / "manifests" / f"{name}.parquet").read_bytes(), name
    # Each recording's part, written by the worker that rendered it: the same files as the threads' run.
    parts = {p.relative_to(tmp_path / "dask"): p.read_bytes() for p in (tmp_path / "dask" / PARTS_DIR).rglob("*")
             if p.is_file()}
    assert len({path.parts[2] for path in parts}) == 3 and len(parts) == 3 * 4, sorted(parts)
    for path, data in parts.items():
        assert (tmp_path / "threads" / path).read_bytes() == data, path


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
