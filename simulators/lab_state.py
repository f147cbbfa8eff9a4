"""Saving and loading the simulated lab's state: one .npz file, arrays native, the rest JSON.

A snapshot is nested dicts and lists of plain values and numpy arrays. Arrays go into the
archive under generated keys; everything else goes, with references to them, into one JSON
document stored beside them. No pickling: a state file can be opened safely.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["save_state", "load_state"]

_DOCUMENT_KEY = "__state__"


def save_state(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` (.npz appended if missing), atomically; return the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays: dict[str, np.ndarray] = {}
    document = json.dumps(_split(state, arrays))
    partial = path.with_name(path.name + ".partial.npz")
    np.savez(partial, **{_DOCUMENT_KEY: np.array(document)}, **arrays)
    os.replace(partial, path)
    return path


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a state written by :func:`save_state`."""
    with np.load(Path(path), allow_pickle=False) as archive:
        document = json.loads(str(archive[_DOCUMENT_KEY]))
        return _join(document, archive)


def _split(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Return ``value`` with every array replaced by a reference into ``arrays``."""
    if isinstance(value, np.ndarray):
        key = f"array_{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"state keys must be strings, got {list(value)[:5]}")
        return {k: _split(v, arrays) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_split(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(value: Any, archive: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return np.array(archive[value["__array__"]])
        return {k: _join(v, archive) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, archive) for v in value]
    return value
