"""The LN2-cooled SIMS sample stage: a Lake Shore-class temperature controller and a level meter.

``set(T)`` writes the setpoint (after the profile's limits are checked) and completes once
the stage has settled (``settings.settle``): within tolerance for the dwell, ramp finished,
heater error 0 and heater not pinned at full output. The plans' SIMS interlock asks
:meth:`CryoStage.is_at_imaging_temperature` (or reads ``at_imaging_temperature``).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext

from bluesky.protocols import Movable, Reading, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    DeviceMock,
    SignalR,
    StandardReadable,
    callback_on_mock_put,
    default_mock_class,
    derived_signal_r,
    set_mock_value,
)
from ophyd_async.core import StandardReadableFormat as Format

from simslab.clock import Clock
from simslab.devices.drivers.protocols import LevelMeterDriver, TemperatureControllerDriver

from .action import DeviceAction
from .clocked_signal import clocked_signal_r_and_setter
from .driver_port import DriverPort, SharedRead
from .driver_signal import DriverConnector, MonitorPolicy, driver_signal_r, driver_signal_rw, driver_signal_w
from .settings import CryoStageSettings
from .temperature_control import (
    ControllerSample,
    check_ramp_k_per_s,
    check_setpoint_k,
    limit_ramp,
    wait_until_settled,
)

__all__ = ["CryoStage", "CryoStageMock", "make_cryo_stage"]

logger = logging.getLogger(__name__)

HEATER_PINNED_FRACTION = 0.999
"""A heater output at or above this fraction of its range counts as pinned at 100 %."""

_OUTPUT_DEADBAND = 0.01  # the monitored heater output is recorded when it moved by more than 1 % of full power


class CryoStageMock(DeviceMock["CryoStage"]):
    """Mock behaviour: the stage reaches any setpoint at once, LN2 full, no heater fault."""

    async def connect(self, device: CryoStage) -> None:
        room_k = device.settings.warm_temperature_k
        for signal, value in [
            (device.temperature, room_k),
            (device.setpoint, room_k),
            (device.ramp_rate, device.settings.limits.max_ramp_k_per_s),
            (device.heater_output, 0.0),
            (device.heater_error, 0),
            (device.ramping, False),
        ]:
            set_mock_value(signal, value)
        if device.ln2_level is not None:
            set_mock_value(device.ln2_level, 1.0)
        callback_on_mock_put(device.setpoint, lambda value: set_mock_value(device.temperature, value))


@default_mock_class(CryoStageMock)
class CryoStage(StandardReadable, Movable[float], Stoppable):
    """The cryo stage. Signals (units on each datakey):

    temperature (K, hinted), setpoint (K, limits checked), heater_output (fraction 0-1),
    ramping (bool), heater_error (code, 0 = none), ln2_level (fraction 0-1, only with a level
    meter), cooling_ok (LN2 above ``min_ln2_level_fraction``), at_imaging_temperature (bool),
    ramp_rate (K/s, configuration), heater_range (write-only, 0 off .. 3 high).

    driver may be None for a device only ever connected with ``mock=True``; a level meter is
    expected when ``settings.level_meter`` is set.
    """

    def __init__(
        self,
        driver: TemperatureControllerDriver | None,
        settings: CryoStageSettings,
        clock: Clock,
        level_meter: LevelMeterDriver | None = None,
        name: str = "",
    ) -> None:
        self.settings = settings
        self._clock = clock
        port = DriverPort(driver, "stage")
        # at_imaging_temperature and cooling_ok derive from the temperature and level readbacks;
        # read() shares one driver call between a readback and what is derived from it
        self._temperature_read = SharedRead(port, lambda d: d.read_temperature_k())
        limits = settings.limits
        period_s = min(settings.settle.poll_s, settings.monitor_period_s)
        monitor = MonitorPolicy(period_s, settings.monitor_deadband_k, settings.monitor_period_s)
        level_monitor = MonitorPolicy(period_s, settings.level_deadband_fraction, settings.monitor_period_s)
        output_monitor = MonitorPolicy(period_s, _OUTPUT_DEADBAND, settings.monitor_period_s)
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.temperature = driver_signal_r(
                float, self._temperature_read.get, "stage:read_temperature_k", clock,
                units="K", precision=3, monitor=monitor,
            )
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.setpoint = driver_signal_rw(
                float, port.reader(lambda d: d.read_setpoint_k()), port.writer(lambda d, v: d.set_setpoint_k(v)),
                "stage:setpoint_k", clock, units="K", precision=3, limits=(limits.min_k, limits.max_k),
                validate=lambda v: check_setpoint_k(self.name, v, limits), monitor=monitor,
            )
            self.heater_output = driver_signal_r(
                float, port.reader(lambda d: d.read_heater_fraction()), "stage:read_heater_fraction", clock,
                units="fraction", precision=4, monitor=output_monitor,
            )
            self.ramping = driver_signal_r(
                bool, port.reader(lambda d: d.is_ramping()), "stage:is_ramping", clock, units=""
            )
            self.heater_error = driver_signal_r(
                int, port.reader(lambda d: d.read_heater_error()), "stage:read_heater_error", clock, units="code"
            )
            level_port = DriverPort(level_meter, "ln2_level_meter") if settings.level_meter is not None else None
            self._level_read = SharedRead(level_port, lambda d: d.read_level_fraction()) if level_port else None
            self.ln2_level: SignalR[float] | None = (
                driver_signal_r(
                    float, self._level_read.get, "ln2:read_level_fraction", clock,
                    units="fraction", precision=3, monitor=level_monitor,
                )
                if self._level_read is not None
                else None
            )
            self.cooling_ok = (
                derived_signal_r(
                    _level_ok, derived_units="", level=self.ln2_level, minimum=settings.min_ln2_level_fraction
                )
                if self.ln2_level is not None
                else clocked_signal_r_and_setter(bool, True, clock, units="")[0]
            )
            self.at_imaging_temperature = derived_signal_r(
                _within,
                derived_units="",
                temperature=self.temperature,
                target=settings.imaging_temperature_k,
                tolerance=settings.imaging_tolerance_k,
            )
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.ramp_rate = driver_signal_rw(
                float, port.reader(lambda d: d.read_ramp_k_per_s()), port.writer(lambda d, v: d.set_ramp_k_per_s(v)),
                "stage:ramp_k_per_s", clock, units="K/s", precision=4, limits=(0.0, limits.max_ramp_k_per_s),
                validate=lambda v: check_ramp_k_per_s(self.name, v, limits),
            )
        self.heater_range = driver_signal_w(
            int, port.writer(lambda d, v: d.set_heater_range(v)), "stage:set_heater_range", clock, units="range"
        )
        self._action = DeviceAction(lambda: self.name, self.safe_state)
        super().__init__(name=name, connector=DriverConnector(*[p for p in (port, level_port) if p is not None]))

    async def read(self) -> dict[str, Reading]:
        """Read every signal; temperature and LN2 level are asked once, for them and what derives from them."""
        with self._temperature_read.sharing(), self._level_read.sharing() if self._level_read else nullcontext():
            return await super().read()

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        """Go to ``value`` K and wait until settled; fail after ``settle.timeout_s`` (then safe state)."""
        setpoint_k = float(value)
        check_setpoint_k(self.name, setpoint_k, self.settings.limits)
        await self._action.run(self._go_to(setpoint_k))

    async def stop(self, success: bool = False) -> None:
        """Halt a temperature change in progress: hold at the present temperature."""
        if self._action.stop(success):
            await self._hold()

    async def safe_state(self) -> None:
        """Hold at the present temperature, or warm to ``warm_temperature_k`` (``settings.safe_state``)."""
        await self._action.cancel()
        if self.settings.safe_state == "warm":
            limits = self.settings.limits
            warm_k = min(max(self.settings.warm_temperature_k, limits.min_k), limits.max_k)
            await limit_ramp(self.name, self.ramp_rate, limits)
            await self.setpoint.set(warm_k)
            logger.info("%s: safe state: warming to %.2f K", self.name, warm_k)
        else:
            await self._hold()

    async def is_at_imaging_temperature(self) -> bool:
        """Return True if |T - imaging_temperature_k| <= imaging_tolerance_k now."""
        return await self.at_imaging_temperature.get_value()

    async def _go_to(self, setpoint_k: float) -> None:
        await limit_ramp(self.name, self.ramp_rate, self.settings.limits)
        await self.setpoint.set(setpoint_k)
        await wait_until_settled(self.name, lambda: self._sample(setpoint_k), self.settings.settle)

    async def _sample(self, target_k: float) -> ControllerSample:
        temperature_k, ramping, heater, error = await asyncio.gather(
            self.temperature.get_value(),
            self.ramping.get_value(),
            self.heater_output.get_value(),
            self.heater_error.get_value(),
        )
        problem = ""
        if error:
            problem = f"heater error {error}"
        elif heater >= HEATER_PINNED_FRACTION:
            problem = "heater pinned at 100 %"
        return ControllerSample(temperature_k, target_k, ramping, problem)

    async def _hold(self) -> None:
        limits = self.settings.limits
        hold_k = min(max(await self.temperature.get_value(), limits.min_k), limits.max_k)
        await self.setpoint.set(hold_k)
        logger.info("%s: holding at %.3f K", self.name, hold_k)


def make_cryo_stage(
    driver: TemperatureControllerDriver | None,
    settings: CryoStageSettings,
    clock: Clock,
    level_meter: LevelMeterDriver | None = None,
    name: str = "stage",
) -> CryoStage:
    """Build the cryo stage (not yet connected: use ``init_devices`` or ``await stage.connect()``)."""
    return CryoStage(driver, settings, clock, level_meter=level_meter, name=name)


def _within(temperature: float, target: float, tolerance: float) -> bool:
    return abs(temperature - target) <= tolerance


def _level_ok(level: float, minimum: float) -> bool:
    return level >= minimum
