"""The sample handler: transfers complete when confirmed, unknown places are refused, timeouts."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import pytest
from bluesky.utils import FailedStatus
from ophyd_async.core import init_devices

from simslab.devices import SampleHandler
from simslab.devices.settings import SampleHandlerSettings
from simslab.errors import InstrumentError, InstrumentTimeout, ValidationError
from tests.devices.fakes import FakeSampleHandler

SETTINGS = SampleHandlerSettings(poll_s=5.0, timeout_s=600.0)


def make_handler(clock, run, settings: SampleHandlerSettings = SETTINGS, **fake):
    driver = FakeSampleHandler(clock, **fake)
    handler = SampleHandler(driver, settings, clock, name="sample_handler")
    run(handler.connect())
    return handler, driver


def test_transfer_completes_once_the_sample_has_arrived(RE, clock, run):
    handler, driver = make_handler(clock, run, transfer_s=120.0)
    start_s = clock.now()
    RE(bps.mv(handler, "furnace"))
    assert 120.0 <= clock.now() - start_s <= 120.0 + SETTINGS.poll_s  # confirmed at the next poll
    assert run(handler.location.get_value()) == "furnace"
    assert driver.writes == [("request_transfer", "furnace", "")]


def test_unknown_location_is_refused_before_anything_is_sent(RE, clock, run):
    handler, driver = make_handler(clock, run)
    with pytest.raises(FailedStatus) as failure:
        RE(bps.mv(handler, "glovebox"))
    error = failure.value.__cause__
    assert isinstance(error, ValidationError) and "storage, exchange_bath, cryo_stage, furnace" in str(error)
    assert driver.writes == []


def test_unconfirmed_transfer_times_out(clock, run):
    handler, _ = make_handler(clock, run, transfer_s=3600.0)
    start_s = clock.now()
    with pytest.raises(InstrumentTimeout, match="not confirmed within 600 s"):
        run(lambda: handler.set("cryo_stage"))
    assert clock.now() - start_s == pytest.approx(600.0, abs=1e-6)  # the last wait is cut to the timeout


def test_garbled_reply_fails_the_transfer_clearly(clock, run):
    handler, driver = make_handler(clock, run)
    driver.inject(InstrumentError("sample_handler", "transfer done?", "?", "garbled reply"), {"transfer_complete"})
    with pytest.raises(InstrumentError, match="garbled reply"):
        run(lambda: handler.set("exchange_bath"))


def test_note_reaches_the_operator(clock, run):
    handler, driver = make_handler(clock, run, transfer_s=10.0)
    run(lambda: handler.set("exchange_bath", note="dip the left edge 2 mm"))
    assert driver.writes == [("request_transfer", "exchange_bath", "dip the left edge 2 mm")]


def test_mock_handler_moves_at_once(RE, clock, run):
    with init_devices(mock=True):
        handler = SampleHandler(None, SETTINGS, clock)
    RE(bps.mv(handler, "cryo_stage"))
    docs = []
    RE(bp.count([handler]), lambda name, doc: docs.append((name, doc)))
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["handler-location"] == "cryo_stage"


def test_transfer_on_the_twin(RE, clock, run, twin, sim_profile):
    drivers = twin()
    with init_devices():
        handler = SampleHandler(drivers["sample_handler"], sim_profile().devices.sample_handler, clock)
    assert run(handler.location.get_value()) == "storage"
    start_s = clock.now()
    RE(bps.mv(handler, "cryo_stage"))
    assert clock.now() - start_s > 0  # a transfer takes time in the twin
    assert run(handler.location.get_value()) == "cryo_stage"
