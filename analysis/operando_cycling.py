"""Battery cycling from a potentiostat trace: capacity per step and cycle, state of charge of images.

SI inside: charge in coulombs (1 uAh = 3.6e-3 C, converted only in figures and reports).
Charge is positive in the charge direction (as ``PotentiostatMeasurement.charge_c``). A step
is one CC or CV segment as the plan ran it; its capacity is the charge passed between its
start and end, read from the trace's charge counter (or the integrated current without one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from simslab.errors import ValidationError

from .input_checks import float_array, positive, same_shape
from .results import AnalysisResult

__all__ = [
    "CyclingStep",
    "CyclingCapacities",
    "ChargeWindows",
    "StateOfCharge",
    "cycling_capacities",
    "charge_over_windows",
    "image_state_of_charge",
    "COULOMB_PER_UAH",
]

COULOMB_PER_UAH = 3.6e-3

StepKind = Literal["cc_charge", "cv_charge", "cv_hold", "cc_discharge", "cv_discharge", "rest"]
CHARGE_KINDS = ("cc_charge", "cv_charge", "cv_hold")
DISCHARGE_KINDS = ("cc_discharge", "cv_discharge")


@dataclasses.dataclass(frozen=True)
class CyclingStep:
    """One step of a cycling protocol: kind, cycle number (from 1), start and end in s."""

    kind: StepKind
    cycle: int
    start_s: float
    end_s: float


@dataclasses.dataclass(frozen=True)
class CyclingCapacities(AnalysisResult):
    """Charge per step and per cycle, in C.

    Per step (arrays in step order): ``step_kind``, ``step_cycle``, ``step_charge_c`` (signed,
    > 0 on charge). Per cycle: charge and discharge capacity (both >= 0), coulombic
    efficiency Q_discharge / Q_charge, irreversible capacity Q_charge - Q_discharge and its
    fraction of Q_charge.
    """

    step_kind: tuple[str, ...]
    step_cycle: np.ndarray
    step_charge_c: np.ndarray
    cycle: np.ndarray
    charge_capacity_c: np.ndarray
    discharge_capacity_c: np.ndarray
    coulombic_efficiency: np.ndarray
    irreversible_capacity_c: np.ndarray
    irreversible_fraction: np.ndarray
    method: str


@dataclasses.dataclass(frozen=True)
class ChargeWindows(AnalysisResult):
    """The cell's charge counter over each image's window: at start, at end, time-averaged (C)."""

    start_c: np.ndarray
    end_c: np.ndarray
    mean_c: np.ndarray
    method: str


@dataclasses.dataclass(frozen=True)
class StateOfCharge(AnalysisResult):
    """State of charge of each image (fraction of ``capacity_c``) and the range it spanned."""

    soc: np.ndarray
    soc_start: np.ndarray
    soc_end: np.ndarray
    capacity_c: float
    reference_charge_c: float
    method: str


def cycling_capacities(
    time_s: ArrayLike,
    steps: Sequence[CyclingStep],
    *,
    charge_c: ArrayLike | None = None,
    current_a: ArrayLike | None = None,
) -> CyclingCapacities:
    """Return the charge passed in each step and the capacities and efficiency of each cycle.

    Cycles are the cycle numbers (as the steps give them) of steps that charge or discharge;
    rest steps count in the per-step arrays only.

    time_s: trace times in s (increasing); charge_c: the charge counter in C, or current_a in
    A to integrate (trapezoid) when no counter was recorded. Steps outside the trace are refused.
    """
    charge = _charge_trace("cycling_capacities", time_s, charge_c, current_a)
    time_s = np.asarray(time_s, dtype=float)
    if not steps:
        raise ValidationError("cycling_capacities", "steps", [], "at least one step")
    for step in steps:
        if step.kind not in CHARGE_KINDS + DISCHARGE_KINDS + ("rest",):
            raise ValidationError(
                "cycling_capacities", "steps.kind", step.kind, ", ".join(CHARGE_KINDS + DISCHARGE_KINDS + ("rest",))
            )
        if not time_s[0] <= step.start_s <= step.end_s <= time_s[-1]:
            raise ValidationError(
                "cycling_capacities",
                "steps",
                (step.start_s, step.end_s),
                f"start <= end within the trace {time_s[0]:g}-{time_s[-1]:g} s",
            )
    starts = np.interp([s.start_s for s in steps], time_s, charge)
    ends = np.interp([s.end_s for s in steps], time_s, charge)
    step_charge = ends - starts
    step_cycle = np.array([s.cycle for s in steps])
    kinds = tuple(s.kind for s in steps)
    is_charge = np.isin(kinds, CHARGE_KINDS)
    is_discharge = np.isin(kinds, DISCHARGE_KINDS)
    # a cycle is a plan's cycle number holding a charge or discharge step: a rest before the first
    # charge (numbered 0 by the plan) stays among the steps, not among the cycles
    cycles = np.unique(step_cycle[is_charge | is_discharge])
    charged = np.array([step_charge[(step_cycle == c) & is_charge].sum() for c in cycles])
    discharged = np.array([-step_charge[(step_cycle == c) & is_discharge].sum() for c in cycles])
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = np.where(charged > 0, discharged / charged, np.nan)
        irreversible_fraction = np.where(charged > 0, (charged - discharged) / charged, np.nan)
    source = "charge counter" if charge_c is not None else "trapezoid integral of the current"
    return CyclingCapacities(
        step_kind=kinds,
        step_cycle=step_cycle,
        step_charge_c=step_charge,
        cycle=cycles,
        charge_capacity_c=charged,
        discharge_capacity_c=discharged,
        coulombic_efficiency=efficiency,
        irreversible_capacity_c=charged - discharged,
        irreversible_fraction=irreversible_fraction,
        method=f"charge between step boundaries from the {source}; CE = Q_discharge / Q_charge per cycle",
    )


def charge_over_windows(
    time_s: ArrayLike,
    start_s: ArrayLike,
    end_s: ArrayLike,
    *,
    charge_c: ArrayLike | None = None,
    current_a: ArrayLike | None = None,
) -> ChargeWindows:
    """Return the charge counter at the start and end of each image window and its time average.

    An image integrates its counts over [start_s, end_s] while the cell keeps cycling; its
    state is the time-average of the charge over that window (trapezoid on the trace).
    """
    charge = _charge_trace("charge_over_windows", time_s, charge_c, current_a)
    time_s = np.asarray(time_s, dtype=float)
    start_s = float_array("charge_over_windows", "start_s", start_s, finite=True).ravel()
    end_s = float_array("charge_over_windows", "end_s", end_s, finite=True).ravel()
    same_shape("charge_over_windows", start_s=start_s, end_s=end_s)
    if np.any(end_s < start_s):
        raise ValidationError("charge_over_windows", "end_s", "an end before its start", "end_s >= start_s")
    means = np.empty(start_s.size)
    for i, (t0, t1) in enumerate(zip(start_s, end_s)):
        inside = (time_s > t0) & (time_s < t1)
        t = np.concatenate([[t0], time_s[inside], [t1]])
        q = np.interp(t, time_s, charge)
        means[i] = np.trapezoid(q, t) / (t1 - t0) if t1 > t0 else q[0]
    return ChargeWindows(
        np.interp(start_s, time_s, charge),
        np.interp(end_s, time_s, charge),
        means,
        "charge counter averaged over each window",
    )


def image_state_of_charge(
    charge_start_c: ArrayLike,
    charge_end_c: ArrayLike,
    *,
    capacity_c: float,
    reference_charge_c: float = 0.0,
    charge_mean_c: ArrayLike | None = None,
) -> StateOfCharge:
    """Return each image's state of charge from the charge window it integrated over.

    SoC = (Q - reference) / capacity with Q the window's mean charge (the midpoint of start
    and end unless ``charge_mean_c`` is given, e.g. from ``charge_over_windows``);
    capacity_c: the capacity that defines SoC = 1 (e.g. the cycle's charge capacity or the
    anode's design capacity); reference_charge_c: the counter at SoC = 0 (pristine).
    """
    start = float_array("image_state_of_charge", "charge_start_c", charge_start_c, finite=True).ravel()
    end = float_array("image_state_of_charge", "charge_end_c", charge_end_c, finite=True).ravel()
    same_shape("image_state_of_charge", charge_start_c=start, charge_end_c=end)
    capacity_c = float(positive("image_state_of_charge", "capacity_c", capacity_c))
    mean = (
        0.5 * (start + end)
        if charge_mean_c is None
        else float_array("image_state_of_charge", "charge_mean_c", charge_mean_c).ravel()
    )
    return StateOfCharge(
        soc=(mean - reference_charge_c) / capacity_c,
        soc_start=(start - reference_charge_c) / capacity_c,
        soc_end=(end - reference_charge_c) / capacity_c,
        capacity_c=capacity_c,
        reference_charge_c=float(reference_charge_c),
        method="(window-mean charge - reference) / capacity" + (" (midpoint)" if charge_mean_c is None else ""),
    )


def _charge_trace(
    source: str, time_s: ArrayLike, charge_c: ArrayLike | None, current_a: ArrayLike | None
) -> np.ndarray:
    time_s = float_array(source, "time_s", time_s, ndim=1, finite=True)
    if time_s.size < 2 or np.any(np.diff(time_s) < 0):
        raise ValidationError(source, "time_s", f"{time_s.size} samples", "at least 2 samples in increasing time")
    if charge_c is not None:
        charge = float_array(source, "charge_c", charge_c, ndim=1, finite=True)
        same_shape(source, time_s=time_s, charge_c=charge)
        return charge
    if current_a is None:
        raise ValidationError(source, "charge_c/current_a", None, "one of the charge counter or the current")
    current = float_array(source, "current_a", current_a, ndim=1, finite=True)
    same_shape(source, time_s=time_s, current_a=current)
    increments = 0.5 * (current[1:] + current[:-1]) * np.diff(time_s)
    return np.concatenate([[0.0], np.cumsum(increments)])
