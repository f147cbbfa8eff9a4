"""The annealing furnace: settling, limits, the software over-temperature trip, broken thermocouples."""

from __future__ import annotations

import asyncio

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from simslab.devices import AnnealingFurnace
from simslab.devices.settings import FurnaceSettings, SettleCriteria
from simslab.errors import InstrumentError, InterlockError, LimitError, SensorFault
from tests.devices.fakes import FakeFurnace

SETTLE = SettleCriteria(tolerance_k=2.0, dwell_s=300.0, poll_s=30.0, timeout_s=6 * 3600.0)
SETTINGS = FurnaceSettings(settle=SETTLE, watchdog_period_s=10.0)  # limits 293.15-673.15 K, trip 683.15 K


def make_furnace(clock, run, settings: FurnaceSettings = SETTINGS, **fake):
    driver = FakeFurnace(clock, **fake)
    furnace = AnnealingFurnace(driver, settings, clock, name="furnace")
    run(furnace.connect())
    return furnace, driver


def test_furnace_settles_at_an_anneal_temperature(RE, clock, run):
    furnace, driver = make_furnace(clock, run)
    start_s = clock.now()
    RE(bps.mv(furnace, 473.15))
    # 178 K at the 0.2 K/s ramp limit is 890 s, plus the lag (60 s time constant) and the 300 s dwell
    assert 890 + SETTLE.dwell_s <= clock.now() - start_s <= 2 * 3600
    assert driver.automatic and driver.model.ramp_k_per_s == 0.2
    docs = []
    RE(bp.count([furnace]), lambda name, doc: docs.append((name, doc)))
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["furnace-temperature"] == pytest.approx(473.15, abs=SETTLE.tolerance_k)
    assert event["data"]["furnace-tripped"] is False
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    assert all("units" in key for key in descriptor["data_keys"].values())
    assert descriptor["configuration"]["furnace"]["data"]["furnace-over_temperature"] == 683.15
    run(furnace.safe_state())


def test_setpoint_above_the_limit_is_refused_before_any_write(RE, clock, run):
    furnace, driver = make_furnace(clock, run)
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(furnace, 700.0))
    assert isinstance(failure.value.__cause__, LimitError)
    assert "allowed 293.15 to 673.15 K" in str(failure.value.__cause__)
    assert driver.writes == []


def test_overshoot_above_the_trip_switches_the_output_off(clock, run):
    # the controller overshoots by 20 K: at a 670 K setpoint the process value passes 683.15 K
    furnace, driver = make_furnace(clock, run, overshoot_k=20.0)
    with pytest.raises(InterlockError, match="over_temperature_k 683.1"):
        run(lambda: furnace.set(670.0))
    assert not driver.automatic  # output off
    assert run(furnace.tripped.get_value()) is True
    with pytest.raises(InterlockError, match="trip latched"):
        run(lambda: furnace.set(400.0))
    assert [w for w in driver.writes if w[0] == "set_setpoint_k"] == [("set_setpoint_k", 670.0)]


def test_watchdog_trips_while_holding_after_the_move(clock, run):
    furnace, driver = make_furnace(clock, run)
    run(lambda: furnace.set(600.0))
    driver.overshoot_k = 100.0  # the controller runs away during the hold
    run(asyncio.sleep(SETTINGS.watchdog_period_s + 1.0))
    assert not driver.automatic  # switched off within one watchdog period
    assert run(furnace.tripped.get_value()) is True
    driver.overshoot_k = 0.0
    run(asyncio.sleep(3600.0))  # cooled below the trip level
    run(furnace.reset_trip())
    assert run(furnace.tripped.get_value()) is False
    assert ("acknowledge_alarms",) in driver.writes


def test_broken_thermocouple_is_an_error_not_a_reading(RE, clock, run):
    furnace, driver = make_furnace(clock, run)

    async def break_mid_ramp():
        status = furnace.set(500.0)
        await asyncio.sleep(200.0)
        driver.sensor_break = True
        await asyncio.wait([status.task])
        return status.exception()

    error = run(break_mid_ramp())
    assert isinstance(error, SensorFault) and "thermocouple" in str(error)
    assert not driver.automatic  # output off
    with pytest.raises(SensorFault):
        run(furnace.read())


def test_garbled_reply_fails_the_move_and_switches_the_output_off(clock, run):
    furnace, driver = make_furnace(clock, run)
    driver.inject(InstrumentError("furnace", "read register 5", "\x01\x83\x02", "garbled reply"),
                  {"read_working_setpoint_k"}, times=1)
    start_s = clock.now()
    with pytest.raises(InstrumentError, match="garbled reply"):
        run(lambda: furnace.set(450.0))
    assert clock.now() - start_s <= SETTLE.poll_s
    assert not driver.automatic and driver.writes[-1] == ("switch_output_off",)


def test_stop_holds_at_the_working_setpoint(clock, run):
    furnace, driver = make_furnace(clock, run)

    async def stop_mid_ramp():
        status = furnace.set(600.0)
        await asyncio.sleep(500.0)  # 100 K up the 0.2 K/s ramp
        await furnace.stop(success=True)
        await status  # success=True: the move ends without an error

    run(stop_mid_ramp())
    held_k = driver.writes[-1][1]
    assert driver.writes[-1][0] == "set_setpoint_k"
    assert held_k == pytest.approx(295.15 + 0.2 * 500.0, abs=1.0)  # the working setpoint when stopped
    assert driver.automatic  # a stop is not the safe state: the furnace holds


def test_mock_furnace_moves_under_a_run_engine(RE, clock, run):
    with init_devices(mock=True):
        furnace = AnnealingFurnace(None, SETTINGS, clock)
    RE(bps.mv(furnace, 473.15))
    assert run(furnace.temperature.get_value()) == 473.15
    assert run(furnace.automatic.get_value()) is True
    run(furnace.safe_state())
    assert run(furnace.automatic.get_value()) is False


def test_furnace_on_the_twin_settles_and_trips_on_a_thermocouple_break(RE, clock, run, twin, sim_profile):
    drivers = twin(faults=[{"kind": "thermocouple_break", "device": "furnace", "at_s": 2 * 3600.0}])
    settings = sim_profile().devices.furnace
    with init_devices():
        furnace = AnnealingFurnace(drivers["furnace"], settings, clock)
    RE(bps.mv(furnace, 473.15))
    assert run(furnace.temperature.get_value()) == pytest.approx(473.15, abs=settings.settle.tolerance_k)
    run(asyncio.sleep(3 * 3600.0))  # the anneal hold, during which the thermocouple breaks
    assert run(furnace.tripped.get_value()) is True
    assert run(furnace.automatic.get_value()) is False  # the watchdog switched the output off
    with pytest.raises(SensorFault):
        run(furnace.temperature.get_value())
