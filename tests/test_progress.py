"""The progress lines of long stages (`curation.metric.progress`): what they say, and that they come every few
seconds while the work goes on, from a timer, not only when work is counted."""

import threading
import time

from curation.metric.progress import Progress, format_duration


class Clock:
    def __init__(self):
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_the_line_gives_frames_done_rate_and_time_left():
    clock = Clock()
    progress = Progress("verify", 200, print, clock=clock)
    assert progress.line() == "verify: 0 / 200 frames (0%), 0.0 frames/s, time left unknown yet"
    clock.now_s += 10.0
    progress.advance(40)
    progress.advance(10)
    # 50 frames in 10 s: 5 frames/s, 150 left: 30 s.
    assert progress.line() == "verify: 50 / 200 frames (25%), 5.0 frames/s, 30 s left"
    clock.now_s += 290.0
    progress.advance(150)
    assert progress.line() == "verify: 200 / 200 frames (100%), 0.7 frames/s, done in 5 min 00 s"


def test_durations_read_as_seconds_minutes_or_hours():
    assert [format_duration(s) for s in (0, 42.4, 185, 3725, -3)] == ["0 s", "42 s", "3 min 05 s", "1 h 02 min",
                                                                    "0 s"]


def test_lines_come_from_a_timer_while_the_work_blocks_and_once_at_the_end():
    lines: list[str] = []
    released = threading.Event()
    with Progress("evaluate", 40, lines.append, every_s=0.05) as progress:
        progress.advance(10)
        # One long step (a detector batch) that counts nothing for a while: the timer still reports.
        released.wait(0.5)
        during = list(lines)
        progress.advance(30)
    assert len(during) >= 3 and all(line.startswith("evaluate: 10 / 40 frames (25%)") for line in during)
    assert lines[-1].startswith("evaluate: 40 / 40 frames (100%)") and "done in" in lines[-1]
    # The timer stopped with the stage.
    count = len(lines)
    time.sleep(0.2)
    assert len(lines) == count


def test_a_stage_that_fails_reports_no_final_line():
    lines: list[str] = []
    try:
        with Progress("verify", 10, lines.append, every_s=60.0) as progress:
            progress.advance(3)
            raise RuntimeError("decode failed")
    except RuntimeError:
        pass
    assert lines == []
