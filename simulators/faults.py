"""Fault injection for the simulated lab, deterministic with the seed.

Two families, from :class:`~simslab.simulators.parameters.FaultSpec`:

- Driver faults (``instrument_timeout``, ``garbled_reply``, ``lost_connection``) hit a twin
  driver's call: at the first call at or after ``at_s``, or with ``probability`` per call.
  The driver then raises InstrumentTimeout / InstrumentError (garbled reply) / ConnectionLost
  naming the instrument and the command, before doing anything. A lost connection stays
  lost: every call raises ConnectionLost until ``connect()`` is called again, which fails
  until ``duration_s`` (default 0) has passed since the loss, as a real port would.
- Physical faults (``thermocouple_break``, ``heater_fail``, ``ln2_runout``, ``compliance``,
  ``sims_abort``) happen in the simulated world at ``at_s`` or as a Poisson process with
  ``probability`` per hour of virtual time, and recover after ``duration_s`` (None: they stay
  until reset; an LN2 run-out always ends with the dewar's refill, after ``duration_s`` or
  the stage's ``refill_s``). A ``sims_abort`` aborts the acquisition running at that moment;
  with none running it does nothing and is not listed.

Every spec draws from its own random stream, so one device's calls never shift another's
faults. Everything injected is listed in :attr:`FaultInjector.injected`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout
from simslab.simulators.parameters import PHYSICAL_FAULT_DEVICES, FaultSpec

__all__ = ["FaultInjector", "InjectedFault", "PhysicalFaultEvent", "DRIVER_FAULT_KINDS"]

logger = logging.getLogger(__name__)

DRIVER_FAULT_KINDS = ("instrument_timeout", "garbled_reply", "lost_connection")
_GARBLED_REPLY = "+2\x1594.\x00\x7fE"


@dataclass(frozen=True)
class InjectedFault:
    """One fault that happened: when (epoch s), what, on which device, and on what."""

    time_s: float
    kind: str
    device: str
    detail: str


@dataclass(frozen=True)
class PhysicalFaultEvent:
    """A physical fault starting (``onset``) or ending (``recovery``) at ``time_s``."""

    time_s: float
    spec_index: int
    kind: str
    device: str
    phase: str
    duration_s: float | None


class FaultInjector:
    """Decides when each configured fault fires; the twin drivers and the world apply them."""

    def __init__(self, specs: list[FaultSpec], seed: np.random.SeedSequence, start_s: float):
        self.specs = list(specs)
        self.start_s = float(start_s)
        self._rngs = [np.random.default_rng(child) for child in seed.spawn(len(self.specs))]
        self._fired = [False] * len(self.specs)
        self._recoveries: list[PhysicalFaultEvent] = []
        self._lost: dict[str, tuple[float, float]] = {}  # device -> (lost at, reconnect allowed from)
        self.injected: list[InjectedFault] = []
        self._next_onset = [self._first_onset(i) for i in range(len(self.specs))]

    # --- driver faults ---------------------------------------------------------------------------

    def check_call(self, device: str, instrument: str, command: str, time_s: float) -> None:
        """Raise the driver fault that hits this call, if any (nothing happens to the instrument)."""
        if device in self._lost:
            raise ConnectionLost(instrument, command, None, "connection lost (call connect() to reopen)")
        hits = []
        for index, spec in enumerate(self.specs):
            if spec.kind not in DRIVER_FAULT_KINDS or spec.device != device:
                continue
            if spec.at_s is not None:
                if not self._fired[index] and time_s >= self.start_s + spec.at_s:
                    self._fired[index] = True
                    hits.append(spec)
            elif self._rngs[index].random() < spec.probability:
                hits.append(spec)
        if not hits:
            return
        spec = hits[0]
        self.injected.append(InjectedFault(time_s, spec.kind, device, command))
        logger.info("fault injected at %.1f s: %s on %s (%s)", time_s - self.start_s, spec.kind, device, command)
        if spec.kind == "instrument_timeout":
            raise InstrumentTimeout(instrument, command, None, "no reply within the timeout (injected)")
        if spec.kind == "garbled_reply":
            raise InstrumentError(instrument, command, _GARBLED_REPLY, "garbled reply (injected)")
        self._lost[device] = (time_s, time_s + (spec.duration_s or 0.0))
        raise ConnectionLost(instrument, command, None, "connection lost (injected)")

    def reconnect(self, device: str, instrument: str, time_s: float) -> None:
        """Reopen a lost connection; raise ConnectionLost while the outage lasts."""
        if device not in self._lost:
            return
        _lost_at, allowed_s = self._lost[device]
        if time_s < allowed_s:
            problem = f"port still down for {allowed_s - time_s:.0f} s (injected)"
            raise ConnectionLost(instrument, "connect", None, problem)
        del self._lost[device]

    # --- physical faults -------------------------------------------------------------------------

    def next_event_s(self) -> float:
        """Return the time of the next physical onset or recovery (math.inf if none)."""
        times = [t for t in self._next_onset] + [event.time_s for event in self._recoveries]
        return min(times, default=math.inf)

    def pop_due(self, time_s: float) -> list[PhysicalFaultEvent]:
        """Return the physical onsets and recoveries due by ``time_s``, in time order."""
        due = []
        for index, spec in enumerate(self.specs):
            while self._next_onset[index] <= time_s:
                onset_s = self._next_onset[index]
                due.append(PhysicalFaultEvent(onset_s, index, spec.kind, spec.device, "onset", spec.duration_s))
                if spec.duration_s is not None and spec.kind != "ln2_runout":
                    recovery_s = onset_s + spec.duration_s
                    recovery = PhysicalFaultEvent(recovery_s, index, spec.kind, spec.device, "recovery", None)
                    self._recoveries.append(recovery)
                self._next_onset[index] = self._following_onset(index, onset_s)
        ready = [event for event in self._recoveries if event.time_s <= time_s]
        self._recoveries = [event for event in self._recoveries if event.time_s > time_s]
        return sorted(due + ready, key=lambda event: (event.time_s, event.phase == "onset", event.spec_index))

    def record(self, time_s: float, kind: str, device: str, detail: str) -> None:
        """Note a physical fault that took effect."""
        self.injected.append(InjectedFault(time_s, kind, device, detail))
        logger.info("fault injected at %.1f s: %s on %s (%s)", time_s - self.start_s, kind, device, detail)

    def counts(self) -> dict[str, int]:
        """Return how many faults of each kind were injected."""
        counts: dict[str, int] = {}
        for fault in self.injected:
            counts[fault.kind] = counts.get(fault.kind, 0) + 1
        return counts

    # --- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Return the injector's state as plain data."""
        return {
            "start_s": self.start_s,
            "rngs": [rng.bit_generator.state for rng in self._rngs],
            "fired": list(self._fired),
            "next_onset": list(self._next_onset),
            "recoveries": [asdict(event) for event in self._recoveries],
            "lost": {device: list(times) for device, times in self._lost.items()},
            "injected": [asdict(fault) for fault in self.injected],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back a state from :meth:`snapshot` (same fault list), including where its clock started."""
        self.start_s = float(snapshot["start_s"])  # timed driver faults count from the original start
        for rng, state in zip(self._rngs, snapshot["rngs"], strict=True):
            rng.bit_generator.state = state
        self._fired = [bool(fired) for fired in snapshot["fired"]]
        self._next_onset = [float(t) for t in snapshot["next_onset"]]
        self._recoveries = [PhysicalFaultEvent(**event) for event in snapshot["recoveries"]]
        self._lost = {device: (float(times[0]), float(times[1])) for device, times in snapshot["lost"].items()}
        self.injected = [InjectedFault(**fault) for fault in snapshot["injected"]]

    # --- helpers ---------------------------------------------------------------------------------

    def _first_onset(self, index: int) -> float:
        spec = self.specs[index]
        if spec.kind not in PHYSICAL_FAULT_DEVICES:
            return math.inf
        if spec.at_s is not None:
            return self.start_s + spec.at_s
        return self._following_onset(index, self.start_s)

    def _following_onset(self, index: int, after_s: float) -> float:
        spec = self.specs[index]
        if spec.at_s is not None or not spec.probability:
            return math.inf
        rate_per_s = -math.log1p(-min(spec.probability, 1.0 - 1e-12)) / 3600.0
        return after_s + float(self._rngs[index].exponential(1.0 / rate_per_s))
