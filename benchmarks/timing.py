"""Side-by-side timing: a measurement and its reference alternate in one run; medians are kept.

On a shared machine the speed drifts (other processes, CPU frequency, caches): timing one
thing for a minute and the other for the next minute measures the drift. Alternating them,
with the order swapped every round (ABBA), exposes both to the same drift, and the median of
each discards the rounds a burst of load hit.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

__all__ = ["side_by_side", "interleaved_medians", "seconds_of"]


def side_by_side(measure: Callable[[], float], reference: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Return the medians of ``measure()`` and ``reference()`` over ``repeats`` alternating rounds.

    Each callable runs once per round and returns its own figure (seconds, events/s, ...);
    even rounds run the measurement first, odd rounds the reference first.
    """
    medians = interleaved_medians({"measure": measure, "reference": reference}, repeats)
    return medians["measure"], medians["reference"]


def interleaved_medians(measures: Mapping[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Return the median of each callable over ``repeats`` rounds that run all of them in turn.

    Every round runs each callable once; the order is reversed every other round, so no
    callable always runs first (after the others warmed or polluted the caches).
    """
    if repeats < 1:
        raise ValueError(f"repeats = {repeats!r} is not allowed: >= 1")
    if not measures:
        raise ValueError("interleaved_medians needs at least one measurement")
    names = list(measures)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else reversed(names):
            samples[name].append(float(measures[name]()))
    return {name: statistics.median(values) for name, values in samples.items()}


def seconds_of(action: Callable[[], object]) -> float:
    """Return the wall seconds ``action()`` takes (its result is discarded)."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
