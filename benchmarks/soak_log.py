"""The soak's own record of a launch, independent of the catalog and its journal.

Each launch of a soak campaign (one child process) appends JSON lines to its log, flushed per
line, so a SIGKILL loses at most the line being written (a torn last line is skipped):

- ``{"kind": "doc", "name": ..., "doc": ...}``: every document the RunEngine emitted, as emitted;
- ``{"kind": "state", "tag": ..., "state": ...}``: the instruments' hazard state
  (:class:`~benchmarks.soak_instruments.InstrumentState`) when the session was built
  (``session``), at the first start document (``first_start``), at any document where it
  changed (``document``) and when the process ends on its own (``exit``);
- ``{"kind": "fault", "fault": ...}``: each fault the twin injected, as it is seen;
- ``{"kind": "request"}``: a request to the catalog went out (the harness counts them to kill
  mid-storage: a run's rows and its close take most of a launch's wall time);
- ``{"kind": "imposed", "instruments": [...]}``: the kill-time hazards put back into the twin;
- ``{"kind": "exit", "code": ...}``: the process ended on its own with this exit code.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .soak_instruments import InstrumentState

__all__ = ["LaunchLogWriter", "LaunchLog", "read_launch_log", "DOCUMENT_PREFIX", "REQUEST_PREFIX"]

logger = logging.getLogger(__name__)

DOCUMENT_PREFIX = b'{"kind": "doc"'
"""How a document line starts (the harness counts them to kill after so many documents)."""
REQUEST_PREFIX = b'{"kind": "request"'
"""How a catalog-request line starts (counted to kill after so many requests)."""


class LaunchLogWriter:
    """Appends records to a launch log, one flushed JSON line each."""

    def __init__(self, path: Path):
        self._out = open(path, "a", encoding="utf-8")

    def document(self, name: str, doc: dict) -> None:
        self._write({"kind": "doc", "name": name, "doc": doc})

    def state(self, tag: str, state: InstrumentState) -> None:
        self._write({"kind": "state", "tag": tag, "state": state.to_dict()})

    def fault(self, fault: dict[str, Any]) -> None:
        self._write({"kind": "fault", "fault": fault})

    def request(self) -> None:
        self._write({"kind": "request"})

    def imposed(self, instruments: list[str]) -> None:
        self._write({"kind": "imposed", "instruments": instruments})

    def exit(self, code: int) -> None:
        self._write({"kind": "exit", "code": code})
        self._out.close()

    def _write(self, record: dict[str, Any]) -> None:
        self._out.write(json.dumps(record, default=_plain) + "\n")
        self._out.flush()


@dataclass
class LaunchLog:
    """A launch log read back: documents in order, states, faults, imposed hazards, exit code (None: killed)."""

    documents: list[tuple[str, dict]] = field(default_factory=list)
    states: list[tuple[str, InstrumentState]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    imposed: list[str] = field(default_factory=list)
    exit_code: int | None = None

    def runs(self) -> dict[str, list[tuple[str, dict]]]:
        """Return each run's documents by run uid (runs follow one another: a start opens the next)."""
        runs: dict[str, list[tuple[str, dict]]] = {}
        current: list[tuple[str, dict]] | None = None
        for name, doc in self.documents:
            if name == "start":
                current = runs.setdefault(doc["uid"], [])
            if current is not None:
                current.append((name, doc))
        return runs

    def state(self, tag: str) -> InstrumentState | None:
        """Return the first state recorded with ``tag`` (None if none was)."""
        return next((state for t, state in self.states if t == tag), None)

    def last_state(self) -> InstrumentState | None:
        """Return the last state recorded: at a kill, the hazards the kill left on."""
        return self.states[-1][1] if self.states else None


def read_launch_log(path: Path) -> LaunchLog:
    """Read a launch log; a torn last line (the process was killed mid-write) is skipped."""
    log = LaunchLog()
    if not path.exists():
        return log
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                logger.info("%s: line %d is incomplete (killed mid-write) and was skipped", path.name, number)
                continue
            kind = record["kind"]
            if kind == "doc":
                log.documents.append((record["name"], record["doc"]))
            elif kind == "state":
                log.states.append((record["tag"], InstrumentState.from_dict(record["state"])))
            elif kind == "fault":
                log.faults.append(record["fault"])
            elif kind == "imposed":
                log.imposed.extend(record["instruments"])
            elif kind == "exit":
                log.exit_code = int(record["code"])
    return log


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"cannot log a {type(value).__name__}")
