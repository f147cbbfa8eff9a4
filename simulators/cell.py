"""The operando NCA | composite electrolyte | LTO cell on a potentiostat.

A lumped model of the anode-limited full cell (0.2 cm^2: 64 uAh of NCA, 26 uAh of LTO):

- Open-circuit potentials vs Li: LTO a flat two-phase plateau at ``lto_plateau_v`` with steep
  ends; NCA sloping from ~3.45 V (lithiated) to ~3.9 V at half delithiation. The full cell sits
  at ~2.0-2.3 V on the plateau and rises steeply once the LTO is full.
- Terminal voltage V = U_NCA(delta) - phi_anode + I (R_ohmic + R_ct / 2 + R_contact), with the
  anode potential phi set by its two parallel reactions: LTO insertion
  i_lto = (U_LTO(theta) - phi) / (R_ct / 2), and the irreversible reduction of the LLTO that
  touches the anode, i_red = g (U_red - phi) / R_red while phi < U_red, g the unreduced share.
  The reduced LLTO isolates LTO next to it (capacity and the Li inside).
- Modes: off, OCV (zero current), CC with a voltage compliance, CV with a current compliance;
  when the compliance is hit the source holds the limit and flags it. The cell is frozen
  without current (no self-discharge), so a cell at rest costs nothing to simulate.
- Integrated with backward Euler in the LTO lithiation on the 10 s grid of
  :class:`~simslab.simulators.grid_model.GridModel`; a reading previews the partial step to
  the present, so the charge passed is exact at any read time.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from scipy.optimize import brentq

from simslab.simulators.grid_model import GridModel
from simslab.simulators.parameters import CellParameters

__all__ = ["Cell", "CellState", "lto_potential_v", "nca_potential_v", "CellMode"]

CellMode = Literal["off", "ocv", "cc", "cv"]

_STEP_S = 10.0
_INITIAL_LITHIATION = 0.005  # as-made LTO: theta 0 is Li4Ti5O12, 1 is Li7Ti5O12
_INITIAL_DELITHIATION = 0.02  # as-made NCA: Li(1-delta)Ni0.8Co0.15Al0.05O2
_EDGE = 1e-9  # keeps the log terms of the potentials finite


@dataclass(frozen=True)
class CellState:
    """The cell and the potentiostat's source; charges in C, times in epoch s."""

    time_s: float
    lto_charge_c: float
    lto_capacity_c: float
    trapped_c: float
    reduced_c: float
    passed_c: float
    peak_passed_c: float
    mode: str = "off"
    setpoint: float = 0.0
    limit: float = 0.0
    current_a: float = 0.0
    voltage_v: float = 0.0
    compliance: bool = False
    contact_fault: bool = False


class Cell(GridModel[CellState]):
    """The operando cell and its potentiostat's source on the session's virtual time."""

    def __init__(self, params: CellParameters, start_s: float):
        self.params = params
        self.cathode_capacity_c = params.cathode_capacity_c_per_m2 * params.area_m2
        self.anode_capacity_c = params.anode_capacity_c_per_m2 * params.area_m2
        self.reducible_c = params.reducible_llto_c_per_m2 * params.area_m2
        self.initial_delithiation = _INITIAL_DELITHIATION
        lto_charge = _INITIAL_LITHIATION * self.anode_capacity_c
        state = CellState(start_s, lto_charge, self.anode_capacity_c, 0.0, 0.0, 0.0, 0.0)
        super().__init__(state, step_s=_STEP_S, record_trace=False)
        self._replace_state(voltage_v=self.open_circuit_v(state))

    # --- the source: each commits the state at ``time_s`` first ---------------------------------

    def set_mode(self, time_s: float, mode: CellMode, setpoint: float = 0.0, limit: float = 0.0) -> None:
        """Switch the source: 'cc' (setpoint A, limit V), 'cv' (setpoint V, limit A), 'ocv', 'off'."""
        if mode not in ("off", "ocv", "cc", "cv"):
            raise ValueError(f"cell mode must be off, ocv, cc or cv, got {mode!r}")
        if mode in ("cc", "cv") and limit <= 0:
            raise ValueError(f"the {mode.upper()} compliance limit must be > 0, got {limit}")
        self.commit_to(time_s)
        self._replace_state(mode=mode, setpoint=float(setpoint), limit=float(limit))
        solved, _ = self._step(self.state, 0.0)
        self._replace_state(current_a=solved.current_a, voltage_v=solved.voltage_v, compliance=solved.compliance)

    def set_contact_fault(self, time_s: float, faulty: bool) -> None:
        """Add (True) or remove (False) the contact resistance of an injected compliance fault."""
        self.commit_to(time_s)
        self._replace_state(contact_fault=faulty)

    # --- what the windows and readings need -----------------------------------------------------

    def lto_lithiation(self, state: CellState) -> float:
        """Return theta, the lithiation 0-1 of the LTO still in contact."""
        return state.lto_charge_c / state.lto_capacity_c

    def nca_delithiation(self, state: CellState) -> float:
        """Return delta, the mean delithiation 0-1 of the NCA."""
        return _INITIAL_DELITHIATION + state.passed_c / self.cathode_capacity_c

    def nca_peak_delithiation(self, state: CellState) -> float:
        """Return the highest mean delithiation the NCA has reached (what isolated particles keep)."""
        return _INITIAL_DELITHIATION + state.peak_passed_c / self.cathode_capacity_c

    def reduced_fraction(self, state: CellState) -> float:
        """Return the reduced share 0-1 of the LLTO touching the anode."""
        return state.reduced_c / self.reducible_c if self.reducible_c > 0 else 0.0

    def open_circuit_v(self, state: CellState) -> float:
        """Return the cell's open-circuit voltage in V."""
        anode_v = lto_potential_v(self.lto_lithiation(state), self.params.lto_plateau_v)
        return nca_potential_v(self.nca_delithiation(state)) - anode_v

    # --- the model -------------------------------------------------------------------------------

    def _step(self, state: CellState, dt: float) -> tuple[CellState, float]:
        if state.mode in ("off", "ocv"):
            voltage = self.open_circuit_v(state)
            return dataclasses.replace(state, time_s=state.time_s + dt, current_a=0.0, voltage_v=voltage), math.nan
        branch = _Branches(self, state, dt)
        compliance = False
        if state.mode == "cc":
            lto_a = branch.solve_current(state.setpoint)
            if lto_a is None or abs(branch.voltage_v(lto_a)) > state.limit:
                compliance = True
                lto_a = branch.solve_voltage(math.copysign(state.limit, state.setpoint))
        else:
            lto_a = branch.solve_voltage(state.setpoint)
            if abs(branch.current_a(lto_a)) > state.limit:
                compliance = True
                limited = branch.solve_current(math.copysign(state.limit, branch.current_a(lto_a)))
                lto_a = limited if limited is not None else lto_a
        current_a, reduction_a = branch.current_a(lto_a), branch.reduction_a(lto_a)
        reduced = reduction_a * dt
        isolated_capacity = self.params.lto_isolation_per_reduced * reduced
        lto_charge = state.lto_charge_c + lto_a * dt
        theta = lto_charge / state.lto_capacity_c
        passed = state.passed_c + current_a * dt
        new = dataclasses.replace(
            state,
            time_s=state.time_s + dt,
            lto_charge_c=lto_charge - theta * isolated_capacity,
            lto_capacity_c=state.lto_capacity_c - isolated_capacity,
            trapped_c=state.trapped_c + theta * isolated_capacity,
            reduced_c=state.reduced_c + reduced,
            passed_c=passed,
            peak_passed_c=max(state.peak_passed_c, passed),
            current_a=current_a,
            voltage_v=branch.voltage_v(lto_a),
            compliance=compliance,
        )
        return new, math.nan

    def _is_steady(self, before: CellState, after: CellState, dt: float) -> bool:
        return before.mode in ("off", "ocv")


class _Branches:
    """The anode's two reactions and the terminal voltage as functions of the LTO current.

    Backward Euler: the LTO lithiation is taken at the end of the step; the reducible share
    at its start. Current and voltage both rise monotonically with the LTO current, so each
    mode is one bracketed root.
    """

    def __init__(self, cell: Cell, state: CellState, dt: float):
        p = cell.params
        self.cell, self.state, self.dt = cell, state, dt
        self.anode_ohm = p.charge_transfer_resistance_ohm / 2
        self.series_ohm = p.ohmic_resistance_ohm + p.charge_transfer_resistance_ohm / 2
        if state.contact_fault:
            self.series_ohm += p.contact_fault_resistance_ohm
        self.unreduced = max(0.0, 1.0 - cell.reduced_fraction(state))
        capacity, charge = state.lto_capacity_c, state.lto_charge_c
        step = max(dt, 1e-9)
        self.lto_low_a = (_EDGE * capacity - charge) / step
        self.lto_high_a = ((1 - _EDGE) * capacity - charge) / step

    def anode_v(self, lto_a: float) -> float:
        theta = (self.state.lto_charge_c + lto_a * self.dt) / self.state.lto_capacity_c
        return lto_potential_v(theta, self.cell.params.lto_plateau_v) - lto_a * self.anode_ohm

    def reduction_a(self, lto_a: float) -> float:
        drive_v = self.cell.params.llto_reduction_v - self.anode_v(lto_a)
        return self.unreduced * max(0.0, drive_v) / self.cell.params.llto_reduction_resistance_ohm

    def current_a(self, lto_a: float) -> float:
        return lto_a + self.reduction_a(lto_a)

    def voltage_v(self, lto_a: float) -> float:
        current_a = self.current_a(lto_a)
        passed = self.state.passed_c + current_a * self.dt
        delta = _INITIAL_DELITHIATION + passed / self.cell.cathode_capacity_c
        return nca_potential_v(delta) - self.anode_v(lto_a) + current_a * self.series_ohm

    def solve_current(self, current_a: float) -> float | None:
        """Return the LTO current giving this cell current, None if the LTO cannot take it."""
        low, high = self.current_a(self.lto_low_a) - current_a, self.current_a(self.lto_high_a) - current_a
        if low > 0 or high < 0:
            return None
        return brentq(lambda i: self.current_a(i) - current_a, self.lto_low_a, self.lto_high_a, xtol=1e-16, rtol=1e-13)

    def solve_voltage(self, voltage_v: float) -> float:
        """Return the LTO current holding this terminal voltage (clipped to what the LTO allows)."""
        low, high = self.voltage_v(self.lto_low_a) - voltage_v, self.voltage_v(self.lto_high_a) - voltage_v
        if low >= 0:
            return self.lto_low_a
        if high <= 0:
            return self.lto_high_a
        return brentq(lambda i: self.voltage_v(i) - voltage_v, self.lto_low_a, self.lto_high_a, xtol=1e-16, rtol=1e-13)


def lto_potential_v(lithiation: float, plateau_v: float = 1.55) -> float:
    """Return the LTO open-circuit potential vs Li in V at lithiation theta 0-1.

    A two-phase plateau with a slight slope, rising steeply as the LTO empties and falling
    steeply as it fills.
    """
    theta = min(1.0 - _EDGE, max(_EDGE, lithiation))
    return (
        plateau_v
        + 0.02 * math.log((1.0 - theta) / theta)
        + 0.6 * math.exp(-theta / 0.015)
        - 0.3 * math.exp(-(1.0 - theta) / 0.015)
    )


def nca_potential_v(delithiation: float) -> float:
    """Return the NCA open-circuit potential vs Li in V at delithiation delta 0-1 (sloping)."""
    delta = min(1.0 - _EDGE, max(_EDGE, delithiation))
    return 3.70 + 0.5 * (delta - 0.2) + 0.04 * math.log(delta / (1.0 - delta))
