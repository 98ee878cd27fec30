"""Progress of a long stage (verification, evaluation): work done, rate and time left, reported every few seconds.

A stage that runs for minutes must say how far it is: `savgbench verify` and `savgbench evaluate` print these lines,
and the flow's verification stage sends them to Prefect's run logger. The report comes from a timer thread, so a
line appears every `every_s` seconds even while one long detector batch is running, plus one line at the end.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["PROGRESS_EVERY_S", "Progress", "format_duration"]

PROGRESS_EVERY_S = 10.0


def format_duration(seconds: float) -> str:
    """A duration for a person: "42 s", "3 min 05 s", "1 h 02 min"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts `done` of `total` units of work (frames) and reports "label: done / total frames (p %), r frames/s,
    t left" through `log`: every `every_s` seconds from a timer thread while inside `with`, and once on leaving it
    (", done in t" instead of the time left when all is done).

    `advance(n)` may be called from any thread. `clock` (seconds, monotonic) is for tests.
    """

    def __init__(self, label: str, total: int, log: Callable[[str], None], *, unit: str = "frames",
                 every_s: float = PROGRESS_EVERY_S, clock: Callable[[], float] = time.monotonic):
        self.label, self.total, self.log, self.unit, self.every_s, self.clock = label, total, log, unit, every_s, clock
        self.done = 0
        self._lock = threading.Lock()
        self._started_s = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done += n

    def line(self) -> str:
        """The report as of now."""
        with self._lock:
            done = self.done
        elapsed_s = max(self.clock() - self._started_s, 1e-9)
        rate = done / elapsed_s
        share = f" ({done / self.total:.0%})" if self.total else ""
        text = f"{self.label}: {done:,} / {self.total:,} {self.unit}{share}, {rate:.1f} {self.unit}/s"
        if done >= self.total:
            return f"{text}, done in {format_duration(elapsed_s)}"
        left = f"{format_duration((self.total - done) / rate)} left" if done else "time left unknown yet"
        return f"{text}, {left}"

    def _report_periodically(self) -> None:
        while not self._stop.wait(self.every_s):
            self.log(self.line())

    def __enter__(self) -> "Progress":
        self._started_s = self.clock()
        self._thread = threading.Thread(target=self._report_periodically, name=f"progress-{self.label}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None:
            self.log(self.line())
