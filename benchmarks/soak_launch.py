"""Start one launch of a soak campaign in a child process and SIGKILL it at its kill point.

The child runs in its own process group, and the kill takes the whole group at once, as a
power cut would. A launch killed by count is killed as soon as the harness sees that many
document (or catalog-request) lines in its log (polled every few milliseconds: the kill lands
shortly after, wherever the child then is: mid-document, mid-batch, mid-close, between steps).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .soak_draw import KillPoint
from .soak_log import DOCUMENT_PREFIX, REQUEST_PREFIX

__all__ = ["LaunchResult", "launch", "LineCounter"]

logger = logging.getLogger(__name__)

POLL_S = 0.005


@dataclass(frozen=True)
class LaunchResult:
    """How a launch ended: exit code (None if killed), killed by the kill point or by the timeout, documents
    and catalog requests it made, wall seconds."""

    exit_code: int | None
    killed: bool
    timed_out: bool
    documents: int
    requests: int
    wall_s: float


def launch(argv: Sequence[str], *, log: Path, output: Path, env: Mapping[str, str], cwd: Path,
           kill: KillPoint | None, timeout_s: float) -> LaunchResult:
    """Run ``argv`` (which writes the launch log ``log``) until it exits, its kill point, or ``timeout_s``."""
    with open(output, "ab") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=sink, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        documents, requests = LineCounter(log, DOCUMENT_PREFIX), LineCounter(log, REQUEST_PREFIX)
        killed = timed_out = False
        while child.poll() is None:
            elapsed_s = time.perf_counter() - started
            due = kill is not None and (
                (kill.after_s is not None and elapsed_s >= kill.after_s)
                or (kill.documents is not None and documents.count() >= kill.documents)
                or (kill.requests is not None and requests.count() >= kill.requests)
            )
            if due or elapsed_s > timeout_s:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                killed, timed_out = due, not due
                break
            time.sleep(POLL_S)
        wall_s = time.perf_counter() - started
    code = None if killed or timed_out else child.returncode
    result = LaunchResult(code, killed, timed_out, documents.count(), requests.count(), wall_s)
    logger.info("launch %s: %s after %.1f s, %d documents, %d catalog requests", log.stem,
                "killed" if killed else "timed out" if timed_out else f"exit {code}", wall_s, result.documents,
                result.requests)
    return result


class LineCounter:
    """Counts the lines of a growing log that start with ``prefix``, reading only what was appended since."""

    def __init__(self, path: Path, prefix: bytes):
        self.path = path
        self.prefix = prefix
        self._offset = 0
        self._partial = b""
        self._count = 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except FileNotFoundError:
            return self._count
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        self._count += sum(line.startswith(self.prefix) for line in lines)
        return self._count
