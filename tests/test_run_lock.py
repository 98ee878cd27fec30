"""The output folder's run lock (`tasks.run_lock`): one holder at a time, in this process or another; a second
one is refused at once, naming the holder; the lock goes with its holder's exit, even a SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import tasks.verify
from data_contracts.recipe import load_recipe
from tasks.run_lock import OutputBusy, OutputLock
from tests.helpers import PROJECT_ROOT
from tests.test_verify_units import build_output, stub_detect, write_manifests

HOLD_LOCK = """
import sys
from tasks.run_lock import OutputLock
with OutputLock(sys.argv[1], "curate"):
    print("held", flush=True)
    sys.stdin.read()  # until the test kills us
"""


def test_a_second_lock_on_the_folder_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    assert OutputLock.holder(out) is None
    with OutputLock(out, "curate"):
        assert (out / ".savgbench" / "lock").is_file()
        holder = OutputLock.holder(out)
        assert holder.startswith(f"curate run by pid {os.getpid()} on host {socket.gethostname()} since ")
        with pytest.raises(OutputBusy) as refused:
            with OutputLock(out, "verify"):
                pass
        assert str(out) in str(refused.value) and f"curate run by pid {os.getpid()}" in str(refused.value)
        # Another folder is not affected.
        with OutputLock(tmp_path / "other", "verify"):
            pass
    assert OutputLock.holder(out) is None
    with OutputLock(out, "verify") as lock:
        assert OutputLock.holder(out).startswith("verify run by pid")
    assert lock.path.read_text() == ""


def test_the_kernel_lock_refuses_a_second_open_file_in_this_process(tmp_path):
    # The flock itself, without the process registry: a fresh open file description conflicts.
    import fcntl

    with OutputLock(tmp_path, "curate") as lock:
        with open(lock.path) as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], cwd=PROJECT_ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"held\n"
        holder = OutputLock.holder(tmp_path)
        assert holder is not None and holder.startswith(f"curate run by pid {proc.pid} ")
        with pytest.raises(OutputBusy, match=f"curate run by pid {proc.pid} "):
            with OutputLock(tmp_path, "verify"):
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # The killed holder's description is still in the file, but nobody holds the lock.
    assert f"pid {proc.pid}" in (tmp_path / ".savgbench" / "lock").read_text()
    assert OutputLock.holder(tmp_path) is None
    with OutputLock(tmp_path, "verify"):
        assert OutputLock.holder(tmp_path).startswith(f"verify run by pid {os.getpid()} ")


def test_the_verify_command_is_refused_while_another_run_holds_the_folder(tmp_path, monkeypatch):
    recording, clips, events = build_output(tmp_path, load_recipe())
    write_manifests(tmp_path, recording, clips, events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    before = {p: p.read_bytes() for p in sorted(Path(tmp_path).rglob("*")) if p.is_file()}
    with OutputLock(tmp_path, "curate"), pytest.raises(OutputBusy, match="curate run by pid"):
        tasks.verify.verify_output_dir(tmp_path, load_recipe(overrides=["verify=true"]), log=lambda message: None)
    after = {p: p.read_bytes() for p in sorted(Path(tmp_path).rglob("*")) if p.is_file()}
    assert after.keys() - {tmp_path / ".savgbench" / "lock"} == before.keys()
    assert all(after[p] == data for p, data in before.items())


def test_savgbench_verify_exits_3_with_one_line_while_another_run_holds_the_folder(tmp_path, monkeypatch, capsys):
    from flows.cli import main

    recording, clips, events = build_output(tmp_path, load_recipe())
    write_manifests(tmp_path, recording, clips, events)
    monkeypatch.setattr(tasks.verify, "recipe_detect", lambda recipe: stub_detect)
    with OutputLock(tmp_path, "curate"):
        assert main(["verify", str(tmp_path)]) == 3
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("savgbench verify: ") and "curate run by pid" in error
