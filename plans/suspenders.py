"""Suspenders for cryo-SIMS: a stage excursion or an LN2 run-out pauses the acquisition.

bluesky's suspenders were written for classic ophyd: they call ``signal.subscribe(callback,
event_type=..., run=...)``, ``signal.clear_sub(callback)`` and ``signal.get()``.
:class:`SuspendableSignal` offers exactly that over an ophyd-async signal's
``subscribe_reading`` (design.md, "Known pitfalls"). Install the suspenders with
``bpp.suspend_wrapper`` (inside the plan, on the RunEngine's loop), not ``RE.install_suspender``
from another thread: an ophyd-async subscription starts a poll task on the running loop.

While suspended the acquisition in progress is stopped with ``stop(success=True)`` (so its
status does not fail the run) and, after recovery, the RunEngine rewinds to the checkpoint
before it and takes the acquisition again.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.suspenders import SuspendBoolLow, SuspenderBase, SuspendWhenOutsideBand
from bluesky.utils import MsgGenerator

from .interlocks import ImagingInterlock

__all__ = ["SuspendableSignal", "imaging_suspenders", "stop_acquisition"]

logger = logging.getLogger(__name__)


class SuspendableSignal:
    """The part of the classic ophyd Signal API bluesky's suspenders use, over an ophyd-async signal."""

    SUB_VALUE = "value"

    def __init__(self, signal: Any) -> None:
        self._signal = signal
        self._value: Any = None
        self._subscriptions: dict[Callable[..., Any], Callable[[dict], None]] = {}

    @property
    def name(self) -> str:
        return self._signal.name

    def subscribe(self, callback: Callable[..., Any], event_type: str | None = None, run: bool = True) -> int:
        """Call ``callback(value=..., timestamp=..., obj=self)`` on every new reading (the first at once)."""

        def on_reading(readings: dict) -> None:
            reading = readings[self._signal.name]
            self._value = reading["value"]
            callback(value=self._value, timestamp=reading["timestamp"], obj=self)

        self._subscriptions[callback] = on_reading
        self._signal.subscribe_reading(on_reading)
        return len(self._subscriptions)

    def clear_sub(self, callback: Callable[..., Any], event_type: str | None = None) -> None:
        on_reading = self._subscriptions.pop(callback, None)
        if on_reading is not None:
            self._signal.clear_sub(on_reading)

    def get(self) -> Any:
        """Return the last value seen (None before the first reading)."""
        return self._value

    def __repr__(self) -> str:
        return f"SuspendableSignal({self.name})"


def imaging_suspenders(interlock: ImagingInterlock, detector: Any,
                       resume_after_s: float = 120.0) -> list[SuspenderBase]:
    """Return the suspenders guarding a cryo-SIMS acquisition.

    The stage temperature leaving target_k +/- tolerance_k (K), or the LN2 supply running out
    (``interlock.cooling_ok`` False), suspends; the run resumes ``resume_after_s`` seconds
    (session clock) after the condition cleared. Each suspension first stops ``detector``.
    """
    pre_plan = _stopper(detector)
    target, tolerance = interlock.target_k, interlock.tolerance_k
    suspenders: list[SuspenderBase] = [
        SuspendWhenOutsideBand(
            SuspendableSignal(interlock.temperature), target - tolerance, target + tolerance,
            sleep=resume_after_s, pre_plan=pre_plan,
            tripped_message=f"stage outside {target:.2f} +/- {tolerance:g} K: acquisition stopped",
        )
    ]
    if interlock.cooling_ok is not None:
        suspenders.append(
            SuspendBoolLow(
                SuspendableSignal(interlock.cooling_ok), sleep=resume_after_s, pre_plan=pre_plan,
                tripped_message="LN2 supply ran out: acquisition stopped until the dewar is refilled",
            )
        )
    return suspenders


def stop_acquisition(detector: Any) -> MsgGenerator[None]:
    """Stop the detector's acquisition in progress without failing its status.

    ``stop(success=True)`` ends the trigger's status quietly; a plain ``bps.stop`` would fail
    it and the RunEngine would end the run on that failure.
    """

    async def stop() -> None:
        result = detector.stop(success=True)
        if inspect.isawaitable(result):
            await result

    yield from bps.wait_for([stop])


def _stopper(detector: Any) -> Callable[[], MsgGenerator[None]]:
    def pre_plan() -> MsgGenerator[None]:
        logger.warning("suspending: stopping %s", detector.name)
        yield from stop_acquisition(detector)

    return pre_plan
