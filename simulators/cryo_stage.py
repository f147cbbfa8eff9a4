"""The LN2-cooled SIMS stage under a Lake Shore-like control loop.

Physics: the stage relaxes with ``time_constant_s`` towards a sink (LN2 at
``ln2_sink_temperature_k`` while LN2 flows, room temperature otherwise) plus the heater's
contribution: at full power on the high range it holds ``heater_max_k`` against the LN2. The
LN2 valve follows the setpoint: it is open while the target setpoint lies below room
temperature and the dewar holds LN2. The dewar drains linearly while LN2 flows
(``dewar_hours_full`` for a full one); when it runs dry an automatic refill starts and ends
``refill_s`` later (an injected run-out may set its own duration), the stage warming
meanwhile.

Control: a PI loop as on a Lake Shore 335/336 (heater output % = P * (error + integral)),
updated once per 10 s step with the output held in between (zero-order hold), integral
clamped so the output stays in 0-100 % (anti-windup). Heater ranges are decades of power
(low 1 %, medium 10 %, high 100 %), as on the Lake Shore's 50 ohm heater outputs. A sensor
fault turns the heater off, as the controller does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from simslab.simulators.grid_model import GridModel, ramp_towards
from simslab.simulators.parameters import CryoStageParameters

__all__ = ["CryoStage", "CryoStageState", "HEATER_RANGE_POWER"]

HEATER_RANGE_POWER = (0.0, 0.01, 0.1, 1.0)
"""Fraction of the heater's full power on range 0 (off), 1 (low), 2 (medium), 3 (high)."""

_STEP_S = 10.0
_STEADY_RATE_K_PER_S = 1e-6  # below this drift (and with the integral still) the loop is at rest
_STEADY_INTEGRAL_PER_S = 1e-9
_COOLING_MARGIN_K = 0.5  # a target this far below room temperature opens the LN2 valve


@dataclass(frozen=True)
class CryoStageState:
    """Everything the stage model carries; temperatures in K, times in epoch s."""

    time_s: float
    temperature_k: float
    integral: float
    ramp_setpoint_k: float
    target_setpoint_k: float
    ramp_k_per_s: float
    heater_range: int
    heater_output: float
    level_fraction: float
    level_time_s: float
    refill_done_s: float | None = None
    sensor_fault: bool = False
    heater_error: int = 0


class CryoStage(GridModel[CryoStageState]):
    """The stage's temperature, heater loop and LN2 dewar on the session's virtual time."""

    def __init__(self, params: CryoStageParameters, start_s: float, heater_range: int = 3):
        room_k = params.room_temperature_k
        super().__init__(
            CryoStageState(
                time_s=start_s,
                temperature_k=room_k,
                integral=0.0,
                ramp_setpoint_k=room_k,
                target_setpoint_k=room_k,
                ramp_k_per_s=0.0,
                heater_range=heater_range,
                heater_output=0.0,
                level_fraction=1.0,
                level_time_s=start_s,
            ),
            step_s=_STEP_S,
        )
        self.params = params
        self._consumption_per_s = 1.0 / (params.dewar_hours_full * 3600.0)

    # --- controls: each commits the state at ``time_s`` first -------------------------------------

    def set_setpoint_k(self, time_s: float, kelvin: float) -> None:
        """Set the target setpoint in K; ramps from the present loop setpoint if a rate is set."""
        self._commit_with_level(time_s)
        state = self.state
        ramp_from = state.ramp_setpoint_k if state.ramp_k_per_s > 0 else kelvin
        self._replace_state(target_setpoint_k=kelvin, ramp_setpoint_k=ramp_from)

    def set_ramp_k_per_s(self, time_s: float, rate: float) -> None:
        """Set the setpoint ramp rate in K/s; 0 switches ramping off (the setpoint jumps)."""
        self._commit_with_level(time_s)
        ramp_setpoint = self.state.ramp_setpoint_k if rate > 0 else self.state.target_setpoint_k
        self._replace_state(ramp_k_per_s=rate, ramp_setpoint_k=ramp_setpoint)

    def set_heater_range(self, time_s: float, level: int) -> None:
        """Set the heater range 0-3 (off, low, medium, high)."""
        self.commit_to(time_s)
        self._replace_state(heater_range=level)

    def set_sensor_fault(self, time_s: float, fault: bool) -> None:
        """Break (True) or repair (False) the control sensor; the heater is off while broken."""
        self.commit_to(time_s)
        self._replace_state(sensor_fault=fault, heater_output=0.0 if fault else self.state.heater_output)

    def run_out(self, time_s: float, refill_after_s: float | None = None) -> None:
        """Empty the dewar now; the refill completes ``refill_after_s`` later (default refill_s)."""
        self.commit_to(time_s)
        delay = self.params.refill_s if refill_after_s is None else refill_after_s
        self._replace_state(level_fraction=0.0, level_time_s=time_s, refill_done_s=time_s + delay)

    # --- readings --------------------------------------------------------------------------------

    def level_fraction(self, state: CryoStageState) -> float:
        """Return the LN2 level 0-1 of ``state`` at its time."""
        if not self._ln2_flowing(state):
            return state.level_fraction
        return max(0.0, state.level_fraction - (state.time_s - state.level_time_s) * self._consumption_per_s)

    def is_ramping(self, state: CryoStageState) -> bool:
        """Return True while the loop setpoint still moves towards the target."""
        return state.ramp_setpoint_k != state.target_setpoint_k

    # --- the model -------------------------------------------------------------------------------

    def _ln2_flowing(self, state: CryoStageState) -> bool:
        cooling = state.target_setpoint_k < self.params.room_temperature_k - _COOLING_MARGIN_K
        return cooling and state.refill_done_s is None and state.level_fraction > 0.0

    def _commit_with_level(self, time_s: float) -> None:
        """Commit, and re-anchor the level so a change of the LN2 valve starts from the true level."""
        self.commit_to(time_s)
        state = self.state
        self._replace_state(level_fraction=self.level_fraction(state), level_time_s=state.time_s)

    def _step(self, state: CryoStageState, dt: float) -> tuple[CryoStageState, float]:
        p = self.params
        power = HEATER_RANGE_POWER[state.heater_range]
        error_k = state.ramp_setpoint_k - state.temperature_k
        if state.sensor_fault:
            output, integral = 0.0, state.integral
        else:
            output = min(1.0, max(0.0, p.pid_gain * error_k + state.integral))
            integral = min(1.0, max(0.0, state.integral + p.pid_gain * error_k * dt / p.pid_integral_s))
        sink_k = p.ln2_sink_temperature_k if self._ln2_flowing(state) else p.room_temperature_k
        equilibrium_k = sink_k + (p.heater_max_k - p.ln2_sink_temperature_k) * power * output
        decay = math.exp(-dt / p.time_constant_s)
        temperature_k = equilibrium_k + (state.temperature_k - equilibrium_k) * decay
        mean_k = equilibrium_k + (state.temperature_k - equilibrium_k) * (1.0 - decay) * p.time_constant_s / dt
        ramp_setpoint = ramp_towards(state.ramp_setpoint_k, state.target_setpoint_k, state.ramp_k_per_s * dt)
        new = CryoStageState(
            time_s=state.time_s + dt,
            temperature_k=temperature_k,
            integral=integral,
            ramp_setpoint_k=ramp_setpoint,
            target_setpoint_k=state.target_setpoint_k,
            ramp_k_per_s=state.ramp_k_per_s,
            heater_range=state.heater_range,
            heater_output=output,
            level_fraction=state.level_fraction,
            level_time_s=state.level_time_s,
            refill_done_s=state.refill_done_s,
            sensor_fault=state.sensor_fault,
            heater_error=state.heater_error,
        )
        return new, mean_k

    def _is_steady(self, before: CryoStageState, after: CryoStageState, dt: float) -> bool:
        return (
            not self.is_ramping(after)
            and abs(after.temperature_k - before.temperature_k) < _STEADY_RATE_K_PER_S * dt
            and abs(after.integral - before.integral) < _STEADY_INTEGRAL_PER_S * dt
        )

    def _next_event_s(self, state: CryoStageState) -> float:
        if state.refill_done_s is not None:
            return state.refill_done_s
        if self._ln2_flowing(state):
            return state.level_time_s + state.level_fraction / self._consumption_per_s
        return math.inf

    def _apply_event(self, state: CryoStageState) -> CryoStageState:
        if state.refill_done_s is not None and state.time_s >= state.refill_done_s:
            return dataclasses.replace(state, level_fraction=1.0, level_time_s=state.time_s, refill_done_s=None)
        # the dewar ran dry: the automatic refill starts now
        refill_done_s = state.time_s + self.params.refill_s
        return dataclasses.replace(state, level_fraction=0.0, level_time_s=state.time_s, refill_done_s=refill_done_s)

