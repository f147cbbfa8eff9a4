"""A stand-in for ``simslab demo`` run as a child by the campaign suite's test.

Journals two runs into $SIMSLAB_DATA/journal (what the suite reads; the tiled catalog is left
out, its import alone takes seconds) on a virtual clock, two simulated hours apart, and holds
ALLOCATED_MB of touched memory at its peak.
Usage: python -m tests.benchmarks.fake_demo
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
from bluesky import RunEngine
from ophyd_async.core import StandardReadable

from simslab.clock import VirtualClock
from simslab.devices.clocked_signal import clocked_signal_r_and_setter
from simslab.journal import DocumentJournal

SIMULATED_GAP_S = 7200.0
ALLOCATED_MB = 300


class Thermometer(StandardReadable):
    def __init__(self, clock: VirtualClock, name: str = "thermometer"):
        with self.add_children_as_readables():
            self.temperature, self.set_temperature = clocked_signal_r_and_setter(float, 295.0, clock, units="K")
        super().__init__(name=name)


def main() -> None:
    ballast = np.ones(ALLOCATED_MB * 1_000_000 // 8)  # written, so every page is resident
    clock = VirtualClock()
    engine = RunEngine({}, loop=clock.loop)
    engine.subscribe(DocumentJournal(Path(os.environ["SIMSLAB_DATA"]) / "journal"))
    thermometer = Thermometer(clock)
    asyncio.run_coroutine_threadsafe(thermometer.connect(), clock.loop).result(10)

    def campaign():
        thermometer.set_temperature(295.0)  # stamped now (virtual)
        yield from bp.count([thermometer])
        yield from bps.sleep(SIMULATED_GAP_S)  # jumps: the loop's time is virtual
        thermometer.set_temperature(473.0)
        yield from bp.count([thermometer])

    engine(campaign())
    del ballast


if __name__ == "__main__":
    main()
