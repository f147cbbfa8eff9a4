"""What an operando image records beside its frames: the charge window it integrated over, and why.

:class:`OperandoLog` is a small readable the operando plan creates for its run (device name
``operando``). Before an acquisition :meth:`OperandoLog.mark_start` reads the potentiostat
(charge, voltage, time); after it :meth:`OperandoLog.mark_end` does again; the plan reads the
log into the image's event. The marks run as ``wait_for`` messages, so a rewound plan marks
again. Data keys (units): ``operando-charge_start`` / ``charge_end`` (C), ``time_start`` /
``time_end`` (s, session clock), ``voltage_start`` / ``voltage_end`` (V), ``cycle``,
``cell_step`` (rest, charge, cv_hold, discharge), ``reason`` (why the set was taken: start,
every_s, every_charge, soc=0.50, step_end),
``region``, ``expected_dose``, ``dose_before``, ``dose_budget`` (ions/m^2).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from ophyd_async.core import StandardReadable
from ophyd_async.core import StandardReadableFormat as Format

from simslab.devices.clocked_signal import clocked_signal_r_and_setter

__all__ = ["OperandoLog"]


class OperandoLog(StandardReadable):
    """The charge window and context of one operando acquisition (see the module docstring)."""

    def __init__(self, potentiostat: Any, clock: Any, name: str = "operando") -> None:
        self._sources = (potentiostat.charge, potentiostat.voltage)  # a tuple: not adopted as children
        self._setters: dict[str, Any] = {}
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            for field, datatype, initial, units in (
                ("charge_start", float, math.nan, "C"), ("charge_end", float, math.nan, "C"),
                ("time_start", float, math.nan, "s"), ("time_end", float, math.nan, "s"),
                ("voltage_start", float, math.nan, "V"), ("voltage_end", float, math.nan, "V"),
                ("cycle", int, 0, ""), ("cell_step", str, "", ""), ("reason", str, "", ""),
                ("region", str, "", ""), ("expected_dose", float, math.nan, "ions/m^2"),
                ("dose_before", float, math.nan, "ions/m^2"), ("dose_budget", float, math.nan, "ions/m^2"),
            ):
                signal, setter = clocked_signal_r_and_setter(datatype, initial, clock, units=units)
                setattr(self, field, signal)
                self._setters[field] = setter
        super().__init__(name=name)

    def note(self, **values: Any) -> None:
        """Set fields by name (cycle=, cell_step=, reason=, region=, expected_dose= ...)."""
        for field, value in values.items():
            self._setters[field](value)

    async def mark_start(self) -> None:
        """Record the potentiostat's charge (C), voltage (V) and time (s) as the acquisition starts."""
        await self._mark("start")

    async def mark_end(self) -> None:
        """Record the potentiostat's charge (C), voltage (V) and time (s) as the acquisition ends."""
        await self._mark("end")

    async def _mark(self, edge: str) -> None:
        # uncached: a monitored signal's cached reading is as old as its last change past the deadband
        charge, voltage = await asyncio.gather(*(signal.read(cached=False) for signal in self._sources))
        reading = next(iter(charge.values()))
        self.note(**{f"charge_{edge}": reading["value"], f"time_{edge}": reading["timestamp"],
                     f"voltage_{edge}": next(iter(voltage.values()))["value"]})
