"""Soft signals a device holds itself (step charge, configuration), stamped on the session clock.

ophyd-async's soft signals stamp readings with ``time.time()``; in a simulated run that would
mix wall time into documents that otherwise carry virtual time. These stamp ``clock.now()``.
Mock mode keeps them (a soft backend is its own mock), so their setters work there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bluesky.protocols import Reading
from ophyd_async.core import SignalDatatypeT, SignalR, SignalRW, SoftSignalBackend

from simslab.clock import Clock

__all__ = ["ClockedSoftSignalBackend", "clocked_signal_rw", "clocked_signal_r_and_setter"]


class ClockedSoftSignalBackend(SoftSignalBackend[SignalDatatypeT]):
    """A soft signal backend whose readings carry ``clock.now()`` as timestamp."""

    def __init__(self, datatype: type[SignalDatatypeT], initial_value: Any, clock: Clock, units: str) -> None:
        self._clock = clock
        super().__init__(datatype, initial_value, units=units)

    def set_value(self, value: SignalDatatypeT) -> None:
        self.reading = Reading(value=self.converter.write_value(value), timestamp=self._clock.now(), alarm_severity=0)
        if self.callback:
            self.callback(self.reading)


def clocked_signal_rw(datatype: type[SignalDatatypeT], initial_value: Any, clock: Clock,
                      units: str) -> tuple[SignalRW[SignalDatatypeT], ClockedSoftSignalBackend[SignalDatatypeT]]:
    """Return a read-write soft signal and its backend (whose ``set_value`` changes it synchronously)."""
    backend = ClockedSoftSignalBackend(datatype, initial_value, clock, units)
    return SignalRW(backend), backend


def clocked_signal_r_and_setter(datatype: type[SignalDatatypeT], initial_value: Any, clock: Clock,
                                units: str) -> tuple[SignalR[SignalDatatypeT], Callable[[SignalDatatypeT], None]]:
    """Return a read-only soft signal and the function that sets its value."""
    backend = ClockedSoftSignalBackend(datatype, initial_value, clock, units)
    return SignalR(backend), backend.set_value
