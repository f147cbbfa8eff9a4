"""One driver call per device read: SharedRead.sharing, and the cryo stage's derived signals."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import bluesky.plans as bp
import pytest

from simslab.devices import CryoStage
from simslab.devices.driver_port import DriverPort, SharedRead
from simslab.devices.settings import CryoStageSettings
from tests.devices.fakes import FakeLevelMeter, FakeTemperatureController


@dataclass
class Meter:
    """A driver whose reading goes up by one per call; ``fail`` makes the next call raise."""

    blocking: bool = False
    calls: list[int] = field(default_factory=list)
    fail: bool = False

    def read(self) -> int:
        self.calls.append(len(self.calls))
        if self.fail:
            self.fail = False
            raise OSError("garbled")
        return len(self.calls)


@pytest.mark.parametrize("blocking", [False, True])
def test_a_value_read_inside_sharing_serves_every_reader_until_the_block_ends(run, blocking):
    meter = Meter(blocking=blocking)
    shared = SharedRead(DriverPort(meter, "meter"), lambda d: d.read())

    async def readers_in_and_after_a_block():
        with shared.sharing():
            together = await asyncio.gather(shared.get(), shared.get())
            later = await shared.get()  # after the call answered, still inside the block
        after = await shared.get()
        return together, later, after

    together, later, after = run(readers_in_and_after_a_block())
    assert together == [1, 1] and later == 1  # one call inside the block
    assert after == 2  # outside it, a new call
    assert len(meter.calls) == 2


def test_an_error_inside_sharing_is_not_kept(run):
    meter = Meter(fail=True)
    shared = SharedRead(DriverPort(meter, "meter"), lambda d: d.read())

    async def retry_in_one_block():
        with shared.sharing():
            with pytest.raises(OSError):
                await shared.get()
            return await shared.get()

    assert run(retry_in_one_block()) == 2  # the retry asked the driver again


@pytest.mark.parametrize("blocking", [False, True])
def test_a_stage_event_reads_temperature_and_level_once(RE, clock, run, blocking):
    driver = FakeTemperatureController(clock, blocking=blocking)
    level = FakeLevelMeter(clock, blocking=blocking)
    stage = CryoStage(driver, CryoStageSettings(), clock, level_meter=level, name="stage")
    run(stage.connect())

    def calls_of_a_run(events: int) -> tuple[int, int, list[dict]]:
        driver.calls.clear(), level.calls.clear()
        docs = []
        RE(bp.count([stage], num=events), lambda name, doc: docs.append((name, doc)))
        events_read = [doc for name, doc in docs if name == "event"]
        assert len(events_read) == events
        return driver.calls.count("read_temperature_k"), level.calls.count("read_level_fraction"), events_read

    one_temperature, one_level, _ = calls_of_a_run(1)
    four_temperature, four_level, events = calls_of_a_run(4)
    # at_imaging_temperature derives from the temperature, cooling_ok from the level: one call each
    # per event (a run also describes the derived signals once, which reads their sources)
    assert four_temperature - one_temperature == 3
    assert four_level - one_level == 3
    for event in events:  # and the derived values agree with the readings of the same event
        temperature_k = event["data"]["stage-temperature"]
        target_k, tolerance_k = stage.settings.imaging_temperature_k, stage.settings.imaging_tolerance_k
        assert event["data"]["stage-at_imaging_temperature"] is (abs(temperature_k - target_k) <= tolerance_k)
        assert event["data"]["stage-cooling_ok"] is (
            event["data"]["stage-ln2_level"] >= stage.settings.min_ln2_level_fraction)


def test_separate_reads_of_the_stage_ask_the_driver_again(clock, run):
    driver = FakeTemperatureController(clock)
    level = FakeLevelMeter(clock)
    stage = CryoStage(driver, CryoStageSettings(), clock, level_meter=level, name="stage")
    run(stage.connect())
    assert run(stage.cooling_ok.get_value()) is True
    level.level_fraction = 0.01  # the level falls with the clock standing still: a new read sees it
    assert run(stage.cooling_ok.get_value()) is False
    assert run(stage.read())["stage-cooling_ok"]["value"] is False

