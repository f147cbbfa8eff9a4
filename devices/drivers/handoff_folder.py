"""The file hand-off mechanism: requests and results as files in shared folders.

Where an instrument has no remote-control API (IONTOF SurfaceLab) or the actor is a person
(sample transfers), simslab hands work off through files: it writes a request, and waits
for a result or a confirmation to appear. The rules both sides follow:

- A file appears complete or not at all: it is written under a hidden temporary name in the
  same folder (``.<name>.<random>.tmp``) and renamed into place (``os.replace``, atomic on one
  file system, also on SMB/NFS shares as far as a single rename goes). Watchers ignore names
  starting with a dot.
- Requests and confirmations are small JSON documents (UTF-8, sorted keys, indented), so a
  person can read them and a site script in any language can write them.
- Nothing here sleeps or waits: callers poll (the devices on the session clock), so a
  simulated lab on virtual time sees the same behaviour as a real one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["write_bytes_atomic", "write_json_atomic", "read_json", "visible_files"]


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file.

    Creates the folder if needed; replaces an existing file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON document to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON document; raise ValueError naming the file if it is not a JSON object."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(document).__name__}")
    return document


def visible_files(folder: Path, suffix: str) -> list[Path]:
    """Return the files in ``folder`` ending with ``suffix``, without hidden (temporary) ones, sorted.

    A missing folder has no files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".") and p.is_file())
