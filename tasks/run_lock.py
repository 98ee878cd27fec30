"""One writer per output folder: a run takes `OUT/.savgbench/lock` before it writes anything there.

The lock is `fcntl.flock(LOCK_EX | LOCK_NB)` on that file, so the kernel releases it when the holding process ends,
however it ends: a killed run never leaves the folder locked. Taking it never waits: a second run on the same folder
fails at once with `OutputBusy`, naming the run that holds it, whose description (purpose, pid, host, start time)
the holder writes into the lock file. Two `OutputLock`s of one process conflict too: each opens the file afresh
(flock locks belong to an open file description), and a process-wide registry refuses the second before the kernel
is asked, which also covers file systems that emulate flock with per-process POSIX locks (NFS).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from datetime import datetime, timezone
from pathlib import Path

from data_contracts._atomic import STATE_DIR

__all__ = ["OutputBusy", "OutputLock", "LOCK_NAME"]

LOCK_NAME = "lock"

# Lock files held by this process (real path → holder description), and the lock that guards the registry.
_HELD: dict[str, str] = {}
_HELD_GUARD = threading.Lock()


class OutputBusy(RuntimeError):
    """Another run holds the output folder's lock."""


def _lock_path(output_dir: str | os.PathLike[str]) -> Path:
    return Path(output_dir) / STATE_DIR / LOCK_NAME


def _registry_key(path: Path) -> str:
    return os.path.realpath(path)


def _read_description(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "a run that has not written its description yet"


class OutputLock:
    """The run lock of one output folder, as a context manager: `with OutputLock(out, "curate"): ...`.

    Entering takes the lock at once or raises `OutputBusy` (no waiting), creating `OUT/.savgbench` if missing;
    exiting releases it. `purpose` names the run in the holder description, e.g. "curate" or "verify".
    """

    def __init__(self, output_dir: str | os.PathLike[str], purpose: str):
        self.output_dir = Path(output_dir)
        self.purpose = purpose
        self.path = _lock_path(self.output_dir)
        self._file = None
        self._key: str | None = None

    def description(self) -> str:
        """This run as the lock file records it: "<purpose> run by pid <pid> on host <host> since <UTC time>"."""
        since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{self.purpose} run by pid {os.getpid()} on host {socket.gethostname()} since {since}"

    def __enter__(self) -> "OutputLock":
        if self._file is not None:
            raise RuntimeError(f"{self.output_dir}: this OutputLock is held already")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = _registry_key(self.path)
        with _HELD_GUARD:
            if key in _HELD:
                raise self._busy(_HELD[key])
            lock_file = open(self.path, "a+", encoding="utf-8")
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.close()
                raise self._busy(_read_description(self.path)) from None
            except BaseException:
                lock_file.close()
                raise
            description = self.description()
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(description + "\n")
            lock_file.flush()
            _HELD[key] = description
            self._file, self._key = lock_file, key
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        lock_file, key = self._file, self._key
        if lock_file is None:
            return
        with _HELD_GUARD:
            try:
                # Emptied while still held: a description left in the file is a holder's, or a killed run's.
                lock_file.seek(0)
                lock_file.truncate()
                lock_file.flush()
            finally:
                lock_file.close()  # releases the flock
                _HELD.pop(key, None)
                self._file = self._key = None

    def _busy(self, holder: str) -> OutputBusy:
        return OutputBusy(f"{self.output_dir}: another run is writing this output folder: {holder}; wait for it "
                          f"to finish, or give another output folder")

    @staticmethod
    def holder(output_dir: str | os.PathLike[str]) -> str | None:
        """The description of the run holding the output folder's lock (this process's or another's); None when
        the folder is free. Asking takes a shared lock for an instant: a run starting at that very instant may
        find the folder busy."""
        path = _lock_path(output_dir)
        with _HELD_GUARD:
            held = _HELD.get(_registry_key(path))
            if held is not None:
                return held
            try:
                probe = open(path, encoding="utf-8")
            except FileNotFoundError:
                return None
            with probe:
                try:
                    fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return _read_description(path)
                # Free: the shared lock goes with the file's closing.
                return None
