"""Signals and commands backed by a driver call, which ophyd-async's mock mode replaces cleanly.

Why not soft signals with getters: a soft signal's getter still runs in mock mode, so
``set_mock_value`` is overwritten by the next read (design.md, "Known pitfalls"). Here a
:class:`DriverSignalBackend` reads and writes through a :class:`DriverPort`; in mock mode
ophyd-async swaps it for its own ``MockSignalBackend`` and the driver is never touched.
:class:`DriverConnector` opens the driver only in real mode, and :class:`DriverCommand` is an
action on the driver (switch the output off, start an acquisition) that mock mode replaces by
an ``AsyncMock`` attached to the device's mock.

Monitoring: an instrument has no push, so :meth:`DriverSignalBackend.set_callback` polls at
the :class:`MonitorPolicy`'s period and passes a value on only when it moved by more than the
deadband (or a heartbeat is due), so weeks of virtual time do not become millions of events.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
from unittest.mock import AsyncMock

from bluesky.protocols import Reading
from event_model import DataKey
from ophyd_async.core import (
    DEFAULT_TIMEOUT,
    Callback,
    Device,
    DeviceConnector,
    DeviceMock,
    MockSignalBackend,
    Signal,
    SignalBackend,
    SignalDatatypeT,
    SignalR,
    SignalRW,
    SignalW,
    get_enum_cls,
    make_datakey,
)

from simslab.clock import Clock

from .driver_port import DriverPort

__all__ = [
    "MonitorPolicy",
    "DriverSignalBackend",
    "DriverConnector",
    "DriverCommand",
    "driver_signal_r",
    "driver_signal_rw",
    "driver_signal_w",
    "callback_on_mock_call",
    "close_drivers",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class MonitorPolicy:
    """How a subscribed signal is polled.

    period_s: time between driver reads while subscribed. deadband: a number is passed on
    only if it moved by more than this since the last value passed on (other types: when
    they change). heartbeat_s: pass one on at least this often even when unchanged (None: never).
    """

    period_s: float
    deadband: float = 0.0
    heartbeat_s: float | None = None

    def __post_init__(self) -> None:
        if not self.period_s > 0:
            raise ValueError(f"MonitorPolicy.period_s = {self.period_s!r} must be > 0 s")
        if self.deadband < 0:
            raise ValueError(f"MonitorPolicy.deadband = {self.deadband!r} must be >= 0")
        if self.heartbeat_s is not None and not self.heartbeat_s > 0:
            raise ValueError(f"MonitorPolicy.heartbeat_s = {self.heartbeat_s!r} must be > 0 s or None")


class DriverSignalBackend(SignalBackend[SignalDatatypeT]):
    """A signal backend reading and writing through async driver calls.

    read: returns the instrument's value (through a DriverPort or a SharedRead).
    write: sends a value; ``validate`` runs first and raises (e.g. LimitError) before anything is sent.
    Readings carry ``clock.now()`` as timestamp, so a simulated run carries virtual time.
    """

    def __init__(
        self,
        datatype: type[SignalDatatypeT],
        source: str,
        clock: Clock,
        read: Callable[[], Awaitable[SignalDatatypeT]] | None = None,
        write: Callable[[SignalDatatypeT], Awaitable[None]] | None = None,
        *,
        units: str | None = None,
        precision: int | None = None,
        limits: tuple[float, float] | None = None,
        validate: Callable[[SignalDatatypeT], None] | None = None,
        monitor: MonitorPolicy | None = None,
    ) -> None:
        if read is None and write is None:
            raise ValueError(f"{source}: a driver signal needs a read or a write call")
        if datatype not in (bool, int, float, str) and get_enum_cls(datatype) is None:
            raise TypeError(f"{source}: driver signals carry bool, int, float, str or an enum, not {datatype}")
        self._source = source
        self._clock = clock
        self._read = read
        self._write = write
        self._validate = validate
        self._monitor = monitor or MonitorPolicy(period_s=10.0)
        self.metadata: dict[str, Any] = {}
        if units is not None:
            self.metadata["units"] = units
        if precision is not None:
            self.metadata["precision"] = precision
        if enum_cls := get_enum_cls(datatype):
            self.metadata["choices"] = [member.value for member in enum_cls]
        if limits is not None:
            self.metadata["limits"] = {"control": {"low": limits[0], "high": limits[1]}}
        self._last_value: SignalDatatypeT | None = None
        self._setpoint: SignalDatatypeT | None = None
        self._poll_task: asyncio.Task | None = None
        self._callback: Callback[Reading[SignalDatatypeT]] | None = None
        super().__init__(datatype)

    def source(self, name: str, read: bool) -> str:
        return self._source

    async def connect(self, timeout: float) -> None:
        """Nothing per signal: the device's DriverConnector opened the driver."""

    async def put(self, value: SignalDatatypeT | None) -> None:
        if self._write is None:
            raise TypeError(f"{self._source} is read-only")
        if value is None:
            raise ValueError(f"{self._source}: a value is required")
        value = self.datatype(value)
        if self._validate is not None:
            self._validate(value)
        await self._write(value)
        self._setpoint = value

    async def get_value(self) -> SignalDatatypeT:
        if self._read is None:
            if self._setpoint is None:
                raise TypeError(f"{self._source} is write-only and was never written")
            return self._setpoint
        value = self.datatype(await self._read())
        self._last_value = value
        return value

    async def get_reading(self) -> Reading[SignalDatatypeT]:
        value = await self.get_value()
        return Reading(value=value, timestamp=self._clock.now(), alarm_severity=0)

    async def get_setpoint(self) -> SignalDatatypeT:
        return self._setpoint if self._setpoint is not None else await self.get_value()

    async def get_datakey(self, source: str) -> DataKey:
        # describe() must not talk to the instrument: the shape of a scalar is known anyway
        example = self._last_value if self._last_value is not None else _example_of(self.datatype)
        return make_datakey(self.datatype, example, source, self.metadata)

    def set_callback(self, callback: Callback[Reading[SignalDatatypeT]] | None) -> None:
        if callback is not None and self._callback is not None:
            raise RuntimeError(f"{self._source}: a callback is already set")
        if self._poll_task is not None:
            self._poll_task.cancel()
            self._poll_task = None
        self._callback = callback
        if callback is not None:
            self._poll_task = asyncio.get_running_loop().create_task(self._poll(callback))

    async def _poll(self, callback: Callback[Reading[SignalDatatypeT]]) -> None:
        loop = asyncio.get_running_loop()
        policy = self._monitor
        last_sent: Any = None
        last_sent_at = -math.inf
        last_error = ""
        while True:
            try:
                reading = await self.get_reading()
            except Exception as err:  # a monitor keeps going; the error is logged once per kind
                if str(err) != last_error:
                    logger.warning("%s: monitor read failed: %s", self._source, err)
                    last_error = str(err)
            else:
                last_error = ""
                now = loop.time()
                heartbeat_due = policy.heartbeat_s is not None and now - last_sent_at >= policy.heartbeat_s
                if last_sent_at == -math.inf or heartbeat_due or _moved(reading["value"], last_sent, policy.deadband):
                    last_sent, last_sent_at = reading["value"], now
                    callback(reading)
            await asyncio.sleep(policy.period_s)


class DriverConnector(DeviceConnector):
    """Opens the device's driver ports in real mode only; mock mode never touches them."""

    def __init__(self, *ports: DriverPort) -> None:
        self.ports = ports

    async def connect_real(self, device: Device, timeout: float, force_reconnect: bool) -> None:
        for port in self.ports:
            if force_reconnect or not port.is_open:
                await asyncio.wait_for(port.open(), timeout)
        await super().connect_real(device, timeout, force_reconnect)

    async def connect_mock(self, device: Device, mock: DeviceMock) -> None:
        await super().connect_mock(device, mock)
        _restore_mock_metadata(device)


class DriverCommand(Device, Generic[P, T]):
    """An action on the driver, as a child device so that mock mode replaces it.

    ``await command.call(*args)`` runs ``func(driver, *args)`` through the port, failing after
    ``timeout_s``. In mock mode it awaits an ``AsyncMock`` (attached to the parent's mock as
    ``<child>.call``) whose behaviour :func:`callback_on_mock_call` sets. ophyd-async's own
    ``Command`` needs argument and return types it can convert; acquisition requests and
    results are not such types, hence this small class.
    """

    def __init__(
        self,
        port: DriverPort,
        func: Callable[Concatenate[Any, P], T],
        timeout_s: float | None = DEFAULT_TIMEOUT,
        name: str = "",
    ) -> None:
        self._port = port
        self._func = func
        self._timeout_s = timeout_s
        self._mock_call: AsyncMock | None = None
        super().__init__(name=name, connector=_DriverCommandConnector())

    async def call(self, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run the action and return the driver's answer."""
        if self._mock_call is not None:
            return await self._mock_call(*args, **kwargs)
        if kwargs:
            raise TypeError(f"{self.name}: driver commands take positional arguments only")
        return await asyncio.wait_for(self._port.call(self._func, *args), self._timeout_s)


def driver_signal_r(
    datatype: type[SignalDatatypeT],
    read: Callable[[], Awaitable[SignalDatatypeT]],
    source: str,
    clock: Clock,
    **metadata: Any,
) -> SignalR[SignalDatatypeT]:
    """Make a read-only signal whose value is read from the driver (units=, precision=, monitor=)."""
    return SignalR(DriverSignalBackend(datatype, source, clock, read=read, **metadata))


def driver_signal_rw(
    datatype: type[SignalDatatypeT],
    read: Callable[[], Awaitable[SignalDatatypeT]],
    write: Callable[[SignalDatatypeT], Awaitable[None]],
    source: str,
    clock: Clock,
    **metadata: Any,
) -> SignalRW[SignalDatatypeT]:
    """Make a signal read from and written to the driver (validate= runs before each write)."""
    return SignalRW(DriverSignalBackend(datatype, source, clock, read=read, write=write, **metadata))


def driver_signal_w(
    datatype: type[SignalDatatypeT],
    write: Callable[[SignalDatatypeT], Awaitable[None]],
    source: str,
    clock: Clock,
    **metadata: Any,
) -> SignalW[SignalDatatypeT]:
    """Make a write-only signal (a setting the instrument cannot report back)."""
    return SignalW(DriverSignalBackend(datatype, source, clock, write=write, **metadata))


async def close_drivers(*devices: Device) -> None:
    """Close the driver ports of devices connected for real (at the end of a session)."""
    for device in devices:
        connector = device._connector  # noqa: SLF001 - the connector holds the ports it opened
        if isinstance(connector, DriverConnector):
            for port in connector.ports:
                await port.close()


def callback_on_mock_call(command: DriverCommand, callback: Callable[..., Any] | None) -> None:
    """Make a mock-connected command run ``callback(*args)`` (sync or async) and return its result."""
    if command._mock_call is None:  # noqa: SLF001 - this module owns DriverCommand
        raise RuntimeError(f"{command.name} is not connected in mock mode")
    command._mock_call.side_effect = callback if callback is not None else _return_none  # noqa: SLF001


class _DriverCommandConnector(DeviceConnector):
    async def connect_real(self, device: Device, timeout: float, force_reconnect: bool) -> None:
        assert isinstance(device, DriverCommand)
        device._mock_call = None  # noqa: SLF001

    async def connect_mock(self, device: Device, mock: DeviceMock) -> None:
        assert isinstance(device, DriverCommand)
        if device._mock_call is None:  # noqa: SLF001
            call = AsyncMock(name="call", side_effect=_return_none)
            mock().attach_mock(call, "call")
            device._mock_call = call  # noqa: SLF001


def _return_none(*args: Any, **kwargs: Any) -> None:
    return None


def _example_of(datatype: type) -> Any:
    enum_cls = get_enum_cls(datatype)
    return next(iter(enum_cls)) if enum_cls else datatype()


def _moved(value: Any, last: Any, deadband: float) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value != last
    if last is None:
        return True
    if math.isnan(value) or math.isnan(last):
        return math.isnan(value) != math.isnan(last)
    return abs(value - last) > deadband


def _restore_mock_metadata(device: Device) -> None:
    """Give mock signals the units, precision and limits their driver backends declare.

    ophyd-async's MockSignalBackend starts from a bare soft backend, which would drop the
    units from every datakey in mock mode.
    """
    for _, child in device.children():
        if isinstance(child, Signal):
            backend = child._connector.backend  # noqa: SLF001 - ophyd-async offers no public getter
            if isinstance(backend, MockSignalBackend) and isinstance(backend.initial_backend, DriverSignalBackend):
                backend.soft_backend.metadata.update(backend.initial_backend.metadata)
        else:
            _restore_mock_metadata(child)
