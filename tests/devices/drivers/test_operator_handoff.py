"""The operator hand-off: transfer requests, confirmations, the persisted location, timeouts."""

from __future__ import annotations

import json
import time

import pytest

from simslab.clock import ManualClock
from simslab.devices.drivers.operator_handoff import (
    OperatorHandoff,
    TransferRequest,
    confirm_transfer,
    pending_requests,
)
from simslab.devices.drivers.protocols import SampleHandlerDriver
from simslab.devices.drivers.settings import OperatorHandoffSettings
from simslab.errors import InstrumentTimeout, ValidationError

START_S = 1.8e9


@pytest.fixture
def clock():
    return ManualClock(START_S)


def _settings(tmp_path, timeout_s=None) -> OperatorHandoffSettings:
    return OperatorHandoffSettings(kind="operator", handoff_dir=tmp_path / "handoff", timeout_s=timeout_s)


@pytest.fixture
def handler(tmp_path, clock):
    driver = OperatorHandoff(_settings(tmp_path, timeout_s=3600.0), now=clock.now)
    driver.connect()
    return driver


def test_the_driver_implements_the_sample_handler_protocol(handler):
    assert isinstance(handler, SampleHandlerDriver)
    assert handler.blocking


def test_a_request_writes_a_file_a_person_can_read(handler, tmp_path):
    handler.request_transfer("furnace", note="anneal step 3")
    (request,) = pending_requests(tmp_path / "handoff")
    document = json.loads((tmp_path / "handoff" / f"{request.request_id}.transfer.json").read_text())
    assert document == {"request_id": request.request_id, "destination": "furnace", "note": "anneal step 3",
                        "requested_s": START_S}


def test_in_transfer_until_confirmed_then_at_the_destination(handler, tmp_path, clock):
    assert handler.read_location() == "storage"  # nothing ever confirmed in this folder
    handler.request_transfer("cryo_stage")
    assert handler.read_location() == "in_transfer"
    assert handler.transfer_complete() is False
    clock.advance(120.0)
    confirmed = confirm_transfer(tmp_path / "handoff", now=clock.now)
    assert confirmed.destination == "cryo_stage"
    assert handler.transfer_complete() is True
    assert handler.read_location() == "cryo_stage"
    record = json.loads((tmp_path / "handoff" / f"{confirmed.request_id}.confirmed.json").read_text())
    assert record["confirmed_s"] == START_S + 120.0
    assert pending_requests(tmp_path / "handoff") == []


def test_a_restarted_process_knows_the_location_and_a_pending_request(handler, tmp_path, clock):
    handler.request_transfer("furnace")
    confirm_transfer(tmp_path / "handoff")
    handler.request_transfer("storage")
    restarted = OperatorHandoff(_settings(tmp_path), now=clock.now)
    restarted.connect()
    assert restarted.read_location() == "in_transfer"  # the request to storage is still open
    confirm_transfer(tmp_path / "handoff")
    assert restarted.transfer_complete() and restarted.read_location() == "storage"
    fresh = OperatorHandoff(_settings(tmp_path), now=clock.now)
    fresh.connect()
    assert fresh.read_location() == "storage" and fresh.transfer_complete()


def test_a_newer_request_replaces_a_pending_one(handler, tmp_path):
    handler.request_transfer("furnace")
    handler.request_transfer("exchange_bath")
    pending = pending_requests(tmp_path / "handoff")
    assert [r.destination for r in pending] == ["exchange_bath"]


def test_no_confirmation_within_the_timeout_raises_without_waiting(handler, clock):
    handler.request_transfer("furnace")
    clock.advance(3600.0)
    assert handler.transfer_complete() is False
    clock.advance(1.0)
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout, match=r"sample_handler: transfer to furnace not confirmed after 3601 s"):
        handler.transfer_complete()
    assert time.monotonic() - started < 0.1


def test_without_a_timeout_the_driver_waits_for_ever(tmp_path, clock):
    driver = OperatorHandoff(_settings(tmp_path), now=clock.now)
    driver.connect()
    driver.request_transfer("furnace")
    clock.advance(30 * 86400.0)
    assert driver.transfer_complete() is False


def test_an_unknown_location_is_refused_before_any_file_is_written(handler, tmp_path):
    with pytest.raises(ValidationError, match=r"location = 'oven' is not allowed: one of storage, exchange_bath"):
        handler.request_transfer("oven")
    assert list((tmp_path / "handoff").iterdir()) == []


def test_confirm_names_what_is_wrong(tmp_path):
    folder = tmp_path / "handoff"
    folder.mkdir()
    with pytest.raises(ValueError, match="no transfer is waiting"):
        confirm_transfer(folder)
    for request_id, destination in (("aaaa0001", "furnace"), ("aaaa0002", "storage")):
        request = TransferRequest(request_id, destination, "", START_S)
        (folder / f"{request_id}.transfer.json").write_text(json.dumps(request.__dict__))
    with pytest.raises(ValueError, match=r"several transfers are pending \(aaaa0001 \(furnace\), aaaa0002"):
        confirm_transfer(folder)
    with pytest.raises(ValueError, match="'zzzz' is not pending"):
        confirm_transfer(folder, "zzzz")
    assert confirm_transfer(folder, "aaaa0002").destination == "storage"
