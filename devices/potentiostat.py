"""The potentiostat on the operando cell: steps as values for ``set()``.

``set(step)`` applies one step (:class:`Rest`, :class:`ConstantCurrent`,
:class:`ConstantVoltage`, :class:`CellOff`) and completes at its cut-off, polled every
``settings.stream_period_s`` (cut-offs are timed by the host, instruments.md). Why a step
ended is in ``end_reason`` and is the status's result. A voltage outside the profile's safety
window switches the cell off and fails the status. Between steps the cell rests at open
circuit. V, I and charge stream as monitors at ``stream_period_s`` with deadbands.
Positive current charges the cell.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    DeviceMock,
    StandardReadable,
    StrictEnum,
    default_mock_class,
    set_mock_value,
)
from ophyd_async.core import StandardReadableFormat as Format

from simslab.clock import Clock
from simslab.devices.drivers.protocols import PotentiostatDriver, PotentiostatMeasurement
from simslab.errors import InterlockError, LimitError

from .action import DeviceAction
from .clocked_signal import clocked_signal_r_and_setter
from .driver_port import DriverPort, SharedRead
from .driver_signal import DriverCommand, DriverConnector, MonitorPolicy, driver_signal_r
from .settings import PotentiostatSettings

__all__ = [
    "Potentiostat",
    "PotentiostatMock",
    "PotentiostatMode",
    "StepEnd",
    "Rest",
    "ConstantCurrent",
    "ConstantVoltage",
    "CellOff",
    "Step",
    "make_potentiostat",
]

logger = logging.getLogger(__name__)

VOLTAGE_DEADBAND_V = 1e-3
CURRENT_DEADBAND_A = 1e-9
CHARGE_DEADBAND_C = 1e-7
"""Monitor deadbands: ~1 mV, 1 nA (well below the 6 uA of the published cycling), 0.1 uC."""


class PotentiostatMode(StrictEnum):
    OFF = "off"
    OPEN_CIRCUIT = "open_circuit"
    CONSTANT_CURRENT = "constant_current"
    CONSTANT_VOLTAGE = "constant_voltage"


class StepEnd(StrictEnum):
    """Why a step ended."""

    NONE = ""
    CUTOFF_VOLTAGE = "cutoff_voltage"
    CUTOFF_CURRENT = "cutoff_current"
    TIME = "time"
    CELL_OFF = "cell_off"


@dataclass(frozen=True)
class Rest:
    """Open circuit for ``duration_s`` s, measuring the cell's voltage."""

    duration_s: float

    def __post_init__(self) -> None:
        _positive("Rest.duration_s", self.duration_s)


@dataclass(frozen=True)
class ConstantCurrent:
    """Source ``current_a`` A (positive charges) until V crosses ``cutoff_voltage_v`` or ``max_duration_s`` s pass.

    Charging (I > 0) ends when V >= cutoff, discharging (I < 0) when V <= cutoff.
    """

    current_a: float
    cutoff_voltage_v: float
    max_duration_s: float

    def __post_init__(self) -> None:
        if not self.current_a:
            raise ValueError("ConstantCurrent.current_a must not be 0 A (use Rest for open circuit)")
        _positive("ConstantCurrent.max_duration_s", self.max_duration_s)


@dataclass(frozen=True)
class ConstantVoltage:
    """Hold ``voltage_v`` V for ``max_duration_s`` s, or until |I| <= ``cutoff_current_a`` A (if given)."""

    voltage_v: float
    max_duration_s: float
    cutoff_current_a: float | None = None

    def __post_init__(self) -> None:
        _positive("ConstantVoltage.max_duration_s", self.max_duration_s)
        if self.cutoff_current_a is not None:
            _positive("ConstantVoltage.cutoff_current_a", self.cutoff_current_a)


@dataclass(frozen=True)
class CellOff:
    """Disconnect the cell (output off); completes at once."""


Step = Rest | ConstantCurrent | ConstantVoltage | CellOff


class PotentiostatMock(DeviceMock["Potentiostat"]):
    """Mock behaviour: a cell at 2 V with no current; steps run to their time limits."""

    async def connect(self, device: Potentiostat) -> None:
        set_mock_value(device.voltage, 2.0)
        set_mock_value(device.current, 0.0)
        set_mock_value(device.charge, 0.0)


@default_mock_class(PotentiostatMock)
class Potentiostat(StandardReadable, Movable[Step], Stoppable):
    """The potentiostat. Signals (units on each datakey):

    voltage (V, hinted), current (A, hinted), charge (C since connect, cumulative), step_charge
    (C since the step began), step_time (s since the step began), mode (PotentiostatMode),
    end_reason (StepEnd of the last step). Commands: open_circuit, apply_current(I, V limit),
    apply_voltage(V, I limit), cell_off.
    """

    def __init__(
        self, driver: PotentiostatDriver | None, settings: PotentiostatSettings, clock: Clock, name: str = ""
    ) -> None:
        self.settings = settings
        self._clock = clock
        port = DriverPort(driver, "potentiostat")
        measurement = SharedRead[PotentiostatMeasurement](port, lambda d: d.read_measurement())
        period_s = settings.stream_period_s

        def stream(deadband: float) -> MonitorPolicy:
            return MonitorPolicy(period_s=period_s, deadband=deadband)

        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.voltage = driver_signal_r(
                float, measurement.field(lambda m: m.voltage_v), "potentiostat:voltage_v", clock,
                units="V", precision=4, monitor=stream(VOLTAGE_DEADBAND_V),
            )
            self.current = driver_signal_r(
                float, measurement.field(lambda m: m.current_a), "potentiostat:current_a", clock,
                units="A", precision=9, monitor=stream(CURRENT_DEADBAND_A),
            )
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.charge = driver_signal_r(
                float, measurement.field(lambda m: m.charge_c), "potentiostat:charge_c", clock,
                units="C", precision=9, monitor=stream(CHARGE_DEADBAND_C),
            )
            self.step_charge, self._set_step_charge = clocked_signal_r_and_setter(float, 0.0, clock, units="C")
            self.step_time, self._set_step_time = clocked_signal_r_and_setter(float, 0.0, clock, units="s")
            self.mode, self._set_mode = clocked_signal_r_and_setter(
                PotentiostatMode, PotentiostatMode.OFF, clock, units=""
            )
            self.end_reason, self._set_end_reason = clocked_signal_r_and_setter(
                StepEnd, StepEnd.NONE, clock, units=""
            )
        self.open_circuit = DriverCommand(port, lambda d: d.set_open_circuit())
        self.apply_current = DriverCommand(port, lambda d, i, v: d.apply_current(i, v))
        self.apply_voltage = DriverCommand(port, lambda d, v, i: d.apply_voltage(v, i))
        self.cell_off = DriverCommand(port, lambda d: d.cell_off())
        self._action = DeviceAction(lambda: self.name, self.safe_state)
        super().__init__(name=name, connector=DriverConnector(port))

    @AsyncStatus.wrap
    async def set(self, value: Step) -> StepEnd | None:
        """Run one step; complete at its cut-off and return why it ended (also in ``end_reason``)."""
        self.check_step(value)
        return await self._action.run(self._run_step(value))

    def check_step(self, step: Step) -> None:
        """Raise LimitError if the step lies outside the profile's window or current limit; send nothing."""
        limits = self.settings.limits
        window = (limits.min_voltage_v, limits.max_voltage_v)
        if isinstance(step, ConstantCurrent):
            if abs(step.current_a) > limits.max_current_a:
                raise LimitError(self.name, "current_a", step.current_a, -limits.max_current_a,
                                 limits.max_current_a, "A")
            if not window[0] <= step.cutoff_voltage_v <= window[1]:
                raise LimitError(self.name, "cutoff_voltage_v", step.cutoff_voltage_v, *window, "V")
        elif isinstance(step, ConstantVoltage):
            if not window[0] <= step.voltage_v <= window[1]:
                raise LimitError(self.name, "voltage_v", step.voltage_v, *window, "V")
            if step.cutoff_current_a is not None and step.cutoff_current_a > limits.max_current_a:
                raise LimitError(self.name, "cutoff_current_a", step.cutoff_current_a, 0.0,
                                 limits.max_current_a, "A")
        elif not isinstance(step, Rest | CellOff):
            raise TypeError(f"{self.name}: not a potentiostat step: {step!r}")

    async def stop(self, success: bool = False) -> None:
        """End the step in progress (if any) with the cell off."""
        if self._action.stop(success):
            await self._switch_off()

    async def safe_state(self) -> None:
        """Switch the cell off (output off)."""
        await self._action.cancel()
        await self._switch_off()
        logger.info("%s: safe state: cell off", self.name)

    async def _run_step(self, step: Step) -> StepEnd:
        self._set_end_reason(StepEnd.NONE)
        if isinstance(step, CellOff):
            await self._switch_off()
            self._set_end_reason(StepEnd.CELL_OFF)
            return StepEnd.CELL_OFF
        limits = self.settings.limits
        if isinstance(step, Rest):
            await self.open_circuit.call()
            mode, duration_s = PotentiostatMode.OPEN_CIRCUIT, step.duration_s
        elif isinstance(step, ConstantCurrent):
            await self.apply_current.call(step.current_a, limits.max_voltage_v)
            mode, duration_s = PotentiostatMode.CONSTANT_CURRENT, step.max_duration_s
        else:
            await self.apply_voltage.call(step.voltage_v, limits.max_current_a)
            mode, duration_s = PotentiostatMode.CONSTANT_VOLTAGE, step.max_duration_s
        self._set_mode(mode)
        reason = await self._follow(step, duration_s)
        self._set_end_reason(reason)
        logger.info("%s: %s ended (%s)", self.name, type(step).__name__, reason.value)
        if not isinstance(step, Rest):
            await self.open_circuit.call()
            self._set_mode(PotentiostatMode.OPEN_CIRCUIT)
        return reason

    async def _follow(self, step: Step, duration_s: float) -> StepEnd:
        """Poll the cell every stream period until the step's cut-off; enforce the safety window."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        start_charge_c = await self.charge.get_value()
        period_s = self.settings.stream_period_s
        while True:
            voltage_v, current_a, charge_c = await asyncio.gather(
                self.voltage.get_value(), self.current.get_value(), self.charge.get_value()
            )
            elapsed_s = loop.time() - started
            self._set_step_time(elapsed_s)
            self._set_step_charge(charge_c - start_charge_c)
            self._check_window(voltage_v)
            reason = _cutoff_reached(step, voltage_v, current_a)
            if reason is not None:
                return reason
            if elapsed_s >= duration_s:
                return StepEnd.TIME
            await asyncio.sleep(min(period_s, duration_s - elapsed_s))

    def _check_window(self, voltage_v: float) -> None:
        limits = self.settings.limits
        if not limits.min_voltage_v <= voltage_v <= limits.max_voltage_v:
            raise InterlockError(
                f"{self.name}: cell voltage {voltage_v:.4f} V outside the safety window "
                f"{limits.min_voltage_v:g}-{limits.max_voltage_v:g} V: cell switched off"
            )

    async def _switch_off(self) -> None:
        await self.cell_off.call()
        self._set_mode(PotentiostatMode.OFF)


def make_potentiostat(driver: PotentiostatDriver | None, settings: PotentiostatSettings, clock: Clock,
                      name: str = "potentiostat") -> Potentiostat:
    """Build the potentiostat (not yet connected)."""
    return Potentiostat(driver, settings, clock, name=name)


def _cutoff_reached(step: Step, voltage_v: float, current_a: float) -> StepEnd | None:
    if isinstance(step, ConstantCurrent):
        charging = step.current_a > 0
        if (charging and voltage_v >= step.cutoff_voltage_v) or (not charging and voltage_v <= step.cutoff_voltage_v):
            return StepEnd.CUTOFF_VOLTAGE
    elif isinstance(step, ConstantVoltage) and step.cutoff_current_a is not None:
        if abs(current_a) <= step.cutoff_current_a:
            return StepEnd.CUTOFF_CURRENT
    return None


def _positive(field: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{field} = {value!r} must be > 0")
