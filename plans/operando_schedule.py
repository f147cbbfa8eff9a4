"""When operando images are taken, and the cycling they are taken during.

:class:`CyclingProtocol` is the galvanostatic cycling (rest, then N x [CC charge to V_max,
CV hold, CC discharge to V_min]); :class:`ImageSchedule` says when an image set of all
windows is due; :class:`ScheduleTracker` applies it to the potentiostat's time and charge.
Pure data and arithmetic (no bluesky), so a campaign file can hold them and tests can run
them alone. Charge is the potentiostat's cumulative charge in C, positive in the charge
direction; the state of charge of a cycle is the charge passed since the cycle's first
charge began over ``capacity_c``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from simslab.devices import ConstantCurrent, ConstantVoltage, Rest, Step

__all__ = ["CyclingProtocol", "ImageSchedule", "CellPhase", "ScheduleTracker", "PHASE_KINDS"]

PHASE_KINDS = ("rest", "charge", "cv_hold", "discharge")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CyclingProtocol(_Model):
    """Galvanostatic cycling with a CV hold at the end of charge (published: 6 uA, 1 h CV hold).

    Currents are magnitudes in A; voltages in V; times in s. ``max_step_s`` ends a CC step
    that never reaches its cut-off. ``capacity_c`` (C) is needed for images at states of charge.
    """

    cycles: int = Field(1, ge=1, le=1000)
    rest_s: float = Field(600.0, ge=0)
    charge_current_a: float = Field(6e-6, gt=0)
    discharge_current_a: float | None = Field(None, gt=0, description="default: the charge current")
    max_voltage_v: float = Field(2.7, gt=0)
    min_voltage_v: float = Field(1.5, gt=0)
    cv_hold_s: float = Field(3600.0, ge=0, description="0: no CV hold")
    cv_cutoff_current_a: float | None = Field(None, gt=0)
    max_step_s: float = Field(2 * 86400.0, gt=0)
    capacity_c: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CyclingProtocol:
        if self.min_voltage_v >= self.max_voltage_v:
            raise ValueError(f"min_voltage_v ({self.min_voltage_v} V) must be below max_voltage_v "
                             f"({self.max_voltage_v} V)")
        return self

    def phases(self) -> list[CellPhase]:
        """Return the cell steps in order: a rest (if any), then charge, CV hold, discharge per cycle."""
        phases = [CellPhase("rest", 0, Rest(self.rest_s))] if self.rest_s > 0 else []
        discharge_a = self.discharge_current_a or self.charge_current_a
        for cycle in range(1, self.cycles + 1):
            phases.append(CellPhase("charge", cycle, ConstantCurrent(self.charge_current_a, self.max_voltage_v,
                                                                     self.max_step_s)))
            if self.cv_hold_s > 0:
                phases.append(CellPhase("cv_hold", cycle, ConstantVoltage(self.max_voltage_v, self.cv_hold_s,
                                                                          self.cv_cutoff_current_a)))
            phases.append(CellPhase("discharge", cycle, ConstantCurrent(-discharge_a, self.min_voltage_v,
                                                                        self.max_step_s)))
        return phases

    def estimated_duration_s(self) -> float:
        """Return a duration estimate in s: capacity / current per CC step (max_step_s if no capacity)."""
        discharge_a = self.discharge_current_a or self.charge_current_a
        charge_s = self.capacity_c / self.charge_current_a if self.capacity_c else self.max_step_s
        discharge_s = self.capacity_c / discharge_a if self.capacity_c else self.max_step_s
        per_cycle = min(charge_s, self.max_step_s) + self.cv_hold_s + min(discharge_s, self.max_step_s)
        return self.rest_s + self.cycles * per_cycle


class ImageSchedule(_Model):
    """When an image set (every window once) is taken while the cell cycles.

    every_s: every so many seconds; every_charge_c: whenever so much charge (C) passed since the
    last set; at_state_of_charge: when the cycle's state of charge crosses these fractions
    (either direction; needs the cycling's capacity_c); at_step_end: after each cell step;
    at_start: once before the first step. during: the cell phases in which timed and
    charge-triggered sets are taken.
    """

    every_s: float | None = Field(None, gt=0)
    every_charge_c: float | None = Field(None, gt=0)
    at_state_of_charge: tuple[float, ...] = ()
    at_step_end: bool = True
    at_start: bool = True
    during: tuple[str, ...] = PHASE_KINDS

    @model_validator(mode="after")
    def _valid(self) -> ImageSchedule:
        bad = [f for f in self.at_state_of_charge if not 0 <= f <= 1]
        if bad:
            raise ValueError(f"at_state_of_charge {bad} must be fractions in [0, 1]")
        unknown = sorted(set(self.during) - set(PHASE_KINDS))
        if unknown:
            raise ValueError(f"during {unknown} must be among {PHASE_KINDS}")
        return self


@dataclass(frozen=True)
class CellPhase:
    """One cell step of the cycling: kind (rest, charge, cv_hold, discharge), cycle number (0: before), step."""

    kind: str
    cycle: int
    step: Step


class ScheduleTracker:
    """Applies an ImageSchedule to the cell's time (s) and charge (C) as the cycling runs."""

    def __init__(self, schedule: ImageSchedule, capacity_c: float | None = None):
        if schedule.at_state_of_charge and not capacity_c:
            raise ValueError("images at states of charge need the cell's capacity_c")
        self.schedule = schedule
        self.capacity_c = capacity_c
        self._last_time_s: float | None = None
        self._last_charge_c: float | None = None
        self._cycle_origin_c: float | None = None
        self._last_soc: float | None = None

    def start_cycle(self, charge_c: float) -> None:
        """Mark the start of a cycle's first charge: its state of charge counts from here."""
        self._cycle_origin_c = charge_c
        self._last_soc = 0.0

    def state_of_charge(self, charge_c: float) -> float | None:
        """Return the cycle's state of charge (fraction of capacity_c), or None before a cycle or without capacity."""
        if self._cycle_origin_c is None or not self.capacity_c:
            return None
        return (charge_c - self._cycle_origin_c) / self.capacity_c

    def due(self, phase_kind: str, time_s: float, charge_c: float) -> str | None:
        """Return why an image set is due now (every_s, every_charge, soc=0.50), or None."""
        reason = None
        soc = self.state_of_charge(charge_c)
        if soc is not None and self._last_soc is not None:
            low, high = sorted((self._last_soc, soc))
            crossed = [f for f in self.schedule.at_state_of_charge if low < f <= high]
            self._last_soc = soc
            if crossed:
                reason = f"soc={crossed[-1]:.2f}"
        if reason is None and phase_kind in self.schedule.during:
            s = self.schedule
            if s.every_s and (self._last_time_s is None or time_s - self._last_time_s >= s.every_s):
                reason = "every_s"
            elif s.every_charge_c and (self._last_charge_c is None
                                       or abs(charge_c - self._last_charge_c) >= s.every_charge_c):
                reason = "every_charge"
        return reason

    def taken(self, time_s: float, charge_c: float) -> None:
        """Note that an image set started at ``time_s`` (s) and charge ``charge_c`` (C)."""
        self._last_time_s, self._last_charge_c = time_s, charge_c
