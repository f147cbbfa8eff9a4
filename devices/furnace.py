"""The annealing furnace: a Eurotherm-class PID controller, with a software over-temperature trip.

``set(T)`` checks the profile's limits, puts the controller in automatic, writes the setpoint
and completes once settled (``settings.settle``). While the output is on, a watchdog reads the
process value every ``watchdog_period_s``: above ``over_temperature_k`` (set below the
hardware's own limit) or on a broken thermocouple it switches the output off and latches
``tripped``; further ``set()`` calls are refused until :meth:`AnnealingFurnace.reset_trip`.
A broken thermocouple is an error (SensorFault), never a reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    DeviceMock,
    StandardReadable,
    callback_on_mock_put,
    default_mock_class,
    set_mock_value,
)
from ophyd_async.core import StandardReadableFormat as Format

from simslab.clock import Clock
from simslab.devices.drivers.protocols import FurnaceDriver, FurnaceStatus
from simslab.errors import InterlockError, SensorFault

from .action import DeviceAction
from .clocked_signal import clocked_signal_r_and_setter
from .driver_port import DriverPort, SharedRead
from .driver_signal import DriverCommand, DriverConnector, MonitorPolicy, driver_signal_r, driver_signal_rw
from .settings import FurnaceSettings
from .temperature_control import (
    ControllerSample,
    check_ramp_k_per_s,
    check_setpoint_k,
    limit_ramp,
    wait_until_settled,
)

__all__ = ["AnnealingFurnace", "FurnaceMock", "make_furnace"]

logger = logging.getLogger(__name__)

OUTPUT_PINNED_FRACTION = 0.999
RAMP_DONE_TOLERANCE_K = 0.01
"""The working setpoint counts as arrived when within this of the target."""


class FurnaceMock(DeviceMock["AnnealingFurnace"]):
    """Mock behaviour: the furnace reaches any setpoint at once, no alarm."""

    async def connect(self, device: AnnealingFurnace) -> None:
        ambient_k = device.settings.limits.min_k
        for signal, value in [
            (device.temperature, ambient_k),
            (device.setpoint, ambient_k),
            (device.working_setpoint, ambient_k),
            (device.ramp_rate, device.settings.limits.max_ramp_k_per_s),
            (device.output, 0.0),
            (device.automatic, False),
            (device.alarm, False),
            (device.sensor_break, False),
            (device.heater_fail, False),
            (device.ramp_complete, True),
        ]:
            set_mock_value(signal, value)

        def arrive(value: float) -> None:
            set_mock_value(device.temperature, value)
            set_mock_value(device.working_setpoint, value)

        callback_on_mock_put(device.setpoint, arrive)


@default_mock_class(FurnaceMock)
class AnnealingFurnace(StandardReadable, Movable[float], Stoppable):
    """The annealing furnace. Signals (units on each datakey):

    temperature (process value, K, hinted), setpoint (target, K, limits checked),
    working_setpoint (K), output (fraction 0-1), automatic (bool; writing False switches the
    output off), alarm, sensor_break, heater_fail, ramp_complete (status bits), tripped
    (software over-temperature trip latched), ramp_rate (K/s, configuration),
    over_temperature (K, configuration). Command: acknowledge_alarms.
    """

    def __init__(self, driver: FurnaceDriver | None, settings: FurnaceSettings, clock: Clock, name: str = "") -> None:
        self.settings = settings
        port = DriverPort(driver, "furnace")
        status = SharedRead[FurnaceStatus](port, lambda d: d.read_status())
        limits = settings.limits
        monitor = MonitorPolicy(
            period_s=min(settings.settle.poll_s, settings.monitor_period_s),
            deadband=settings.monitor_deadband_k,
            heartbeat_s=settings.monitor_period_s,
        )
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.temperature = driver_signal_r(
                float, port.reader(lambda d: d.read_temperature_k()), "furnace:read_temperature_k", clock,
                units="K", precision=2, monitor=monitor,
            )
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.setpoint = driver_signal_rw(
                float, port.reader(lambda d: d.read_setpoint_k()), port.writer(lambda d, v: d.set_setpoint_k(v)),
                "furnace:setpoint_k", clock, units="K", precision=2, limits=(limits.min_k, limits.max_k),
                validate=lambda v: check_setpoint_k(self.name, v, limits),
            )
            self.working_setpoint = driver_signal_r(
                float, port.reader(lambda d: d.read_working_setpoint_k()), "furnace:read_working_setpoint_k", clock,
                units="K", precision=2, monitor=monitor,
            )
            self.output = driver_signal_r(
                float, port.reader(lambda d: d.read_output_fraction()), "furnace:read_output_fraction", clock,
                units="fraction", precision=3, monitor=monitor,
            )
            self.automatic = driver_signal_rw(
                bool, status.field(lambda s: not s.manual), port.writer(_switch_automatic),
                "furnace:automatic", clock, units="",
            )
            self.alarm = driver_signal_r(bool, status.field(lambda s: s.alarm), "furnace:status.alarm", clock, units="")
            self.sensor_break = driver_signal_r(
                bool, status.field(lambda s: s.sensor_break), "furnace:status.sensor_break", clock, units=""
            )
            self.heater_fail = driver_signal_r(
                bool, status.field(lambda s: s.heater_fail), "furnace:status.heater_fail", clock, units=""
            )
            self.ramp_complete = driver_signal_r(
                bool, status.field(lambda s: s.ramp_complete), "furnace:status.ramp_complete", clock, units=""
            )
            self.tripped, self._set_tripped = clocked_signal_r_and_setter(bool, False, clock, units="")
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.ramp_rate = driver_signal_rw(
                float, port.reader(lambda d: d.read_ramp_k_per_s()), port.writer(lambda d, v: d.set_ramp_k_per_s(v)),
                "furnace:ramp_k_per_s", clock, units="K/s", precision=4, limits=(0.0, limits.max_ramp_k_per_s),
                validate=lambda v: check_ramp_k_per_s(self.name, v, limits),
            )
            self.over_temperature, _ = clocked_signal_r_and_setter(
                float, settings.over_temperature_k, clock, units="K"
            )
        self.acknowledge_alarms = DriverCommand(port, lambda d: d.acknowledge_alarms())
        self._action = DeviceAction(lambda: self.name, self.safe_state)
        self._watchdog: asyncio.Task | None = None
        self._trip_reason = ""
        self._trip_error: Exception | None = None
        super().__init__(name=name, connector=DriverConnector(port))

    @AsyncStatus.wrap
    async def set(self, value: float) -> None:
        """Heat or cool to ``value`` K and wait until settled; fail on a trip, a fault or the settle timeout."""
        setpoint_k = float(value)
        check_setpoint_k(self.name, setpoint_k, self.settings.limits)
        if self._trip_reason:
            raise InterlockError(f"{self.name}: refused, over-temperature trip latched ({self._trip_reason}); "
                                 "check the furnace, then call reset_trip()")
        await self._action.run(self._go_to(setpoint_k))

    async def stop(self, success: bool = False) -> None:
        """Halt a temperature change in progress: stop the ramp and hold at the working setpoint."""
        if self._action.stop(success):
            limits = self.settings.limits
            hold_k = min(max(await self.working_setpoint.get_value(), limits.min_k), limits.max_k)
            await self.setpoint.set(hold_k)
            logger.info("%s: holding at %.2f K", self.name, hold_k)

    async def safe_state(self) -> None:
        """Switch the output off (manual, zero output) and stop the watchdog."""
        await self._action.cancel()
        await self._stop_watchdog()
        await self.automatic.set(False)
        # INFO: plans also end a normal anneal here; a plan that fails logs its own warning
        logger.info("%s: safe state: output off", self.name)

    async def reset_trip(self) -> None:
        """Acknowledge alarms and clear a latched trip, once the process value is below the trip level."""
        temperature_k = await self.temperature.get_value()
        if temperature_k > self.settings.over_temperature_k:
            raise InterlockError(f"{self.name}: cannot reset the trip at {temperature_k:.1f} K, above "
                                 f"over_temperature_k {self.settings.over_temperature_k:.1f} K")
        await self.acknowledge_alarms.call()
        self._trip_reason, self._trip_error = "", None
        self._set_tripped(False)

    async def _go_to(self, setpoint_k: float) -> None:
        await limit_ramp(self.name, self.ramp_rate, self.settings.limits)
        await self.setpoint.set(setpoint_k)
        if not await self.automatic.get_value():
            await self.automatic.set(True)
        self._start_watchdog()
        await wait_until_settled(self.name, lambda: self._sample(setpoint_k), self.settings.settle)

    async def _sample(self, target_k: float) -> ControllerSample:
        if self._trip_error is not None:
            raise self._trip_error  # the watchdog tripped first: the move fails with its cause
        temperature_k = await self._checked_temperature()
        working_k, output, alarm, heater_fail, ramp_complete = await asyncio.gather(
            self.working_setpoint.get_value(),
            self.output.get_value(),
            self.alarm.get_value(),
            self.heater_fail.get_value(),
            self.ramp_complete.get_value(),
        )
        problem = ""
        if heater_fail:
            problem = "heater failure"
        elif alarm:
            problem = "alarm active"
        elif output >= OUTPUT_PINNED_FRACTION:
            problem = "output pinned at 100 %"
        ramping = not ramp_complete or abs(working_k - target_k) > RAMP_DONE_TOLERANCE_K
        return ControllerSample(temperature_k, target_k, ramping, problem)

    async def _checked_temperature(self) -> float:
        """Read the process value; trip (output off) above over_temperature_k or on a sensor fault."""
        try:
            temperature_k = await self.temperature.get_value()
        except SensorFault as err:
            await self._trip(f"sensor fault: {err}", err)
            raise
        if temperature_k > self.settings.over_temperature_k:
            reason = f"{temperature_k:.1f} K above over_temperature_k {self.settings.over_temperature_k:.1f} K"
            error = InterlockError(f"{self.name}: over-temperature trip, output switched off: {reason}")
            await self._trip(reason, error)
            raise error
        return temperature_k

    async def _trip(self, reason: str, error: Exception) -> None:
        logger.error("%s: trip: %s; switching the output off", self.name, reason)
        self._trip_reason, self._trip_error = reason, error
        self._set_tripped(True)
        await self.automatic.set(False)

    def _start_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    async def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog is not asyncio.current_task() and not watchdog.done():
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch(self) -> None:
        while not self._trip_reason:
            await asyncio.sleep(self.settings.watchdog_period_s)
            try:
                await self._checked_temperature()
            except (InterlockError, SensorFault):
                return  # tripped: output already off
            except Exception as err:  # the instrument may answer again; keep watching
                logger.warning("%s: watchdog could not read the temperature: %s", self.name, err)


def make_furnace(driver: FurnaceDriver | None, settings: FurnaceSettings, clock: Clock,
                 name: str = "furnace") -> AnnealingFurnace:
    """Build the annealing furnace (not yet connected)."""
    return AnnealingFurnace(driver, settings, clock, name=name)


def _switch_automatic(driver: FurnaceDriver, automatic: bool) -> None:
    if automatic:
        driver.switch_to_automatic()
    else:
        driver.switch_output_off()
