"""The annealing furnace under a Eurotherm-like controller.

Physics: dT/dt = rate_max * power - (T - T_ambient) / time_constant, integrated exactly over
each 5 s step with the output held (zero-order hold). ``rate_max`` is the heating rate at full
power from ambient. Above ``max_temperature_k`` the hardware cuts the heater.

Control: the working setpoint follows the target at the setpoint rate limit (jumps when the
limit is 0). The loop is a PI controller with the proportional term on the process value
(I-P form): its closed loop is a plain second-order system, so the step overshoot is set by
the damping alone, chosen from ``overshoot_fraction``, and the natural frequency is
1 / ``response_time_s`` (held output over 5 s steps adds a little: a 5 K step overshoots by
3.7 % with the 3 % default; a step large enough to saturate the output, and a rate-limited
ramp, overshoot less). The integral is clamped so the output stays in 0-100 % (anti-windup).
Manual mode holds the output at 0 (output off, the safe state). A broken thermocouple makes
the PV invalid and the output fall to 0 (the sensor-break action), a failed heater delivers
no power whatever the output; both raise a latched alarm, as does a PV above the hardware
limit.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from simslab.devices.drivers.protocols import FurnaceStatus
from simslab.simulators.grid_model import GridModel, ramp_towards
from simslab.simulators.parameters import FurnaceParameters

__all__ = ["Furnace", "FurnaceState"]

_STEP_S = 5.0
_STEADY_RATE_K_PER_S = 1e-6  # below this drift (and with the integral still) the loop is at rest
_STEADY_INTEGRAL_PER_S = 1e-9


@dataclass(frozen=True)
class FurnaceState:
    """Everything the furnace model carries; temperatures in K, times in epoch s."""

    time_s: float
    temperature_k: float
    integral: float
    target_setpoint_k: float
    working_setpoint_k: float
    ramp_k_per_s: float
    output: float
    manual: bool = False
    sensor_break: bool = False
    heater_fail: bool = False
    alarm_latched: bool = False


class Furnace(GridModel[FurnaceState]):
    """The furnace's temperature, controller and status bits on the session's virtual time."""

    def __init__(self, params: FurnaceParameters, start_s: float):
        ambient_k = params.ambient_temperature_k
        self.params = params
        damping = _damping_for_overshoot(params.overshoot_fraction)
        natural_per_s = 1.0 / params.response_time_s
        rate = params.max_heating_k_per_s
        self.proportional_per_k = max(0.0, (2 * damping * natural_per_s - 1.0 / params.time_constant_s) / rate)
        self.integral_per_k_s = natural_per_s**2 / rate
        super().__init__(
            FurnaceState(
                time_s=start_s,
                temperature_k=ambient_k,
                integral=self.proportional_per_k * ambient_k,
                target_setpoint_k=ambient_k,
                working_setpoint_k=ambient_k,
                ramp_k_per_s=0.0,
                output=0.0,
            ),
            step_s=_STEP_S,
        )

    # --- controls: each commits the state at ``time_s`` first -------------------------------------

    def set_setpoint_k(self, time_s: float, kelvin: float) -> None:
        """Set the target setpoint in K; the working setpoint ramps to it at the rate limit."""
        self.commit_to(time_s)
        working = self.state.working_setpoint_k if self.state.ramp_k_per_s > 0 else kelvin
        self._replace_state(target_setpoint_k=kelvin, working_setpoint_k=working)

    def set_ramp_k_per_s(self, time_s: float, rate: float) -> None:
        """Set the setpoint rate limit in K/s; 0 switches it off (the working setpoint jumps)."""
        self.commit_to(time_s)
        working = self.state.working_setpoint_k if rate > 0 else self.state.target_setpoint_k
        self._replace_state(ramp_k_per_s=rate, working_setpoint_k=working)

    def switch_output_off(self, time_s: float) -> None:
        """Go to manual mode with zero output."""
        self.commit_to(time_s)
        self._replace_state(manual=True, output=0.0)

    def switch_to_automatic(self, time_s: float) -> None:
        """Return to closed-loop control, bumplessly, the working setpoint restarting from the PV."""
        self.commit_to(time_s)
        self._resume_from_pv()
        self._replace_state(manual=False)

    def set_sensor_break(self, time_s: float, broken: bool) -> None:
        """Break (True) or repair (False) the thermocouple."""
        self.commit_to(time_s)
        if not broken and self.state.sensor_break:
            self._resume_from_pv()
        output = 0.0 if broken else self.state.output
        self._replace_state(sensor_break=broken, alarm_latched=self.state.alarm_latched or broken, output=output)

    def set_heater_fail(self, time_s: float, failed: bool) -> None:
        """Fail (True) or repair (False) the heater."""
        self.commit_to(time_s)
        self._replace_state(heater_fail=failed, alarm_latched=self.state.alarm_latched or failed)

    def acknowledge_alarms(self, time_s: float) -> None:
        """Clear the latched alarm; it stays on while its cause persists."""
        self.commit_to(time_s)
        self._replace_state(alarm_latched=False)

    # --- readings --------------------------------------------------------------------------------

    def status(self, state: FurnaceState) -> FurnaceStatus:
        """Return the controller's status bits for ``state``."""
        over_temperature = state.temperature_k > self.params.max_temperature_k
        return FurnaceStatus(
            alarm=state.alarm_latched or state.sensor_break or state.heater_fail or over_temperature,
            sensor_break=state.sensor_break,
            heater_fail=state.heater_fail,
            manual=state.manual,
            ramp_complete=state.working_setpoint_k == state.target_setpoint_k,
        )

    # --- the model -------------------------------------------------------------------------------

    def _resume_from_pv(self) -> None:
        """Restart the loop from the present PV and output, as the controller does after manual."""
        state = self.state
        working = state.temperature_k if state.ramp_k_per_s > 0 else state.target_setpoint_k
        integral = state.output + self.proportional_per_k * state.temperature_k
        self._replace_state(working_setpoint_k=working, integral=integral)

    def _step(self, state: FurnaceState, dt: float) -> tuple[FurnaceState, float]:
        p = self.params
        kp, temperature_k = self.proportional_per_k, state.temperature_k
        integral = state.integral
        if state.manual or state.sensor_break:
            output = 0.0
        else:
            output = min(1.0, max(0.0, integral - kp * temperature_k))
            integral += self.integral_per_k_s * (state.working_setpoint_k - temperature_k) * dt
            integral = min(1.0 + kp * temperature_k, max(kp * temperature_k, integral))
        power = 0.0 if state.heater_fail or temperature_k >= p.max_temperature_k else output
        equilibrium_k = p.ambient_temperature_k + p.max_heating_k_per_s * p.time_constant_s * power
        decay = math.exp(-dt / p.time_constant_s)
        new_temperature_k = equilibrium_k + (temperature_k - equilibrium_k) * decay
        mean_k = equilibrium_k + (temperature_k - equilibrium_k) * (1.0 - decay) * p.time_constant_s / dt
        working = ramp_towards(state.working_setpoint_k, state.target_setpoint_k, state.ramp_k_per_s * dt)
        alarm = state.alarm_latched or new_temperature_k > p.max_temperature_k
        new = dataclasses.replace(
            state,
            time_s=state.time_s + dt,
            temperature_k=new_temperature_k,
            integral=integral,
            working_setpoint_k=working,
            output=output,
            alarm_latched=alarm,
        )
        return new, mean_k

    def _is_steady(self, before: FurnaceState, after: FurnaceState, dt: float) -> bool:
        return (
            after.working_setpoint_k == after.target_setpoint_k
            and abs(after.temperature_k - before.temperature_k) < _STEADY_RATE_K_PER_S * dt
            and abs(after.integral - before.integral) < _STEADY_INTEGRAL_PER_S * dt
        )


def _damping_for_overshoot(overshoot_fraction: float) -> float:
    """Return the damping ratio of a second-order system whose step overshoots by this fraction."""
    if overshoot_fraction <= 0:
        return 1.0
    log_overshoot = math.log(overshoot_fraction)
    return -log_overshoot / math.sqrt(math.pi**2 + log_overshoot**2)
