"""Run a command in a child process and measure its wall time and peak resident memory.

The peak RSS is sampled every ``sample_s``: the child's own high-water mark (``VmHWM`` of
its address space, which the kernel keeps exactly between samples) plus the present RSS of
the descendants it spawns and leaves running (such as tiled's catalog initialisation).
``ru_maxrss`` from ``wait4`` is not used: Linux carries the parent's peak over fork and exec
into it, so a bare ``python -c pass`` started from an 800 MB test process reports 800 MB.
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

_KIB = 1024  # /proc reports VmHWM in kB (KiB)


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
            pid, status, _usage = os.wait4(process.pid, os.WNOHANG)
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
    peak = sampled_peak
    logger.info("%s: exit %d after %.1f s, peak RSS %.0f MB", " ".join(argv[:3]), process.returncode, wall_s, peak / 1e6)
    return ChildRun(process.returncode, wall_s, peak, output)


def _tree_rss_bytes(pid: int) -> int:
    """Return a process's peak RSS so far plus its descendants' RSS now (0 if it is gone)."""
    try:
        descendants = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return 0
    total = _high_water_bytes(pid)
    for process in descendants:
        try:
            total += process.memory_info().rss
        except psutil.Error:  # ended between the listing and the reading
            continue
    return total


def _high_water_bytes(pid: int) -> int:
    """Return the peak RSS of a process's present address space (``VmHWM``; 0 if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * _KIB
    return 0
