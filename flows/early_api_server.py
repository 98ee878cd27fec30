"""Prefect's temporary API server, started by the command line before it imports Prefect.

Without an API URL, Prefect starts a temporary API server (`SubprocessASGIServer`) the first time a flow is called,
and waits for it: a run of `savgbench curate` or `plan` first imports Prefect and the project (~2–3 s), then starts
that server (~3 s), one after the other. Started here, as the same subprocess with the same command, before those
imports, the server comes up on the other core while the command imports; the process is then pointed at it
(`PREFECT_API_URL`) once its `/api/health` answers, just before the flow is called. Nothing else changes: same app
factory, same environment (so the same database settings), 127.0.0.1, a free port.

Only the standard library is imported here, so that starting the server costs the command nothing. Whether Prefect
would start a server of its own is decided from the environment first (a `PREFECT_API_URL` there, or ephemeral mode
switched off there: no server is started), then, once Prefect is imported, from Prefect's own settings (a profile or
a `prefect.toml` may name a server): if they say Prefect would not start one, this one is stopped unused. If the
server does not come up, it is stopped and the run falls back to Prefect's own, with a warning.

Once serving, the server is stopped, and waited for, when the process exits (`atexit`, after Prefect's log and event
workers have drained, as Prefect stops its own), on success, on error and on Ctrl-C; a server the command never
pointed Prefect at (a refused run) is stopped as soon as the command is done. On Linux the kernel also sends it
SIGTERM if the command dies without running its exit handlers (SIGTERM, SIGKILL).
"""

from __future__ import annotations

import atexit
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger("prefect.savgbench.early_api_server")

# The environment Prefect gives its temporary server (prefect/server/api/server.py, SubprocessASGIServer): no UI.
SERVER_ENVIRONMENT = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
# uvicorn's exit code when it cannot start (its port was taken meanwhile): Prefect then retries on another port.
UVICORN_STARTUP_FAILURE = 3
PORT_ATTEMPTS = 3
POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 5.0
# Pydantic's false values, the way Prefect reads its boolean settings from the environment.
FALSE_TEXTS = {"0", "false", "f", "no", "n", "off"}


def set_prefect_defaults() -> None:
    """The environment defaults of a command that runs a flow, set before the server starts so that it inherits them
    (a value already in the environment wins): no analytics (this machine may be offline), and up to 120 s for
    Prefect's temporary API server to start, which can take longer than its default 20 s on a busy 2-core machine."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _free_port() -> int:
    """A port on 127.0.0.1 that no one listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _parent_death_signal():
    """On Linux, a pre-exec function that has the kernel send the child SIGTERM when this process dies; else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _prefect_package_parent() -> Path | None:
    """The folder holding the `prefect` package (uvicorn's `--app-dir`, as Prefect gives it), found without
    importing Prefect; None when Prefect is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent.parent


class EarlyApiServer:
    """A Prefect temporary API server process started before Prefect is imported; see the module's docstring."""

    def __init__(self, app_dir: Path) -> None:
        self.app_dir = app_dir
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        self.serving = False  # True once Prefect is pointed at it
        self.started_s = time.monotonic()
        self._spawn()
        atexit.register(self.stop)

    @classmethod
    def start_unless_configured(cls) -> EarlyApiServer | None:
        """Start the server now, unless the environment names an API server (`PREFECT_API_URL`), switches ephemeral
        mode off, or Prefect is already imported (nothing left to overlap; a server of Prefect's may be running)."""
        if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
            return None
        for name in ("PREFECT_SERVER_EPHEMERAL_ENABLED", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"):
            if os.environ.get(name, "").strip().lower() in FALSE_TEXTS:
                return None
        app_dir = _prefect_package_parent()
        return cls(app_dir) if app_dir is not None else None

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.address}/api"

    def _spawn(self) -> None:
        """The command and environment Prefect's `SubprocessASGIServer` uses, on this server's port."""
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(self.app_dir), "--factory",
                   "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
                   "--log-level", "error", "--lifespan", "on"]
        self.process = subprocess.Popen(command, env={**os.environ, **SERVER_ENVIRONMENT},
                                        preexec_fn=_parent_death_signal())

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/api/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def wait_until_healthy(self, timeout_s: float) -> str | None:
        """Wait for `/api/health` to answer 200 (restarting on another port when the port was taken meanwhile, as
        Prefect does); None once it does, else why not."""
        deadline = time.monotonic() + timeout_s
        attempts = 1
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == UVICORN_STARTUP_FAILURE and attempts < PORT_ATTEMPTS:
                attempts += 1
                self.port = _free_port()
                self._spawn()
                continue
            if code is not None:
                return f"it exited with code {code}"
            if self._healthy():
                return None
            time.sleep(POLL_INTERVAL_S)
        return f"its {self.api_url}/health did not answer within {timeout_s:g} s"

    def point_prefect_at_it(self) -> bool:
        """Once Prefect is imported, just before the flow is called: wait for the server to answer, then set
        `PREFECT_API_URL` to it for the rest of the process (its environment and Prefect's global settings, which
        Prefect's worker threads and task processes also read), as Prefect's own server serves the whole process.
        False, with the server stopped, when Prefect's settings name another server or forbid a temporary one, or
        when this one does not come up: the run then goes as Prefect alone would run it."""
        import prefect.context
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_SERVER_EPHEMERAL_ENABLED,
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        )

        if self.process is None:
            return False
        if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
            logger.info("Prefect's settings name an API server or forbid a temporary one: the temporary server "
                        "started early (pid %s) is not used", self.process.pid)
            self.stop()
            return False
        problem = self.wait_until_healthy(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        if problem is not None:
            logger.warning("The temporary Prefect server started early (pid %s) did not come up: %s; Prefect "
                           "starts its own", self.process.pid, problem)
            self.stop()
            return False
        logger.info("Temporary server on %s (pid %s), answering %.1f s after the command started it", self.address,
                    self.process.pid, time.monotonic() - self.started_s)
        os.environ["PREFECT_API_URL"] = self.api_url
        prefect.context.refresh_global_settings_context()
        self.serving = True
        return True

    def stop(self) -> None:
        """Terminate the server and wait for it (killed after 5 s, as Prefect does); safe to call twice. A server
        Prefect was never pointed at (a refused run) served no one and may still be starting: it is killed at once,
        so that its interrupted start-up prints nothing after the command's own last line. A second Ctrl-C while
        waiting does not stop the wait: the server is reaped before the command exits."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        logger.info("Stopping temporary server on %s (pid %s)", self.address, process.pid)
        killed = not self.serving
        if killed:
            process.kill()
        else:
            process.terminate()
        while True:
            try:
                process.wait(timeout=None if killed else STOP_TIMEOUT_S)
                return
            except subprocess.TimeoutExpired:
                process.kill()
                killed = True
            except KeyboardInterrupt:
                continue
