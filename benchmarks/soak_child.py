"""One launch of a soak campaign: ``simslab run`` exactly as a user starts it, watched from beside.

Usage::

    python -m benchmarks.soak_child LOG [--impose STATE.json] -- run CAMPAIGN.yaml --profile P
    python -m benchmarks.soak_child LOG [--impose STATE.json] -- run --resume CAMPAIGN_ID --profile P

The command after ``--`` goes to simslab's own CLI unchanged. The only additions are an observer
subscribed to the session's RunEngine once the session is built (after the catalog's writer, so
a document the observer logged was already journalled), which writes the launch log
(:mod:`benchmarks.soak_log`) independently of the catalog and its journal, which are what the
soak tests; and a handler on httpx's log noting each request to the catalog as it goes out. ``--impose`` puts the hazards a kill left on (a state from the killed launch's log)
back into the restored twin before the campaign resumes (:mod:`benchmarks.soak_instruments`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import astuple
from pathlib import Path
from typing import Any

from simslab.session import Session

from .soak_instruments import InstrumentState, impose_hazards, read_instruments
from .soak_log import LaunchLogWriter

__all__ = ["SoakObserver", "CatalogRequestLog", "log_catalog_requests", "main", "parse_arguments"]


class SoakObserver:
    """Logs a launch: every document, hazard-state changes, injected faults (see :mod:`benchmarks.soak_log`)."""

    def __init__(self, log: LaunchLogWriter, impose: InstrumentState | None = None):
        self.log = log
        self.lab: Any = None
        self._impose = impose
        self._hazards: tuple[Any, ...] | None = None
        self._faults_seen: set[tuple[Any, ...]] = set()
        self._started = False

    def attach(self, session: Session) -> None:
        """Watch the campaign's session (the first one the process builds)."""
        if self.lab is not None or session.lab is None:
            return
        self.lab = session.lab
        if self._impose is not None:
            self.log.imposed(impose_hazards(self.lab, self._impose))
        self._record("session", force=True)
        session.RE.subscribe(self)

    def __call__(self, name: str, doc: dict) -> None:
        self.log.document(name, doc)
        first_start = name == "start" and not self._started
        self._started = self._started or name == "start"
        self._record("first_start" if first_start else "document", force=first_start)
        self._note_faults()

    def finish(self, code: int) -> None:
        """Record the state the process leaves the instruments in, and its exit code."""
        if self.lab is not None:
            self._note_faults()
            self._record("exit", force=True)
        self.log.exit(code)

    def _record(self, tag: str, force: bool) -> None:
        state = read_instruments(self.lab)
        hazards = state.hazards()
        if force or hazards != self._hazards:
            self.log.state(tag, state)
        self._hazards = hazards

    def _note_faults(self) -> None:
        for fault in self.lab.faults.injected:
            key = astuple(fault)
            if key not in self._faults_seen:
                self._faults_seen.add(key)
                self.log.fault({"time_s": fault.time_s, "kind": fault.kind, "device": fault.device,
                                "detail": fault.detail})


class CatalogRequestLog(logging.Handler):
    """Notes every request httpx sends (in a soak child, all go to the catalog) in the launch log."""

    def __init__(self, log: LaunchLogWriter):
        super().__init__(logging.INFO)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("HTTP Request"):
            self.log.request()


def log_catalog_requests(writer: LaunchLogWriter) -> CatalogRequestLog:
    """Note every request httpx sends in the launch log from now on; return the handler doing it."""
    handler = CatalogRequestLog(writer)
    httpx_log = logging.getLogger("httpx")
    httpx_log.addHandler(handler)
    httpx_log.setLevel(min(httpx_log.getEffectiveLevel(), logging.INFO))  # httpx logs each request at INFO
    return handler


def main(argv: list[str] | None = None) -> None:
    """Run simslab's CLI with the observer; exit with the CLI's exit code."""
    log, impose, command = parse_arguments(sys.argv[1:] if argv is None else argv)
    state = InstrumentState.from_dict(json.loads(impose.read_text())) if impose is not None else None
    writer = LaunchLogWriter(log)
    observer = SoakObserver(writer, state)
    _observe_sessions(observer)
    log_catalog_requests(writer)

    from simslab.cli import app

    code = 1
    try:
        app(command, prog_name="simslab")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        observer.finish(code)
    sys.exit(code)


def parse_arguments(argv: list[str]) -> tuple[Path, Path | None, list[str]]:
    """Return (log, state to impose or None, simslab's command line) from ``LOG [--impose F] -- ARGS...``."""
    if "--" not in argv:
        raise SystemExit("usage: python -m benchmarks.soak_child LOG [--impose STATE.json] -- SIMSLAB ARGS...")
    split = argv.index("--")  # simslab's own arguments stay untouched (argparse's REMAINDER would take --impose)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak_child")
    parser.add_argument("log", type=Path, help="the launch log to append to")
    parser.add_argument("--impose", type=Path, help="a JSON instrument state to put back into the restored twin")
    args = parser.parse_args(argv[:split])
    return args.log, args.impose, argv[split + 1:]


def _observe_sessions(observer: SoakObserver) -> None:
    """Hand every session the CLI builds to the observer, right after it is built."""
    build = Session.build.__func__  # type: ignore[attr-defined]

    def build_observed(cls: type[Session], *args: Any, **kwargs: Any) -> Session:
        session = build(cls, *args, **kwargs)
        observer.attach(session)
        return session

    Session.build = classmethod(build_observed)  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
