"""`savgbench plan`/`curate` start Prefect's temporary API server before importing Prefect (flows/early_api_server.py):
the run reports to that server, and no server process outlives the command, also when the run is interrupted; with
`PREFECT_API_URL` set, no server is started and the run reports to the one named. Each test runs the real
`savgbench` entry point as a child process, with real annotation files and a Prefect home of its own."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import starss22_sample

SAVGBENCH = Path(sys.executable).parent / "savgbench"
OURS = re.compile(r"Temporary server on (http://127\.0\.0\.1:(\d+)) \(pid (\d+)\)")
VIEW_AT = re.compile(r"View at (http://[^/\s]+)/runs/flow-run/")
PREFECTS_OWN = "Starting temporary server"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """One Prefect home (database) for this module's commands; the first one to start a server creates it."""
    return tmp_path_factory.mktemp("early-server-prefect-home")


def annotation_source(root: Path, stems: tuple[str, ...]) -> Path:
    """A source of real STARSS22 annotation files only (the tau room 6 and 7 recordings named), for
    `plan --annotations-only`."""
    folder = root / "metadata_dev" / "dev-train-tau"
    folder.mkdir(parents=True)
    for stem in stems:
        shutil.copy(starss22_sample() / "dev-train-tau" / f"{stem}.csv", folder / f"{stem}.csv")
    return root


def command_env(prefect_home: Path, api_url: str | None = None) -> dict[str, str]:
    """The test run's environment for a `savgbench` child: Prefect's INFO lines shown (they name the servers), no
    inherited API URL unless `api_url` is given."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env.update({"PREFECT_HOME": str(prefect_home), "PREFECT_LOGGING_LEVEL": "INFO"})
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def server_pids(prefect_home: Path) -> list[int]:
    """The Prefect API server processes running with this Prefect home, whatever their parent, from /proc."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:  # not a process, or one that has just exited
            continue
        if b"prefect.server.api.server:create_app" in cmdline and f"PREFECT_HOME={prefect_home}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def assert_gone(pid: int, address: str, prefect_home: Path) -> None:
    """The server process no longer exists (reaped by the command, not left to run under another parent), nothing
    listens on its port, and no other server runs with the command's Prefect home."""
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    host, port = address.removeprefix("http://").split(":")
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=5):
        pass
    assert server_pids(prefect_home) == []


def test_plan_reports_to_the_server_started_early_and_leaves_no_process(tmp_path, prefect_home):
    source = annotation_source(tmp_path / "source", ("fold3_room7_mix005",))
    done = subprocess.run([str(SAVGBENCH), "plan", str(source), str(tmp_path / "out"), "--annotations-only"],
                          env=command_env(prefect_home), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recordings: 1 found, 1 accepted, 0 rejected" in done.stdout
    ours = OURS.search(done.stderr)
    assert ours is not None, done.stderr[-3000:]
    address, pid = ours.group(1), int(ours.group(3))
    # The flow run is on this server, and Prefect started none of its own.
    assert VIEW_AT.findall(done.stderr) == [address]
    assert PREFECTS_OWN not in done.stderr
    assert f"Stopping temporary server on {address} (pid {pid})" in done.stderr
    assert_gone(pid, address, prefect_home)


def test_an_interrupted_run_stops_the_server_started_early(tmp_path, prefect_home):
    """Ctrl-C (SIGINT to the command alone, so the server is not told by the terminal) during the flow: the run
    fails, and the command stops its server before it exits. Ctrl-C is pressed again every 3 s until the command
    starts unwinding (a KeyboardInterrupt can land where Prefect catches it)."""
    sample = starss22_sample() / "dev-train-tau"
    source = annotation_source(tmp_path / "source", tuple(sorted(path.stem for path in sample.glob("*.csv"))))
    command = subprocess.Popen([str(SAVGBENCH), "plan", str(source), str(tmp_path / "out"), "--annotations-only",
                                "--recipe", "exhaustive"], env=command_env(prefect_home), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(command.stderr), daemon=True)
    reader.start()
    try:
        while command.poll() is None and not any(VIEW_AT.search(line) for line in list(lines)):
            time.sleep(0.05)
        while command.poll() is None and not any("KeyboardInterrupt" in line for line in list(lines)):
            command.send_signal(signal.SIGINT)
            time.sleep(3)
        code = command.wait(timeout=300)
        reader.join(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    stderr = "".join(lines)
    assert code != 0, stderr[-3000:]
    assert "KeyboardInterrupt" in stderr
    ours = OURS.search(stderr)
    assert ours is not None, stderr[-3000:]
    assert_gone(int(ours.group(3)), ours.group(1), prefect_home)


def test_with_an_api_url_set_no_server_is_started(tmp_path, prefect_api_url):
    source = annotation_source(tmp_path / "source", ("fold3_room7_mix005",))
    done = subprocess.run([str(SAVGBENCH), "plan", str(source), str(tmp_path / "out"), "--annotations-only"],
                          env=command_env(tmp_path / "prefect-home", prefect_api_url), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert OURS.search(done.stderr) is None and PREFECTS_OWN not in done.stderr
    assert VIEW_AT.findall(done.stderr) == [prefect_api_url.removesuffix("/api")]


def test_a_refused_run_leaves_no_server_behind(tmp_path):
    """A run refused before its flow (exit 2: no source folder) started the server, and stopped it before exiting."""
    prefect_home = tmp_path / "prefect-home"
    command = subprocess.Popen([str(SAVGBENCH), "curate", str(tmp_path / "missing"), str(tmp_path / "out")],
                               env=command_env(prefect_home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    seen = set()
    while command.poll() is None:
        seen.update(server_pids(prefect_home))
        time.sleep(0.02)
    assert command.returncode == 2, command.stderr.read()
    assert len(seen) == 1
    assert server_pids(prefect_home) == []
    with pytest.raises(ProcessLookupError):
        os.kill(seen.pop(), 0)
