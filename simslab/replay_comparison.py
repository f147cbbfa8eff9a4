"""Compare a replayed run with its original: streams, data keys and every reading.

Built on :func:`simslab.run_content.run_content` (what a run recorded, whatever form the
catalog gives it back in). Readings are compared value by value, per stream and data key, in
seq_num order; timestamps are not readings (the replay's virtual clock starts at another
wall time). Images and other data the detector wrote to files (``external`` data keys) are read
through the catalog and compared frame by frame. A difference is summarised per stream and
field: how many values each run holds, how many of the compared ones differ, the largest
absolute difference (numbers) and the seq_num of the first that differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simslab.run_content import run_content

__all__ = ["FieldDifference", "RunComparison", "compare_runs", "reading_differences", "ArrayReader"]

ArrayReader = Callable[[str, str], np.ndarray]
"""Reads the frames of one external data key of a run: (stream, data key) -> array, frames first."""


@dataclass(frozen=True)
class FieldDifference:
    """How one data key of one stream differs between the original and the replay."""

    stream: str
    field: str
    original_count: int
    replay_count: int
    differing: int
    max_abs_difference: float | None
    first_seq_num: int | None

    def describe(self) -> str:
        """Say it in one line: ``image/sims-Li6: 1 vs 1 values, 1 differ (max |diff| 3), first at seq_num 1``."""
        counts = f"{self.original_count} vs {self.replay_count} values"
        largest = "" if self.max_abs_difference is None else f" (max |diff| {self.max_abs_difference:.4g})"
        first = "" if self.first_seq_num is None else f", first at seq_num {self.first_seq_num}"
        return f"{self.stream}/{self.field}: {counts}, {self.differing} differ{largest}{first}"


@dataclass(frozen=True)
class RunComparison:
    """One original run and its replay: exit statuses, structure differences and differing fields."""

    label: str
    original_uid: str
    replay_uid: str | None
    original_exit: str
    replay_exit: str
    structure: tuple[str, ...]
    fields: tuple[FieldDifference, ...]
    compared_values: int

    @property
    def identical(self) -> bool:
        """True if both runs have the same streams, data keys, exit status and readings."""
        return (self.replay_uid is not None and not self.structure and not self.fields
                and self.original_exit == self.replay_exit)

    def lines(self) -> list[str]:
        """Return the differences as lines of text (none if identical)."""
        found = list(self.structure)
        if self.original_exit != self.replay_exit:
            found.append(f"exit status {self.original_exit} vs {self.replay_exit}")
        return found + [f.describe() for f in self.fields]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identical": self.identical}


def compare_runs(label: str, original: Any, replay: Any | None) -> RunComparison:
    """Compare two runs of the catalog (tiled run clients); ``replay`` None: the replay made no run."""
    start = original.metadata["start"]
    original_exit = (original.metadata.get("stop") or {}).get("exit_status", "running")
    if replay is None:
        return RunComparison(label, start["uid"], None, original_exit, "none", ("no replayed run",), (), 0)
    replay_exit = (replay.metadata.get("stop") or {}).get("exit_status", "running")
    ours, theirs = run_content(original.documents()), run_content(replay.documents())
    structure, fields, compared = reading_differences(ours, theirs, _catalog_arrays(original), _catalog_arrays(replay))
    return RunComparison(label, start["uid"], replay.metadata["start"]["uid"], original_exit, replay_exit,
                         tuple(structure), tuple(fields), compared)


def reading_differences(original: Mapping[str, Any], replay: Mapping[str, Any], original_arrays: ArrayReader,
                        replay_arrays: ArrayReader) -> tuple[list[str], list[FieldDifference], int]:
    """Compare two run contents: return (structure differences, field differences, values compared)."""
    structure: list[str] = []
    fields: list[FieldDifference] = []
    compared = 0
    ours, theirs = original["streams"], replay["streams"]
    structure += [f"stream {name} only in the {where}" for name, where in _only_in(ours, theirs)]
    for name in sorted(set(ours) & set(theirs)):
        keys_a, keys_b = ours[name].get("data_keys", {}), theirs[name].get("data_keys", {})
        structure += [f"stream {name}: data key {key} only in the {where}" for key, where in _only_in(keys_a, keys_b)]
        seq_a = [e["seq_num"] for e in ours[name]["events"]]
        for key in sorted(set(keys_a) & set(keys_b)):
            if keys_a[key].get("external"):
                values_a, values_b = list(original_arrays(name, key)), list(replay_arrays(name, key))
            else:
                values_a = [e["data"].get(key) for e in ours[name]["events"]]
                values_b = [e["data"].get(key) for e in theirs[name]["events"]]
            difference = _field_difference(name, key, values_a, values_b, seq_a)
            compared += min(len(values_a), len(values_b))
            if difference is not None:
                fields.append(difference)
    return structure, fields, compared


def _only_in(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[tuple[str, str]]:
    return sorted([(k, "original") for k in set(a) - set(b)] + [(k, "replay") for k in set(b) - set(a)])


def _field_difference(stream: str, key: str, a: list[Any], b: list[Any], seq_nums: list[int]) -> FieldDifference | None:
    differing, largest, first = 0, None, None
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        same, gap = _compare(x, y)
        if same:
            continue
        differing += 1
        if gap is not None:
            largest = gap if largest is None else max(largest, gap)
        if first is None:
            first = seq_nums[index] if index < len(seq_nums) else index + 1
    if differing == 0 and len(a) == len(b):
        return None
    if first is None:  # the common values agree: the first difference is the first value only one run has
        shorter = min(len(a), len(b))
        first = seq_nums[shorter] if shorter < len(seq_nums) else shorter + 1
    return FieldDifference(stream, key, len(a), len(b), differing, largest, first)


def _compare(x: Any, y: Any) -> tuple[bool, float | None]:
    """Return (equal, largest absolute difference if both are numbers or numeric arrays of one shape)."""
    a, b = np.asarray(x), np.asarray(y)
    numeric = a.dtype.kind in "biuf" and b.dtype.kind in "biuf"
    if not numeric:
        return bool(x == y), None
    if a.shape != b.shape:
        return False, None
    a, b = a.astype(np.float64), b.astype(np.float64)  # unsigned counts must not wrap when subtracted
    if np.array_equal(a, b, equal_nan=True):
        return True, 0.0
    gap = np.abs(a - b)
    return False, float(np.nanmax(gap)) if np.isfinite(gap).any() else None


def _catalog_arrays(run: Any) -> ArrayReader:
    def read(stream: str, key: str) -> np.ndarray:
        return np.asarray(run[stream][key].read())

    return read
