"""The progress line: a step's elapsed / estimated time and the campaign's remaining time, virtual and wall."""

from __future__ import annotations

import io
import time

from rich.console import Console

from simslab.clock import ManualClock
from simslab.live import LiveProgress, progress_text


def test_remaining_wall_time_follows_the_measured_pace():
    # 1 h of a 2 h step done, 10 h after it: 11 h to go; at 1000 virtual s per wall s that is 40 s
    assert progress_text(3600.0, 7200.0, 36000.0, 1000.0) == "60 min / 2.0 h, campaign ~11.0 h to go (~40 s wall)"
    # in the lab the pace is 1: the wall time left is the clock time left
    assert progress_text(3600.0, 7200.0, 0.0, 1.0) == "60 min / 2.0 h, campaign ~60 min to go (~60 min wall)"


def test_an_overrun_step_counts_nothing_left_of_itself_and_a_lone_run_shows_no_campaign():
    assert progress_text(9000.0, 7200.0, 3600.0, None) == "2.5 h / 2.0 h, campaign ~60 min to go"
    assert progress_text(30.0, None, None, 5.0) == "30 s"


def test_a_finished_run_prints_its_step_exit_status_and_times():
    clock = ManualClock(0.0)
    output = io.StringIO()
    progress = LiveProgress(clock, Console(file=output, width=200), refresh_s=0.01)
    progress("start", {"uid": "u1", "plan_name": "anneal", "step": {"index": 2, "kind": "anneal"},
                       "estimated_duration_s": 7200.0, "estimated_remaining_s": 3600.0})
    clock.advance(5400.0)
    progress("stop", {"run_start": "u1", "exit_status": "success"})
    assert "step 2 anneal: success after 90 min (wall" in output.getvalue()
    progress("start", {"uid": "u2", "plan_name": "count", "scan_id": 3})
    progress("stop", {"run_start": "u2", "exit_status": "abort", "reason": "[stopped] by the user"})
    assert "count: abort after 0 s (wall 0 s) - [stopped] by the user" in output.getvalue()  # no markup eaten


def test_the_bar_shows_the_campaign_time_left_at_the_pace_so_far():
    clock = ManualClock(0.0)
    progress = LiveProgress(clock, Console(file=io.StringIO(), width=200), refresh_s=0.01)
    progress("start", {"uid": "u1", "plan_name": "anneal", "step": {"index": 2, "kind": "anneal"},
                       "estimated_duration_s": 7200.0, "estimated_remaining_s": 36000.0})
    clock.advance(3600.0)
    deadline = time.monotonic() + 5.0
    while "to go" not in progress._progress.tasks[0].fields["clock"] and time.monotonic() < deadline:
        time.sleep(0.01)
    shown = progress._progress.tasks[0].fields["clock"]
    progress("stop", {"run_start": "u1", "exit_status": "success"})
    assert shown.startswith("60 min / 2.0 h, campaign ~11.0 h to go (~")  # the hour passed in ms of wall time:
    assert shown.endswith(" s wall)")  # so the 11 h left take seconds, not hours
