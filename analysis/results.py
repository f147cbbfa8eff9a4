"""The base of every analysis result: a frozen dataclass that prints as named JSON-ready fields.

Results hold SI values, their uncertainties and a ``method`` string saying how they were
obtained. ``to_dict()`` is what ``simslab analyze --json`` prints: floats (NaN and inf become
None, JSON has no spelling for them), nested results as dicts, and arrays either as lists or,
for large ones, as a short summary so that a 512 x 206 map does not flood a terminal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["AnalysisResult", "MAX_LISTED_ARRAY_SIZE", "to_plain"]

MAX_LISTED_ARRAY_SIZE = 256
"""Arrays up to this many elements are listed in ``to_dict()``; larger ones are summarised."""


@dataclasses.dataclass(frozen=True)
class AnalysisResult:
    """Base class: subclasses are ``@dataclass(frozen=True)`` with SI fields and ``method``."""

    def __post_init__(self) -> None:
        # Freeze array fields too, so a result shared between a figure and a report cannot drift.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    def to_dict(self, arrays: bool = False) -> dict[str, Any]:
        """Return the fields by name, JSON-ready; ``arrays=True`` lists arrays of any size."""
        return {field.name: to_plain(getattr(self, field.name), arrays) for field in dataclasses.fields(self)}


def to_plain(value: Any, arrays: bool = False) -> Any:
    """Return ``value`` as JSON-ready Python data (see the module docstring)."""
    if isinstance(value, AnalysisResult):
        return value.to_dict(arrays)
    if isinstance(value, np.ndarray):
        if arrays or value.size <= MAX_LISTED_ARRAY_SIZE:
            return [to_plain(v, arrays) for v in value.tolist()] if value.ndim else to_plain(value.item(), arrays)
        return _array_summary(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v, arrays) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v, arrays) for k, v in value.items()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _array_summary(value: np.ndarray) -> dict[str, Any]:
    summary: dict[str, Any] = {"shape": list(value.shape), "dtype": str(value.dtype)}
    if value.dtype.kind in "fiub":
        finite = value[np.isfinite(value)] if value.dtype.kind == "f" else value
        summary["finite"] = int(finite.size)
        if finite.size:
            summary["min"] = to_plain(finite.min(), False)
            summary["max"] = to_plain(finite.max(), False)
            summary["mean"] = to_plain(finite.astype(float).mean(), False)
    return summary
