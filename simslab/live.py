"""Live feedback while plans run: a rich progress line per run, in virtual and wall time.

A document callback: a run's start document names its campaign step and, when the plan
knows it, ``estimated_duration_s`` and the campaign's ``estimated_remaining_s`` after it
(session-clock seconds). While the run is open a small thread refreshes the bar once a second
from the session clock, so a 16-day storage in the lab shows its progress even though no event
arrives for hours. The bar shows the step's elapsed / estimated time and the campaign's
remaining time on the session clock and in wall time (at the pace measured so far: equal in
the lab, thousands of times shorter on the simulated lab).
"""

from __future__ import annotations

import threading
import time
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from simslab.clock import Clock

__all__ = ["LiveProgress", "format_duration", "progress_text"]


class LiveProgress:
    """Show each run as a progress bar: step, plan, session-clock elapsed / estimated time."""

    def __init__(self, clock: Clock, console: Console | None = None, refresh_s: float = 1.0):
        self.clock = clock
        self.refresh_s = refresh_s
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[clock]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._runs: dict[str, tuple[TaskID, float, float | None, float | None]] = {}
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._wall_started: dict[str, float] = {}
        self._clock_run_s = 0.0  # session-clock seconds of the runs finished so far
        self._first_wall_s: float | None = None  # when the first run started (monotonic s)

    def __call__(self, name: str, doc: dict) -> None:
        if name == "start":
            self._open(doc)
        elif name == "stop":
            self._close(doc)

    def _open(self, start: dict) -> None:
        step = start.get("step") or {}
        label = f"step {step['index']} {step.get('kind', '')}" if "index" in step else start.get("plan_name", "run")
        estimate = start.get("estimated_duration_s")
        with self._lock:
            if not self._runs:
                self._progress.start()
            plan = start.get("plan_name", "")
            description = escape(f"{label} ({plan})" if plan and plan not in label else label)
            task = self._progress.add_task(description, total=estimate or None, clock="")
            self._runs[start["uid"]] = (task, self.clock.now(), estimate, start.get("estimated_remaining_s"))
            self._wall_started[start["uid"]] = time.monotonic()
            if self._first_wall_s is None:
                self._first_wall_s = time.monotonic()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="simslab-progress", daemon=True)
                self._ticker.start()

    def _close(self, stop: dict) -> None:
        with self._lock:
            entry = self._runs.pop(stop["run_start"], None)
            if entry is None:
                return
            task, started, _, _ = entry
            elapsed = self.clock.now() - started
            description = next(t.description for t in self._progress.tasks if t.id == task)
            self._progress.remove_task(task)
            if not self._runs:
                self._progress.stop()
            wall = time.monotonic() - self._wall_started.pop(stop["run_start"], time.monotonic())
            self._clock_run_s += elapsed
            self._progress.console.print(
                f"{description}: {stop.get('exit_status', '')} after {format_duration(elapsed)}"
                f" (wall {format_duration(wall)})" + (f" - {escape(stop['reason'])}" if stop.get("reason") else ""),
                highlight=False, soft_wrap=True,
            )

    def _tick(self) -> None:
        while True:
            time.sleep(self.refresh_s)
            with self._lock:
                if not self._runs:
                    self._ticker = None
                    return
                wall_s = time.monotonic() - (self._first_wall_s or time.monotonic())
                for task, started, estimate, later in self._runs.values():
                    elapsed = self.clock.now() - started
                    # the pace so far, the wall time between runs (storing, checkpoints) included
                    pace = (self._clock_run_s + elapsed) / wall_s if wall_s > 0 else None
                    self._progress.update(task, completed=min(elapsed, estimate) if estimate else None,
                                          clock=progress_text(elapsed, estimate, later, pace))


def progress_text(elapsed_s: float, estimate_s: float | None, later_s: float | None, pace: float | None) -> str:
    """Return "elapsed / estimate, campaign ~remaining to go (~wall)" of a running step.

    elapsed_s, estimate_s: the step's session-clock seconds; later_s: the campaign's estimate
    after this step (None outside a campaign); pace: session-clock seconds per wall second so far.
    """
    text = format_duration(elapsed_s) + (f" / {format_duration(estimate_s)}" if estimate_s else "")
    if later_s is None:
        return text
    remaining_s = max((estimate_s or 0.0) - elapsed_s, 0.0) + later_s
    text += f", campaign ~{format_duration(remaining_s)} to go"
    if pace:
        text += f" (~{format_duration(remaining_s / pace)} wall)"
    return text


def format_duration(seconds: float) -> str:
    """Return a duration as the field writes it: 45 s, 12 min, 3.8 h, 16.0 d."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
