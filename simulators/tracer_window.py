"""The window's pending history: advance calls not yet applied, and how to apply them cheaply.

Each new set of coefficients costs the 2D window one LU factorisation (~0.5-1 s at
512 x 206), and a thermal transient arrives as hundreds of short calls at different
temperatures. Evolving each call exactly would cost minutes per anneal; so the window is
advanced lazily, when read, and a stretch of calls is evolved as a few segments of constant
coefficients chosen from what the window can still remember:

- A grain-scale structure (steps at boundaries, gradients inside grains) relaxes at the
  rate lambda = 1 / (l^2 / D_bulk + l / k) (k = D_gb/delta, l the grain size). A call's
  *activity* is lambda * duration; structure older than ``memory`` units of activity is
  gone. What it leaves behind is the transport across the window, which the window's edges
  (taken from the exact 1D profile) carry.
- So the calls are cut after every *major* call (activity >= memory, e.g. an anneal hold),
  where the activity still to come drops below ``memory`` and where it drops below
  ``memory / 4``. Every segment but the last takes its time-averaged D_bulk and k (both
  transport integrals exact). The last holds the recent calls whose structure an image
  shows: it keeps the integral of D_bulk dt exact and takes the ratio k / D_bulk averaged in
  log with each call's surviving weight (1 - exp(-a)) exp(-a_after), so the freeze-out on
  cooling is that of the calls that set it.
- Within a segment, time is mapped onto the real history by the effective-medium dose
  (integral of D_eff dt), so the edge values follow the 1D profile as the real calls did.

Consecutive calls with equal coefficients merge exactly; a single call, or a run of equal
ones (an isothermal hold, storage), is evolved with its own coefficients: no approximation.
Measured against evolving every call on its own (tests/simulators/test_tracer_sample.py),
a furnace cool-down, transfer, stage cool-down and cold image of 180 calls costs 3-4 LU
factorisations instead of 180 and lands within ~4 % of the window's range and ~9 % (rms) of
its grain-scale structure: below the counting noise of an image.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["WindowHistory", "WindowSegment"]

MEMORY_ACTIVITY = 10.0
"""Activity after which grain-scale structure is forgotten (exp(-10) ~ 5e-5 of it is left)."""

_RECENT = 4.0  # the final segment holds the calls with less than memory / _RECENT still to come


@dataclasses.dataclass(frozen=True)
class WindowSegment:
    """A stretch of history evolved with constant coefficients (SI units).

    dose_start_m2/dose_end_m2: the effective-medium dose range it covers, to look up edges.
    """

    duration_s: float
    d_bulk: float
    gb_conductance: float
    d_eff: float
    dose_start_m2: float
    dose_end_m2: float


class WindowHistory:
    """Calls (duration, D_bulk, k, D_eff) and edge values sampled along the dose since the last flush."""

    def __init__(self, start_edges: tuple[float, float]):
        self._runs: list[list[float]] = []  # [duration_s, d_bulk, k, d_eff]
        self._doses = [0.0]
        self._left = [float(start_edges[0])]
        self._right = [float(start_edges[1])]

    @property
    def empty(self) -> bool:
        return not self._runs

    @property
    def end_edges(self) -> tuple[float, float]:
        return self._left[-1], self._right[-1]

    def add(self, duration_s: float, d_bulk: float, gb_conductance: float, d_eff: float,
            step_doses_m2: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
        """Record a call and the edge values at the end of each of its 1D steps (dose since the call began)."""
        if duration_s <= 0:
            return
        if self._runs and self._runs[-1][1:] == [d_bulk, gb_conductance, d_eff]:
            self._runs[-1][0] += duration_s
        else:
            self._runs.append([duration_s, d_bulk, gb_conductance, d_eff])
        base = self._doses[-1]
        self._doses.extend((base + np.asarray(step_doses_m2, dtype=float)).tolist())
        self._left.extend(np.asarray(left, dtype=float).tolist())
        self._right.extend(np.asarray(right, dtype=float).tolist())

    def edge_values(self, dose_m2: float) -> tuple[float, float]:
        """Return the window's (left, right) edge values at a dose since the last flush."""
        return float(np.interp(dose_m2, self._doses, self._left)), float(np.interp(dose_m2, self._doses, self._right))

    def edge_variation(self, dose_start_m2: float, dose_end_m2: float) -> float:
        """Return the total change of both edge values over a dose range (sum of |steps|)."""
        doses = np.asarray(self._doses)
        inside = (doses > dose_start_m2) & (doses < dose_end_m2)
        grid = np.concatenate([[dose_start_m2], doses[inside], [dose_end_m2]])
        left = np.interp(grid, doses, self._left)
        right = np.interp(grid, doses, self._right)
        return float(np.abs(np.diff(left)).sum() + np.abs(np.diff(right)).sum())

    def segments(self, grain_size_m: float, memory: float = MEMORY_ACTIVITY) -> list[WindowSegment]:
        """Split the history into constant-coefficient segments (see the module docstring)."""
        if self.empty:
            return []
        runs = np.asarray(self._runs)
        duration, d_bulk, k, d_eff = runs.T
        activity = duration / (grain_size_m**2 / d_bulk + grain_size_m / np.maximum(k, 1e-300))
        after = np.concatenate([np.cumsum(activity[::-1])[::-1][1:], [0.0]])
        # cuts: after every major call, and where the activity still to come drops below
        # memory and memory / _RECENT: the recent calls form the final, remembered segment
        cuts = set((np.flatnonzero(activity >= memory) + 1).tolist())
        for level in (memory, memory / _RECENT):
            first = int(np.argmax(after < level))
            if first > 0:
                cuts.add(first)
        cuts.add(len(runs))
        cuts.discard(0)
        bounds = sorted(cuts)
        final_start = bounds[-2] if len(bounds) > 1 else 0
        survival = -np.expm1(-activity) * np.exp(-after)
        dose_edges = np.concatenate([[0.0], np.cumsum(duration * d_eff)])
        segments, start = [], 0
        for end in bounds:
            part = slice(start, end)
            total_s = float(duration[part].sum())
            mean_bulk = float(np.dot(duration[part], d_bulk[part]) / total_s)
            weight = survival[part]
            if start == final_start and end - start > 1 and weight.sum() > 1e-3:
                log_ratio = np.dot(weight, np.log(np.maximum(k[part], 1e-300) / d_bulk[part])) / weight.sum()
                mean_k = mean_bulk * math.exp(log_ratio)
            else:
                mean_k = float(np.dot(duration[part], k[part]) / total_s)
            dose_start, dose_end = float(dose_edges[start]), float(dose_edges[end])
            segments.append(WindowSegment(total_s, mean_bulk, mean_k, (dose_end - dose_start) / total_s, dose_start, dose_end))
            start = end
        return segments

    def state(self) -> dict[str, np.ndarray]:
        """Return the history as arrays (for a snapshot)."""
        return {
            "runs": np.asarray(self._runs, dtype=float).reshape(-1, 4),
            "doses": np.asarray(self._doses),
            "left": np.asarray(self._left),
            "right": np.asarray(self._right),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> WindowHistory:
        """Rebuild a history from :meth:`state`."""
        history = cls((0.0, 0.0))
        history._runs = [list(map(float, row)) for row in np.asarray(state["runs"]).reshape(-1, 4)]
        history._doses = np.asarray(state["doses"], dtype=float).tolist()
        history._left = np.asarray(state["left"], dtype=float).tolist()
        history._right = np.asarray(state["right"], dtype=float).tolist()
        return history
