"""Time stepping that reads cannot disturb: state committed on a fixed grid and at events.

The twin's thermal and cell models are integrated in steps of ``step_s`` on a grid anchored
at the model's creation time. A read at an arbitrary time previews a partial step from the
last committed grid point without storing it, so how often (and from which thread) someone
reads never changes the trajectory. Only events (a control change, a dewar running out, a
fault) commit a partial step. Once a step leaves the state unchanged (a fixed point of the
loop), the model is *steady* and jumps straight to the next event: six weeks at a held
temperature cost one step.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Generic, TypeVar

__all__ = ["GridModel", "TraceSegment", "ramp_towards"]

S = TypeVar("S")

TraceSegment = tuple[float, float, float]
"""(start_s, end_s, mean temperature in K) of a committed stretch of a thermal model."""


class GridModel(Generic[S]):
    """Base of a model integrated on a fixed time grid with events and steady jumps.

    Subclasses hold their state in a dataclass with a ``time_s`` field and implement
    :meth:`_step` (pure: state and step length in s to new state and mean temperature in K),
    :meth:`_is_steady`, and where they have internal events :meth:`_next_event_s` and
    :meth:`_apply_event`.
    """

    def __init__(self, state: S, step_s: float, record_trace: bool = True):
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0 s, got {step_s}")
        self._state = state
        self._origin_s = float(state.time_s)  # type: ignore[attr-defined]
        self._step_s = float(step_s)
        self._steady = False
        self._record_trace = record_trace
        self._trace: list[TraceSegment] = []

    # --- what the world calls ----------------------------------------------------------------

    @property
    def committed_s(self) -> float:
        """Return the time in s up to which the state is committed."""
        return self._state.time_s  # type: ignore[attr-defined]

    def advance_to(self, time_s: float) -> None:
        """Commit every grid step and event up to ``time_s`` (no partial step at the end)."""
        self._advance(time_s, partial=False)

    def commit_to(self, time_s: float) -> None:
        """Commit the state exactly at ``time_s`` (before a control change or an event)."""
        self._advance(time_s, partial=True)
        self._steady = False

    def state_at(self, time_s: float) -> S:
        """Return the state at ``time_s``: committed grid steps plus an uncommitted preview.

        ``time_s`` must not lie before the committed time: the model keeps no past.
        """
        if time_s < self.committed_s:
            raise ValueError(f"cannot read the model at {time_s} s, before its committed time {self.committed_s} s")
        self.advance_to(time_s)
        state = self._state
        dt = time_s - state.time_s  # type: ignore[attr-defined]
        if dt <= 0:
            return state
        if self._steady:
            return dataclasses.replace(state, time_s=time_s)  # type: ignore[type-var]
        return self._step(state, dt)[0]

    def drain_trace(self) -> list[TraceSegment]:
        """Return and forget the committed (start_s, end_s, mean K) stretches since the last call."""
        trace, self._trace = self._trace, []
        return trace

    def snapshot(self) -> dict[str, Any]:
        """Return the committed state as plain data."""
        state = dataclasses.asdict(self._state)  # type: ignore[call-overload]
        return {"state": state, "steady": self._steady, "origin_s": self._origin_s}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back a state from :meth:`snapshot`."""
        self._state = type(self._state)(**snapshot["state"])
        self._steady = bool(snapshot["steady"])
        self._origin_s = float(snapshot["origin_s"])
        self._trace = []

    # --- for subclasses ------------------------------------------------------------------------

    @property
    def state(self) -> S:
        """The committed state."""
        return self._state

    def _replace_state(self, **changes: Any) -> None:
        """Change the committed state (call :meth:`commit_to` first); ends a steady stretch."""
        self._state = dataclasses.replace(self._state, **changes)  # type: ignore[type-var]
        self._steady = False

    def _step(self, state: S, dt: float) -> tuple[S, float]:
        raise NotImplementedError

    def _next_event_s(self, state: S) -> float:
        """Return the time of the model's next internal event (math.inf if none)."""
        return math.inf

    def _apply_event(self, state: S) -> S:
        return state

    def _is_steady(self, before: S, after: S, dt: float) -> bool:
        """Return True if a step of ``dt`` s left the state at a fixed point of the model."""
        raise NotImplementedError

    # --- the stepping --------------------------------------------------------------------------

    def _advance(self, time_s: float, partial: bool) -> None:
        limit = time_s if partial else self._grid_floor(time_s)
        while True:
            now = self._state.time_s  # type: ignore[attr-defined]
            event_s = self._next_event_s(self._state)
            goal = max(limit, event_s) if event_s <= time_s else limit
            end = min(goal, event_s)
            if not self._steady:
                end = min(end, self._grid_after(now))
            if end <= now:
                return
            if self._steady:
                mean_k = getattr(self._state, "temperature_k", math.nan)
                self._state = dataclasses.replace(self._state, time_s=end)  # type: ignore[type-var]
            else:
                before = self._state
                self._state, mean_k = self._step(before, end - now)
                self._steady = self._is_steady(before, self._state, end - now)
            if self._record_trace:
                self._trace.append((now, end, mean_k))
            if end >= event_s:
                self._state = self._apply_event(self._state)
                self._steady = False

    def _grid_after(self, time_s: float) -> float:
        k = math.floor((time_s - self._origin_s) / self._step_s) + 1
        grid = self._origin_s + k * self._step_s
        while grid <= time_s:
            k += 1
            grid = self._origin_s + k * self._step_s
        return grid

    def _grid_floor(self, time_s: float) -> float:
        k = math.floor((time_s - self._origin_s) / self._step_s)
        grid = self._origin_s + k * self._step_s
        while grid > time_s:
            k -= 1
            grid = self._origin_s + k * self._step_s
        return grid


def ramp_towards(value: float, target: float, max_change: float) -> float:
    """Move ``value`` towards ``target`` by at most ``max_change``; all the way if max_change <= 0."""
    if max_change <= 0 or abs(target - value) <= max_change:
        return target
    return value + math.copysign(max_change, target - value)
