"""The demo campaign: wall time, acceleration over the time it simulates, and peak memory.

``simslab demo`` runs once, in a child process with a fresh data directory ($SIMSLAB_DATA),
exactly as a user starts it (``python -m simslab.cli demo``). Measured from outside:
- wall seconds from start to exit (reference: the simulated duration; target < 120 s);
- the simulated duration: the span of the readings' timestamps in every run the demo
  journalled (devices stamp readings with the session clock, virtual in simulation; the
  documents' own ``time`` is wall time, event-model stamps it), whose ratio to the wall time
  is the acceleration (target >= 1e4);
- the child's peak RSS (:mod:`.child_process`; target < 1.5 GB) against the peak of a child
  that only builds the simulated lab's session (:mod:`.idle_session`).

``config.extra`` may replace the commands (``demo_command``, ``baseline_command``: argv lists),
e.g. to measure another campaign with ``simslab run``.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from simslab.journal import journal_files, read_journal

from .child_process import ChildRun, run_measured
from .harness import BenchConfig, Figure, FigureSpec, Target
from .repository import REPOSITORY

__all__ = ["SPECS", "measure", "demo_command", "idle_session_command", "simulated_span_s"]

logger = logging.getLogger(__name__)

MB = 1e6

WALL = FigureSpec(
    "campaign_demo_wall_s", "s", Target("value", "<", 120.0, "s"),
    "wall seconds of `simslab demo` in a child process vs the real-time duration it simulates",
)
SIMULATED = FigureSpec(
    "campaign_demo_simulated_s", "s", Target("ratio", ">=", 1e4),
    "duration the demo simulates (span of its readings' virtual timestamps) vs its wall seconds: "
    "the ratio is the acceleration",
)
MEMORY = FigureSpec(
    "memory_demo_peak_rss_mb", "MB", Target("value", "<", 1500.0, "MB"),
    "peak RSS of the child running the demo vs a child that only builds the simulated lab's session",
)
SPECS = (WALL, SIMULATED, MEMORY)

DEMO_TIMEOUT_S = 1800.0


def measure(config: BenchConfig) -> list[Figure]:
    """Run the demo and the idle-session reference once each in child processes; return the figures."""
    assert config.work_dir is not None
    work = config.work_dir / "campaign"
    demo = _run(config.extra.get("demo_command") or demo_command(), work / "demo")
    simulated_s = simulated_span_s(work / "demo" / "simslab-data")
    idle = _run(config.extra.get("baseline_command") or idle_session_command(), work / "idle")
    logger.info("demo: %.1f s wall for %.0f s simulated (x%.3g), peak %.0f MB (idle session %.0f MB)",
                demo.wall_s, simulated_s, simulated_s / demo.wall_s, demo.peak_rss_bytes / MB, idle.peak_rss_bytes / MB)
    return [
        WALL.measured(demo.wall_s, simulated_s),
        SIMULATED.measured(simulated_s, demo.wall_s),
        MEMORY.measured(demo.peak_rss_bytes / MB, idle.peak_rss_bytes / MB),
    ]


def demo_command() -> list[str]:
    """Return the argv of ``simslab demo``; raise RuntimeError if this checkout has no such command."""
    from simslab.cli import app

    names = {command.name or command.callback.__name__.replace("_", "-") for command in app.registered_commands}
    if "demo" not in names:
        raise RuntimeError("`simslab demo` does not exist in this checkout yet (the campaign runner and the demo "
                           f"campaign); commands: {', '.join(sorted(names))}")
    return [sys.executable, "-m", "simslab.cli", "demo"]


def idle_session_command() -> list[str]:
    """Return the argv of the memory reference (:mod:`benchmarks.idle_session`)."""
    return [sys.executable, "-m", "benchmarks.idle_session"]


def simulated_span_s(data_directory: Path) -> float:
    """Return the seconds between the earliest and the latest reading journalled in a data directory.

    Readings carry the session clock's time (virtual in simulation), unlike the documents'
    ``time`` fields; the journal (``<data>/journal``) holds every document of every run.
    """
    earliest, latest = math.inf, -math.inf
    for path in journal_files(data_directory / "journal"):
        for name, doc in read_journal(path):
            if name == "event":
                stamps = list(doc["timestamps"].values())
            elif name == "event_page":
                stamps = [t for column in doc["timestamps"].values() for t in column]
            else:
                continue
            if stamps:
                earliest, latest = min(earliest, *stamps), max(latest, *stamps)
    if earliest > latest:
        raise RuntimeError(f"the campaign journalled no reading in {data_directory / 'journal'}")
    return latest - earliest


def _run(argv: Sequence[str], directory: Path) -> ChildRun:
    """Run a command in ``directory`` with its own catalog (``directory/simslab-data``); raise if it fails."""
    directory.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SIMSLAB_DATA": str(directory / "simslab-data"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}
    run = run_measured(argv, cwd=directory, output=directory / "output.log", env=env, timeout_s=DEMO_TIMEOUT_S)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with exit code {run.returncode}:\n{run.output_tail()}")
    return run
