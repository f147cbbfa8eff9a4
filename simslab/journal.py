"""An append-only journal of every run's documents, so a killed process loses nothing.

TiledWriter buffers rows until its batch is full or the run stops (design.md): a SIGKILL
mid-run would lose the buffered readings. The journal writes each document as one JSON line,
flushed to the operating system as it arrives (a killed process loses nothing; a power cut
loses at most what the OS had not written, bounded by an fsync every ``sync_every_s``).
After a crash, :func:`unfinished_runs` finds the journals whose run has no stop document in
the catalog, and the catalog rebuilds those runs from them.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DocumentJournal", "read_journal", "journal_files"]

logger = logging.getLogger(__name__)


class DocumentJournal:
    """A bluesky callback writing each run's documents to ``directory/<run uid>.jsonl``."""

    def __init__(self, directory: Path, sync_every_s: float = 5.0):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sync_every_s = sync_every_s
        self._files: dict[str, Any] = {}  # run uid -> open file
        self._run_of: dict[str, str] = {}  # descriptor / stream resource uid -> run uid
        self._last_sync = time.monotonic()

    def __call__(self, name: str, doc: dict) -> None:
        run_uid = self._run_uid(name, doc)
        if run_uid is None:
            logger.warning("journal: %s document of an unknown run dropped", name)
            return
        if name == "start":
            self._files[run_uid] = open(self.directory / f"{run_uid}.jsonl", "a", encoding="utf-8")
        out = self._files.get(run_uid)
        if out is None:
            return
        out.write(json.dumps([name, doc], default=_to_json) + "\n")
        out.flush()
        now = time.monotonic()
        if name == "stop" or now - self._last_sync > self.sync_every_s:
            os.fsync(out.fileno())
            self._last_sync = now
        if name == "stop":
            out.close()
            del self._files[run_uid]
            self._run_of = {k: v for k, v in self._run_of.items() if v != run_uid}

    def _run_uid(self, name: str, doc: dict) -> str | None:
        if name == "start":
            return doc["uid"]
        if name in ("descriptor", "stream_resource", "stop"):
            run_uid = doc.get("run_start")
            if name != "stop":
                self._run_of[doc["uid"]] = run_uid
            return run_uid
        if name in ("event", "event_page"):
            return self._run_of.get(doc["descriptor"])
        if name in ("stream_datum",):
            return self._run_of.get(doc["stream_resource"])
        return doc.get("run_start")

    def close(self) -> None:
        """Close the files of runs still open (their journals stay unfinished on disk)."""
        for out in self._files.values():
            out.close()
        self._files.clear()


def journal_files(directory: Path) -> list[Path]:
    """Return the journal files in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)


def read_journal(path: Path) -> Iterator[tuple[str, dict]]:
    """Yield (name, document) pairs from a journal; a torn last line (killed mid-write) is skipped."""
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                name, doc = json.loads(line)
            except (json.JSONDecodeError, ValueError):
                logger.warning("journal %s: line %d is incomplete and was skipped", path.name, number)
                continue
            yield name, doc


def _to_json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot journal a {type(value).__name__}")
