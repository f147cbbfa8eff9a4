"""Cell steps on the potentiostat (plan stubs): rest at open circuit, CC to a cut-off, CV hold, cell off.

Each blocking stub applies one step and waits for its cut-off, then returns why it ended
(``StepEnd``: cutoff_voltage, cutoff_current, time, cell_off). :func:`start_cell_step` starts a
step without waiting, so images can be taken while the current flows. Positive current
charges the cell. A voltage outside the profile's safety window switches the cell off and
fails the step (InterlockError).
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from simslab.devices import CellOff, ConstantCurrent, ConstantVoltage, Rest, Step

__all__ = [
    "rest",
    "constant_current",
    "constant_voltage",
    "cell_off",
    "run_cell_step",
    "start_cell_step",
    "Step",
    "Rest",
    "ConstantCurrent",
    "ConstantVoltage",
    "CellOff",
]


def run_cell_step(potentiostat: Any, step: Step) -> MsgGenerator[str]:
    """Apply ``step`` and wait for its cut-off; return why it ended (the StepEnd value)."""
    yield from bps.mv(potentiostat, step)
    end = yield from bps.rd(potentiostat.end_reason)
    return str(getattr(end, "value", end))


def start_cell_step(potentiostat: Any, step: Step, group: str) -> MsgGenerator[Any]:
    """Apply ``step`` without waiting; return its status (``status.done`` once cut off; ``bps.wait(group)`` waits)."""
    return (yield from bps.abs_set(potentiostat, step, group=group))


def rest(potentiostat: Any, duration_s: float) -> MsgGenerator[str]:
    """Rest the cell at open circuit for ``duration_s`` s, measuring its voltage."""
    return (yield from run_cell_step(potentiostat, Rest(duration_s)))


def constant_current(potentiostat: Any, current_a: float, cutoff_voltage_v: float,
                     max_duration_s: float) -> MsgGenerator[str]:
    """Source ``current_a`` A (> 0 charges) until V crosses ``cutoff_voltage_v`` V or ``max_duration_s`` s pass."""
    return (yield from run_cell_step(potentiostat, ConstantCurrent(current_a, cutoff_voltage_v, max_duration_s)))


def constant_voltage(potentiostat: Any, voltage_v: float, max_duration_s: float,
                     cutoff_current_a: float | None = None) -> MsgGenerator[str]:
    """Hold ``voltage_v`` V for ``max_duration_s`` s, or until |I| <= ``cutoff_current_a`` A if given."""
    return (yield from run_cell_step(potentiostat, ConstantVoltage(voltage_v, max_duration_s, cutoff_current_a)))


def cell_off(potentiostat: Any) -> MsgGenerator[str]:
    """Disconnect the cell (output off)."""
    return (yield from run_cell_step(potentiostat, CellOff()))
