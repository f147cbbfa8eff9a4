"""Sample transfers between Ar storage, the exchange bath, the SIMS cryo stage and the furnace.

``set(location)`` refuses an unknown location before anything is sent, requests the transfer
(from an operator in the lab, from the twin in simulation) and completes once the driver says
it is done and the sample is where it was asked to go (polled every ``settings.poll_s``, failing
after ``settings.timeout_s`` if one is set).
"""

from __future__ import annotations

import asyncio
import logging

from bluesky.protocols import Movable, Stoppable
from ophyd_async.core import (
    AsyncStatus,
    DeviceMock,
    StandardReadable,
    default_mock_class,
    set_mock_value,
)
from ophyd_async.core import StandardReadableFormat as Format

from simslab.clock import Clock
from simslab.devices.drivers.protocols import SAMPLE_LOCATIONS, SampleHandlerDriver
from simslab.errors import InstrumentError, InstrumentTimeout, ValidationError

from .action import DeviceAction
from .driver_port import DriverPort
from .driver_signal import DriverCommand, DriverConnector, MonitorPolicy, callback_on_mock_call, driver_signal_r
from .settings import SampleHandlerSettings

__all__ = ["SampleHandler", "SampleHandlerMock", "make_sample_handler"]

logger = logging.getLogger(__name__)


class SampleHandlerMock(DeviceMock["SampleHandler"]):
    """Mock behaviour: the sample starts in storage and every transfer is done at once."""

    async def connect(self, device: SampleHandler) -> None:
        set_mock_value(device.location, "storage")
        set_mock_value(device.transfer_done, True)

        def transfer(location: str, note: str) -> None:
            set_mock_value(device.location, location)

        callback_on_mock_call(device.request_transfer, transfer)


@default_mock_class(SampleHandlerMock)
class SampleHandler(StandardReadable, Movable[str], Stoppable):
    """Where the sample is. Signals: location (hinted; one of SAMPLE_LOCATIONS or 'in_transfer'),
    transfer_done (the last requested transfer is confirmed). Command: request_transfer(location, note).
    """

    def __init__(
        self, driver: SampleHandlerDriver | None, settings: SampleHandlerSettings, clock: Clock, name: str = ""
    ) -> None:
        self.settings = settings
        port = DriverPort(driver, "sample_handler")
        monitor = MonitorPolicy(period_s=settings.poll_s)
        with self.add_children_as_readables(Format.HINTED_UNCACHED_SIGNAL):
            self.location = driver_signal_r(
                str, port.reader(lambda d: d.read_location()), "sample_handler:read_location", clock,
                units="", monitor=monitor,
            )
        self.transfer_done = driver_signal_r(
            bool, port.reader(lambda d: d.transfer_complete()), "sample_handler:transfer_complete", clock, units=""
        )
        self.request_transfer = DriverCommand(port, lambda d, location, note: d.request_transfer(location, note))
        self._action = DeviceAction(lambda: self.name, self.safe_state)
        super().__init__(name=name, connector=DriverConnector(port))

    @AsyncStatus.wrap
    async def set(self, value: str, note: str = "") -> None:
        """Move the sample to ``value`` (one of SAMPLE_LOCATIONS); complete once it is there."""
        if value not in SAMPLE_LOCATIONS:
            raise ValidationError(self.name, "location", value, f"one of {', '.join(SAMPLE_LOCATIONS)}")
        await self._action.run(self._transfer(value, note))

    async def stop(self, success: bool = False) -> None:
        """Stop waiting for a transfer (one already requested cannot be called back from here)."""
        self._action.stop(success)

    async def safe_state(self) -> None:
        """Stop waiting; a transfer holds no hazard to switch off, so nothing is sent."""
        await self._action.cancel()

    async def _transfer(self, location: str, note: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.request_transfer.call(location, note)
        logger.info("%s: transfer to %s requested%s", self.name, location, f" ({note})" if note else "")
        while not await self.transfer_done.get_value():
            waited_s = loop.time() - started
            timeout_s = self.settings.timeout_s
            if timeout_s is not None and waited_s >= timeout_s:
                raise InstrumentTimeout(self.name, f"transfer to {location}", None,
                                        f"not confirmed within {timeout_s:g} s")
            wait_s = self.settings.poll_s if timeout_s is None else min(self.settings.poll_s, timeout_s - waited_s)
            await asyncio.sleep(wait_s)
        arrived = await self.location.get_value()
        if arrived != location:
            raise InstrumentError(self.name, f"transfer to {location}", arrived, "the sample is somewhere else")


def make_sample_handler(driver: SampleHandlerDriver | None, settings: SampleHandlerSettings, clock: Clock,
                        name: str = "sample_handler") -> SampleHandler:
    """Build the sample handler (not yet connected)."""
    return SampleHandler(driver, settings, clock, name=name)
