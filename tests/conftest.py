"""Session setup and fixtures: an isolated, offline Prefect home and ultralytics settings, and a real Prefect server
for the tests that run `savgbench curate` as subprocesses. Helpers shared by test modules live in tests/helpers.py."""

import atexit
import os
import shutil
import tempfile


def _temporary_dir_setting(name: str, prefix: str) -> None:
    """Point environment variable `name` at a fresh temporary folder, removed when the test run exits, unless the
    caller set it."""
    if name not in os.environ:
        os.environ[name] = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, os.environ[name], ignore_errors=True)


_temporary_dir_setting("PREFECT_HOME", "savgbench-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# The ephemeral API server takes 12–18 s to start here, longer on a loaded 2-core machine; the default is 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
_temporary_dir_setting("YOLO_CONFIG_DIR", "savgbench-yolo-")
os.environ.setdefault("YOLO_OFFLINE", "1")

import socket
import subprocess
import sys
import time
import urllib.request

import pytest


@pytest.fixture(scope="session")
def prefect_api_url(tmp_path_factory):
    """A real Prefect server (SQLite) for the tests that run `savgbench curate` as subprocesses: each of them then
    talks to it instead of starting its own in-process server (12–18 s each here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path_factory.mktemp("prefect-server")
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_ENABLED": "false"}
    log = open(home / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (home / "server.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "Prefect server did not come up in 180 s"
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
