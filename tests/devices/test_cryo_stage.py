"""The cryo stage: settling with a dwell, limits before writes, faults to the safe state, mock and twin."""

from __future__ import annotations

import asyncio

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from simslab.devices import CryoStage, SettleTimeout, StoppedError, close_drivers
from simslab.devices.settings import CryoStageSettings, SettleCriteria
from simslab.errors import InstrumentError, InstrumentTimeout, LimitError
from tests.devices.fakes import FakeLevelMeter, FakeTemperatureController

SETTLE = SettleCriteria(tolerance_k=0.5, dwell_s=120.0, poll_s=10.0, timeout_s=3 * 3600.0)


def make_stage(clock, run, settings: CryoStageSettings | None = None, **fake):
    driver = FakeTemperatureController(clock, **fake)
    level = FakeLevelMeter(clock)
    stage = CryoStage(driver, settings or CryoStageSettings(settle=SETTLE), clock, level_meter=level, name="stage")
    run(stage.connect())
    return stage, driver, level


def setpoint_writes(driver) -> list[float]:
    return [w[1] for w in driver.writes if w[0] == "set_setpoint_k"]


def test_settle_waits_for_the_whole_dwell(clock, run):
    # a stage already at its setpoint: only the dwell remains to wait
    stage, driver, _ = make_stage(clock, run)
    start_s = clock.now()
    run(lambda: stage.set(295.15))
    waited_s = clock.now() - start_s
    # at least the dwell; at most one poll more (the dwell is checked at each poll)
    assert SETTLE.dwell_s <= waited_s <= SETTLE.dwell_s + SETTLE.poll_s


def test_settle_restarts_the_dwell_after_a_break(clock, run):
    stage, driver, _ = make_stage(clock, run)

    async def heater_fault_mid_dwell():
        status = stage.set(295.15)
        await asyncio.sleep(60.0)  # half the dwell in: the heater reports an error for 30 s
        driver.heater_error = 3
        await asyncio.sleep(30.0)
        driver.heater_error = 0
        started_again_s = clock.now()
        await status
        return clock.now() - started_again_s

    after_break_s = run(heater_fault_mid_dwell())
    # the whole dwell is served again once the error has cleared (within one poll)
    assert SETTLE.dwell_s - SETTLE.poll_s <= after_break_s <= SETTLE.dwell_s + SETTLE.poll_s


def test_cooling_to_the_imaging_temperature_under_a_run_engine(RE, clock, run):
    stage, driver, _ = make_stage(clock, run)
    start_s = clock.now()
    RE(bps.mv(stage, 163.15))
    # 132 K at the 0.5 K/s ramp limit is 264 s, plus a few 60 s time constants and the dwell
    assert 264 + SETTLE.dwell_s <= clock.now() - start_s <= 3600
    assert driver.model.ramp_k_per_s == 0.5  # ramp was off: set to the profile's limit first
    docs = []
    RE(bp.count([stage]), lambda name, doc: docs.append((name, doc)))
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["stage-temperature"] == pytest.approx(163.15, abs=SETTLE.tolerance_k)
    assert event["data"]["stage-at_imaging_temperature"] is True
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    assert all("units" in key for key in descriptor["data_keys"].values())
    assert descriptor["data_keys"]["stage-temperature"]["units"] == "K"
    assert event["timestamps"]["stage-temperature"] == pytest.approx(clock.now(), abs=1.0)  # virtual time
    assert run(stage.is_at_imaging_temperature())


@pytest.mark.parametrize("setpoint_k", [500.0, 50.0, float("nan")])
def test_setpoint_outside_the_limits_is_refused_before_any_write(RE, clock, run, setpoint_k):
    stage, driver, _ = make_stage(clock, run)
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(stage, setpoint_k))
    error = failure.value.__cause__
    assert isinstance(error, LimitError)
    assert "allowed 100 to 400 K" in str(error) and "setpoint_k" in str(error)
    assert driver.writes == []


def test_direct_signal_writes_are_checked_too(clock, run):
    stage, driver, _ = make_stage(clock, run)
    with pytest.raises(LimitError, match="ramp_k_per_s"):
        run(lambda: stage.ramp_rate.set(2.0))
    with pytest.raises(LimitError, match="setpoint_k"):
        run(lambda: stage.setpoint.set(401.0))
    assert driver.writes == []


@pytest.mark.parametrize(
    "fault",
    [
        InstrumentTimeout("stage", "RAMPST? 1", None, "no reply within 2 s"),
        InstrumentError("stage", "HTR? 1", "+0#4.1", "garbled reply"),
    ],
)
def test_driver_fault_fails_clearly_and_holds_the_stage(clock, run, fault):
    stage, driver, _ = make_stage(clock, run)
    driver.inject(fault, {"is_ramping", "read_heater_fraction"}, times=1)
    start_s = clock.now()
    with pytest.raises(type(fault), match=fault.problem):
        run(lambda: stage.set(200.0))
    assert clock.now() - start_s <= SETTLE.poll_s  # surfaced at the first poll, not at the settle timeout
    # safe state "hold": the last setpoint written is the temperature at the time of the fault
    assert setpoint_writes(driver)[-1] == pytest.approx(driver.model.temperature_k, abs=1.0)
    assert setpoint_writes(driver)[-1] > 290.0


def test_safe_state_warm_sets_the_warm_temperature(clock, run):
    settings = CryoStageSettings(settle=SETTLE, safe_state="warm")
    stage, driver, _ = make_stage(clock, run, settings)
    run(stage.safe_state())
    assert setpoint_writes(driver) == [settings.warm_temperature_k]


def test_settle_times_out_with_the_heater_pinned(clock, run):
    settings = CryoStageSettings(settle=SETTLE.model_copy(update={"timeout_s": 1800.0}))
    stage, driver, _ = make_stage(clock, run, settings, heater_fraction_override=1.0)
    start_s = clock.now()
    with pytest.raises(SettleTimeout, match="heater pinned at 100 %"):
        run(lambda: stage.set(250.0))
    assert 1800.0 <= clock.now() - start_s <= 1800.0 + SETTLE.poll_s


def test_stop_holds_at_the_present_temperature(clock, run):
    stage, driver, _ = make_stage(clock, run)

    async def stop_mid_ramp():
        status = stage.set(150.0)
        await asyncio.sleep(100.0)  # mid-ramp at 0.5 K/s
        await stage.stop(success=False)
        try:
            await status
        except StoppedError:
            return "stopped"
        return "completed"

    assert run(stop_mid_ramp()) == "stopped"
    held_k = setpoint_writes(driver)[-1]
    assert 150.0 < held_k < 295.0  # neither the old nor the requested setpoint
    assert held_k == pytest.approx(driver.model.temperature_k, abs=0.5)


def test_low_ln2_level_reads_as_cooling_not_ok(clock, run):
    stage, _, level = make_stage(clock, run)
    assert run(stage.cooling_ok.get_value()) is True
    level.level_fraction = 0.01  # below the profile's 0.05
    assert run(stage.cooling_ok.get_value()) is False


def test_mock_stage_moves_under_a_run_engine(RE, clock, run):
    with init_devices(mock=True):
        stage = CryoStage(None, CryoStageSettings(settle=SETTLE), clock)
    RE(bps.mv(stage, 163.15))
    assert run(stage.temperature.get_value()) == 163.15
    assert run(stage.is_at_imaging_temperature())
    assert run(stage.describe())["stage-temperature"]["units"] == "K"


def test_stage_on_the_twin_reaches_the_imaging_temperature(RE, clock, run, twin, sim_profile):
    drivers = twin()
    with init_devices():
        stage = CryoStage(drivers["stage"], sim_profile().devices.stage, clock, level_meter=drivers["level_meter"])
    start_s = clock.now()
    RE(bps.mv(stage, 163.15))
    assert clock.now() - start_s < 4 * 3600  # LN2 cooling from room temperature takes tens of minutes
    docs = []
    RE(bp.count([stage]), lambda name, doc: docs.append((name, doc)))
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["stage-temperature"] == pytest.approx(163.15, abs=0.5)  # profile tolerance
    assert event["data"]["stage-at_imaging_temperature"] is True
    assert event["data"]["stage-cooling_ok"] is True


def test_twin_timeout_fails_the_move_and_holds(RE, clock, run, twin, sim_profile):
    drivers = twin(faults=[{"kind": "instrument_timeout", "device": "stage", "at_s": 300.0}])
    settings = sim_profile().devices.stage
    with init_devices():
        stage = CryoStage(drivers["stage"], settings, clock, level_meter=drivers["level_meter"])
    start_s = clock.now()
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(stage, 163.15))
    assert isinstance(failure.value.__cause__, InstrumentTimeout)
    assert clock.now() - start_s <= 300.0 + settings.settle.poll_s  # surfaced at the first poll after the fault
    target_k = drivers["lab"].stage.state_at(clock.now()).target_setpoint_k
    # holding where the stage was (the controller's target), not cooling on to 163.15 K
    assert target_k == pytest.approx(run(stage.temperature.get_value()), abs=1.0)
    assert target_k > 163.15 + 10


def test_stage_on_the_real_lakeshore_driver_through_a_protocol_peer(RE, clock, run, twin, sim_profile):
    """The same device on the real Lake Shore driver (blocking VISA I/O off the loop), talking over
    TCP to a Lake Shore peer whose physics is the twin's stage."""
    peers = pytest.importorskip("simslab.simulators.peers")
    lakeshore = pytest.importorskip("simslab.devices.drivers.lakeshore")
    from simslab.devices.drivers.settings import LakeShoreSettings

    drivers = twin()
    drivers["stage"].connect()
    server = peers.start_lakeshore_peer(drivers["stage"], transport="tcp")
    try:
        real = lakeshore.LakeShore33x(LakeShoreSettings(kind="lakeshore336", resource=server.resource))
        with init_devices():
            stage = CryoStage(real, sim_profile().devices.stage, clock, level_meter=drivers["level_meter"])
        RE(bps.mv(stage, 163.15))
        docs = []
        RE(bp.count([stage]), lambda name, doc: docs.append((name, doc)))
    finally:
        run(close_drivers(stage))
        server.close()
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["stage-temperature"] == pytest.approx(163.15, abs=0.5)  # profile tolerance
    assert event["data"]["stage-setpoint"] == 163.15
    assert real.blocking


def test_monitored_temperature_follows_the_profile_deadband(clock, run):
    """A 10 K relaxation (time constant 10 min) watched for an hour: events step by the profile's deadband."""

    def watch(deadband_k: float) -> list[float]:
        settings = CryoStageSettings(settle=SETTLE, monitor_deadband_k=deadband_k, monitor_period_s=7200.0)
        stage, driver, _ = make_stage(clock, run, settings, time_constant_s=600.0)
        driver.set_setpoint_k(285.15)
        values: list[float] = []

        async def an_hour():
            def record(readings):
                values.append(readings["stage-temperature"]["value"])

            stage.temperature.subscribe_reading(record)
            await asyncio.sleep(3600.0)
            stage.temperature.clear_sub(record)

        run(an_hour())
        return values

    fine, coarse = watch(0.01), watch(0.5)
    # 0.5 K steps over ~9.98 K (1 - e^-6 of 10 K): the first value plus 18-20 crossings
    assert 17 <= len(coarse) <= 21
    assert all(abs(b - a) > 0.5 for a, b in zip(coarse, coarse[1:]))
    # 0.01 K: every 10 s poll while the change per poll exceeds 0.01 K (the first ~40 min), then crossings
    assert len(fine) > 5 * len(coarse)
