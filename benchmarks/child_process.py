"""Run a command in a child process and measure its wall time and peak resident memory.

The peak RSS is the larger of two views: the kernel's own maximum for the child (``ru_maxrss``
from ``wait4``, exact, but only for the child and the descendants it waited for) and psutil
samples of the child's whole process tree every ``sample_s`` (catches helpers it spawns and
leaves running, such as tiled's catalog initialisation, to within the sampling interval).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["ChildRun", "run_measured"]

logger = logging.getLogger(__name__)

_KIB = 1024  # Linux reports ru_maxrss in KiB


@dataclass(frozen=True)
class ChildRun:
    """What a child process did: exit code, wall seconds, peak RSS in bytes, and its output file."""

    returncode: int
    wall_s: float
    peak_rss_bytes: int
    output: Path

    def output_tail(self, lines: int = 20) -> str:
        """Return the last lines of the child's combined stdout and stderr."""
        text = self.output.read_text(encoding="utf-8", errors="replace") if self.output.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def run_measured(argv: Sequence[str], *, cwd: Path, output: Path, env: Mapping[str, str] | None = None,
                 timeout_s: float = 900.0, sample_s: float = 0.05) -> ChildRun:
    """Run ``argv`` to completion; return its exit code, wall time and peak RSS.

    stdout and stderr go to ``output``. Waits at most ``timeout_s`` of wall time, then kills
    the child and raises TimeoutError.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=None if env is None else dict(env),
                                   stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sampled_peak = 0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            sampled_peak = max(sampled_peak, _tree_rss_bytes(process.pid))
            if time.perf_counter() - started > timeout_s:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -9
                raise TimeoutError(f"{argv[0]} ... did not finish within {timeout_s:g} s (killed); output in {output}")
            time.sleep(sample_s)
        wall_s = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    peak = max(sampled_peak, usage.ru_maxrss * _KIB)
    logger.info("%s: exit %d after %.1f s, peak RSS %.0f MB", " ".join(argv[:3]), process.returncode, wall_s, peak / 1e6)
    return ChildRun(process.returncode, wall_s, peak, output)


def _tree_rss_bytes(pid: int) -> int:
    """Return the summed RSS of a process and its descendants now (0 if it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # ended between the listing and the reading
            continue
    return total
