"""The file hand-off mechanism: requests and results as files in shared folders.

Where an instrument has no remote-control API (IONTOF SurfaceLab) or the actor is a person
(sample transfers), simslab hands work off through files: it writes a request, and waits
for a result or a confirmation to appear. The rules both sides follow:

- A file appears complete or not at all: it is written under a hidden temporary name in the
  same folder (``.<name>.<random>.tmp``) and renamed into place (``os.replace``, atomic on one
  file system, also on SMB/NFS shares as far as a single rename goes). Watchers ignore names
  starting with a dot.
- Requests and confirmations are small JSON documents (UTF-8, sorted keys, indented), so a
  person can read them and a site script in any language can write them. What the other side
  wrote is checked field by field (:func:`read_document`): a file of the wrong shape raises
  :class:`HandoffFileError` naming the file and the field, never a raw TypeError later.
- Nothing here sleeps or waits: callers poll (the devices on the session clock), so a
  simulated lab on virtual time sees the same behaviour as a real one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from .base import GarbledReply

__all__ = ["write_bytes_atomic", "write_json_atomic", "read_json", "read_document", "visible_files",
           "HandoffFileError"]

T = TypeVar("T")


class HandoffFileError(GarbledReply, ValueError):
    """A hand-off file that does not hold what its format promises: not JSON, a field of the wrong type.

    Names the file and the field. Inside a driver's :meth:`~.base.InstrumentDriver.exchange` it
    becomes an InstrumentError whose reply is the start of the file; elsewhere (the CLI) it is
    a ValueError.
    """

    def __init__(self, path: Path, problem: str, content: str = ""):
        self.path = Path(path)
        super().__init__(_excerpt(content), f"{self.path}: {problem}")


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
    """Read a JSON document; raise HandoffFileError naming the file if it is not a JSON object."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HandoffFileError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                               data.decode("utf-8", errors="backslashreplace")) from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HandoffFileError(path, f"not valid JSON ({exc})", text) from exc
    if not isinstance(document, dict):
        raise HandoffFileError(path, f"expected a JSON object, found {type(document).__name__}", text)
    return document


def read_document(path: Path, schema: TypeAdapter[T]) -> T:
    """Read a JSON hand-off file and check it against ``schema`` (strict: no "1" for 1, no null for a number).

    Raises HandoffFileError naming the file and the first wrong field, with the value found and
    what was expected (e.g. ``field 'primary_ions': Input should be a valid number, found None``).
    """
    path = Path(path)
    document = read_json(path)
    try:
        return schema.validate_python(document, strict=True)
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "(document)"
        found = _excerpt(repr(error.get("input")))
        raise HandoffFileError(path, f"field {field!r}: {error['msg']}, found {found}",
                               json.dumps(document, default=repr)) from exc


def visible_files(folder: Path, suffix: str) -> list[Path]:
    """Return the files in ``folder`` ending with ``suffix``, without hidden (temporary) ones, sorted.

    A missing folder has no files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".") and p.is_file())


_EXCERPT_CHARACTERS = 200


def _excerpt(text: str) -> str:
    """Return the start of ``text``, short enough for one line of an error message."""
    return text if len(text) <= _EXCERPT_CHARACTERS else f"{text[:_EXCERPT_CHARACTERS]}... ({len(text)} characters)"
