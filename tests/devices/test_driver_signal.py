"""The driver plumbing: ports, shared reads, driver-backed signals, commands, mock mode, monitors."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import pytest
from ophyd_async.core import Device, get_mock, init_devices, set_mock_value

from simslab.devices import (
    DriverCommand,
    close_drivers,
    DriverConnector,
    DriverPort,
    MonitorPolicy,
    NoDriverError,
    SharedRead,
    callback_on_mock_call,
    driver_signal_r,
    driver_signal_rw,
)
from simslab.errors import LimitError


@dataclass
class SlowDriver:
    """A blocking driver whose calls take real time; records threads and overlap."""

    blocking: bool = True
    name: str = "slow"
    delay_s: float = 0.02
    value: float = 1.0
    threads: list[str] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    connects: int = 0
    closes: int = 0
    writes: list[float] = field(default_factory=list)

    def connect(self) -> None:
        self.connects += 1

    def close(self) -> None:
        self.closes += 1

    def identify(self) -> str:
        return "slow"

    def work(self, index: int) -> int:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay_s)
        self.order.append(index)
        self.active -= 1
        return index

    def read(self) -> float:
        self.threads.append(threading.current_thread().name)
        return self.value

    def write(self, value: float) -> None:
        self.writes.append(value)


class Box(Device):
    """A minimal device over one driver: a value, a setpoint with limits 0-10, a command."""

    def __init__(self, driver, clock, name: str = "") -> None:
        port = DriverPort(driver, "box")
        self.value = driver_signal_r(float, port.reader(lambda d: d.read()), "box:read", clock, units="K")
        self.setpoint = driver_signal_rw(
            float, port.reader(lambda d: d.read()), port.writer(lambda d, v: d.write(v)), "box:setpoint", clock,
            units="K", validate=_check_0_to_10,
        )
        self.poke = DriverCommand(port, lambda d, index: d.work(index))
        super().__init__(name=name, connector=DriverConnector(port))


def _check_0_to_10(value: float) -> None:
    if not 0 <= value <= 10:
        raise LimitError("box", "setpoint_k", value, 0, 10, "K")


def test_blocking_calls_run_off_the_loop_one_at_a_time_in_order(run):
    driver = SlowDriver()
    port = DriverPort(driver, "slow")

    async def five_calls():
        return await asyncio.gather(*(port.call(lambda d, i=i: d.work(i)) for i in range(5)))

    assert run(five_calls()) == [0, 1, 2, 3, 4]
    assert driver.max_active == 1  # one call at a time on a port
    assert driver.order == [0, 1, 2, 3, 4]  # in the order they were made
    assert len(set(driver.threads)) == 1 and driver.threads[0] != threading.main_thread().name
    assert "bluesky" not in driver.threads[0]  # not the event loop's thread


def test_virtual_time_holds_while_a_blocking_call_is_in_flight(run, clock):
    driver = SlowDriver(delay_s=0.2)
    port = DriverPort(driver, "slow")

    async def call_beside_a_long_sleep():
        loop = asyncio.get_running_loop()
        sleeper = asyncio.ensure_future(asyncio.sleep(3600.0))
        started = loop.time()
        await port.call(lambda d: d.work(0))
        advanced = loop.time() - started
        done = sleeper.done()
        sleeper.cancel()
        return advanced, done

    advanced_s, sleeper_done = run(call_beside_a_long_sleep())
    # the 0.2 s of real I/O takes no virtual time: the hour-long sleep beside it does not run out
    assert advanced_s == 0.0
    assert not sleeper_done


def test_inline_driver_is_called_on_the_loop_thread(run):
    driver = SlowDriver(blocking=False, delay_s=0.0)
    port = DriverPort(driver, "inline")
    run(port.call(lambda d: d.read()))
    assert driver.threads == ["bluesky-run-engine"]


def test_shared_read_makes_one_call_for_concurrent_readers(run):
    calls = []

    @dataclass
    class Meter:
        blocking: bool = False

        def read(self):
            calls.append(1)
            return (2.5, 1e-6)

    shared = SharedRead(DriverPort(Meter(), "meter"), lambda d: d.read())
    voltage, current = shared.field(lambda m: m[0]), shared.field(lambda m: m[1])

    async def concurrent_then_again():
        together = await asyncio.gather(voltage(), current())
        again = await voltage()
        return together, again

    together, again = run(concurrent_then_again())
    assert together == [2.5, 1e-6] and again == 2.5
    assert len(calls) == 2  # one shared call for the pair, a new one afterwards


def test_real_connect_opens_the_driver_and_reads_through_it(run, clock):
    driver = SlowDriver(delay_s=0.0, value=4.0)
    box = Box(driver, clock, name="box")
    run(box.connect())
    assert driver.connects == 1
    reading = run(box.value.read())["box-value"]
    assert reading["value"] == 4.0
    assert reading["timestamp"] == pytest.approx(clock.now(), abs=1.0)  # session clock, not wall time
    assert run(box.value.describe())["box-value"]["units"] == "K"
    run(close_drivers(box))
    assert driver.closes == 1


def test_mock_mode_never_touches_the_driver_and_keeps_mock_values(RE, run, clock):
    driver = SlowDriver(delay_s=0.0, value=4.0)
    with init_devices(mock=True):
        box = Box(driver, clock)
    set_mock_value(box.value, 7.5)
    assert run(box.value.get_value()) == 7.5
    assert run(box.value.get_value()) == 7.5  # a second read does not overwrite the mock value
    assert run(box.value.describe())["box-value"]["units"] == "K"  # units survive mock mode
    run(box.poke.call(3))
    get_mock(box).poke.call.assert_called_once_with(3)
    assert driver.connects == 0 and driver.threads == [] and driver.writes == []


def test_mock_command_returns_what_the_callback_returns(RE, run, clock):
    with init_devices(mock=True):
        box = Box(None, clock)
    callback_on_mock_call(box.poke, lambda index: index * 10)
    assert run(box.poke.call(4)) == 40


def test_a_device_without_driver_refuses_a_real_connect(run, clock):
    box = Box(None, clock, name="box")
    with pytest.raises(NoDriverError, match="mock=True"):
        run(box.connect())


def test_validate_refuses_before_anything_is_written(run, clock):
    driver = SlowDriver(delay_s=0.0)
    box = Box(driver, clock, name="box")
    run(box.connect())
    with pytest.raises(LimitError, match="allowed 0 to 10 K"):
        run(lambda: box.setpoint.set(11.0))
    assert driver.writes == []
    run(lambda: box.setpoint.set(5.0))
    assert driver.writes == [5.0]


def test_monitor_deadband_keeps_a_slow_drift_to_a_few_events(run, clock):
    """An hour of polling every 10 s a value drifting 1e-4 per poll, deadband 0.01: ~4 events."""

    @dataclass
    class Drifting:
        blocking: bool = False
        reads: int = 0

        def read(self) -> float:
            self.reads += 1
            return 300.0 + 1e-4 * self.reads

    driver = Drifting()
    port = DriverPort(driver, "drift")
    signal = driver_signal_r(float, port.reader(lambda d: d.read()), "drift:read", clock, units="K",
                             monitor=MonitorPolicy(period_s=10.0, deadband=0.01))
    events: list[float] = []

    async def watch_an_hour():
        signal.set_name("drift")
        await signal.connect()
        def record(readings):
            events.append(readings["drift"]["value"])

        signal.subscribe_reading(record)
        await asyncio.sleep(3600.0)
        signal.clear_sub(record)

    run(watch_an_hour())
    assert 360 <= driver.reads <= 362  # one read per 10 s period over the hour
    # 0.036 K of drift in 0.01 K steps: the first value plus 3 crossings (exact count depends on rounding)
    assert 3 <= len(events) <= 5


def test_monitor_policy_rejects_a_zero_period():
    with pytest.raises(ValueError, match="period_s"):
        MonitorPolicy(period_s=0.0)
