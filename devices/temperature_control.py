"""What the cryo stage and the furnace share: setpoint limits, the ramp guard, and settling.

Neither controller has a "settled" flag (instruments.md), so settling is judged here: the
temperature within ``tolerance_k`` of the requested setpoint, the ramp finished and the
controller reporting no fault, held continuously for ``dwell_s``. Waits are ``asyncio`` sleeps
on the running loop, so they are virtual in simulation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ophyd_async.core import SignalRW

from simslab.errors import LimitError, SimslabError

from .settings import SettleCriteria, TemperatureLimits

__all__ = [
    "SettleTimeout",
    "ControllerSample",
    "check_setpoint_k",
    "check_ramp_k_per_s",
    "limit_ramp",
    "wait_until_settled",
]

logger = logging.getLogger(__name__)


class SettleTimeout(SimslabError):
    """A temperature did not settle within the allowed time; says where it stood and why."""


@dataclass(frozen=True)
class ControllerSample:
    """One look at a temperature controller while it settles.

    problem: why the controller cannot count as settled even if the temperature is right
    (heater error, heater pinned at full output, alarm); empty when there is none.
    """

    temperature_k: float
    target_k: float
    ramping: bool
    problem: str = ""

    def settled(self, tolerance_k: float) -> bool:
        """Return True if this sample counts towards the dwell."""
        return abs(self.temperature_k - self.target_k) <= tolerance_k and not self.ramping and not self.problem

    def describe(self) -> str:
        """Say where the controller stands, in one phrase."""
        parts = [f"T = {self.temperature_k:.3f} K, setpoint {self.target_k:.3f} K"]
        if self.ramping:
            parts.append("still ramping")
        if self.problem:
            parts.append(self.problem)
        return ", ".join(parts)


def check_setpoint_k(device: str, setpoint_k: float, limits: TemperatureLimits) -> None:
    """Raise LimitError unless ``limits.min_k <= setpoint_k <= limits.max_k`` (NaN is refused)."""
    if not limits.min_k <= setpoint_k <= limits.max_k:
        raise LimitError(device, "setpoint_k", setpoint_k, limits.min_k, limits.max_k, "K")


def check_ramp_k_per_s(device: str, ramp_k_per_s: float, limits: TemperatureLimits) -> None:
    """Raise LimitError unless ``0 < ramp_k_per_s <= limits.max_ramp_k_per_s`` (0, ramp off, is refused)."""
    if not 0 < ramp_k_per_s <= limits.max_ramp_k_per_s:
        raise LimitError(device, "ramp_k_per_s", ramp_k_per_s, 0.0, limits.max_ramp_k_per_s, "K/s")


async def limit_ramp(device: str, ramp: SignalRW[float], limits: TemperatureLimits) -> None:
    """Set the ramp to ``limits.max_ramp_k_per_s`` if it is off (0) or faster than that.

    A controller with ramping off jumps its setpoint and heats or cools as fast as it can,
    which the profile's ramp limit forbids.
    """
    rate = await ramp.get_value()
    if not 0 < rate <= limits.max_ramp_k_per_s:
        logger.info("%s: ramp %.4g K/s outside (0, %.4g]: set to the limit", device, rate, limits.max_ramp_k_per_s)
        await ramp.set(limits.max_ramp_k_per_s)


async def wait_until_settled(
    device: str,
    sample: Callable[[], Awaitable[ControllerSample]],
    criteria: SettleCriteria,
) -> float:
    """Wait until the controller is settled for ``criteria.dwell_s``; return the seconds it took.

    Polls ``sample()`` every ``criteria.poll_s`` (closer to the end of the dwell when one is
    running). Raises SettleTimeout after ``criteria.timeout_s``, naming the last state seen.
    Errors from ``sample()`` (sensor faults, lost connections) propagate at once.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    settled_since: float | None = None
    while True:
        state = await sample()
        now = loop.time()
        if state.settled(criteria.tolerance_k):
            settled_since = now if settled_since is None else settled_since
            if now - settled_since >= criteria.dwell_s:
                logger.info("%s: settled at %.3f K after %.0f s", device, state.temperature_k, now - started)
                return now - started
        else:
            settled_since = None
        if now - started >= criteria.timeout_s:
            raise SettleTimeout(
                f"{device}: not settled within {criteria.timeout_s:g} s (|T - setpoint| <= "
                f"{criteria.tolerance_k:g} K for {criteria.dwell_s:g} s): {state.describe()}"
            )
        wait_s = criteria.poll_s
        if settled_since is not None:
            wait_s = min(wait_s, settled_since + criteria.dwell_s - now)
        wait_s = min(wait_s, started + criteria.timeout_s - now)
        await asyncio.sleep(max(wait_s, 0.0))
