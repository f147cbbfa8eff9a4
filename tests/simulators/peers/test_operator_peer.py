"""The operator peer on a virtual clock: it carries out transfers on its backend and confirms them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from simslab.clock import VirtualClock
from simslab.devices.drivers.operator_handoff import OperatorHandoff, pending_requests
from simslab.devices.drivers.settings import OperatorHandoffSettings
from simslab.simulators.peers.operator_peer import start_operator_peer
from tests.simulators.peers.backends import SampleHandlerBackend

# Virtual clocks start at 0 here: see test_iontof_peer.py (simslab.clock spins at epoch times).
POLL_S = 10.0
TRANSFER_S = 300.0


@pytest.fixture
def lab(tmp_path):
    clock = VirtualClock(0.0)
    settings = OperatorHandoffSettings(kind="operator", handoff_dir=tmp_path / "handoff", timeout_s=3600.0)
    driver = OperatorHandoff(settings, now=clock.now)
    driver.connect()
    backend = SampleHandlerBackend(now=clock.now, transfer_s=TRANSFER_S)
    yield clock, driver, backend, settings
    clock.loop.close()


async def _wait_for_transfer(driver: OperatorHandoff, poll_s: float = 5.0) -> None:
    while not driver.transfer_complete():
        await asyncio.sleep(poll_s)


def test_a_transfer_is_carried_out_by_the_backend_and_confirmed_in_virtual_time(lab):
    clock, driver, backend, settings = lab

    async def scenario():
        peer = start_operator_peer(backend, settings.handoff_dir, poll_s=POLL_S)
        driver.request_transfer("furnace", note="anneal at 400 C")
        await asyncio.sleep(1.0)
        during = driver.read_location()
        await _wait_for_transfer(driver)
        peer.stop()
        return peer, during

    wall = time.monotonic()
    peer, during = clock.loop.run_until_complete(scenario())
    assert time.monotonic() - wall < 5.0
    assert during == "in_transfer"
    assert backend.requests == [("furnace", "anneal at 400 C")]
    assert driver.read_location() == "furnace" and backend.location == "furnace"
    (confirmed_id,) = peer.confirmed
    record = json.loads((settings.handoff_dir / f"{confirmed_id}.confirmed.json").read_text())
    # the backend needs 300 s; the peer sees it done at its next poll, dated on the virtual clock
    assert TRANSFER_S <= record["confirmed_s"] <= TRANSFER_S + POLL_S
    assert TRANSFER_S <= clock.now() <= TRANSFER_S + POLL_S + 5.0


def test_a_request_replaced_mid_way_is_redirected_on_the_backend(lab):
    clock, driver, backend, settings = lab

    async def scenario():
        peer = start_operator_peer(backend, settings.handoff_dir, poll_s=POLL_S)
        driver.request_transfer("furnace")
        await asyncio.sleep(100.0)
        driver.request_transfer("storage")
        await _wait_for_transfer(driver)
        peer.stop()

    clock.loop.run_until_complete(scenario())
    assert [destination for destination, _ in backend.requests] == ["furnace", "storage"]
    assert driver.read_location() == "storage"
    assert pending_requests(settings.handoff_dir) == []


def test_in_front_of_the_twin_sample_handler_the_sample_arrives(tmp_path, twin_params):
    """The lab-on-twin mode: the operator hand-off, the peer and the twin's sample handler."""
    from simslab.simulators.lab import SimulatedLab
    from simslab.simulators.twin_drivers import TwinSampleHandler

    clock = VirtualClock(0.0)
    lab = SimulatedLab(twin_params(sample={"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}), clock)
    twin = TwinSampleHandler(lab)
    twin.connect()
    settings = OperatorHandoffSettings(kind="operator", handoff_dir=tmp_path / "handoff", timeout_s=3600.0)
    driver = OperatorHandoff(settings, now=clock.now)
    driver.connect()

    async def scenario():
        peer = start_operator_peer(twin, settings.handoff_dir, poll_s=POLL_S)
        driver.request_transfer("furnace")
        await _wait_for_transfer(driver)
        peer.stop()

    try:
        clock.loop.run_until_complete(scenario())
    finally:
        clock.loop.close()
    assert driver.read_location() == "furnace" == twin.read_location()
    assert lab.location_history()[-1][1] == "furnace"
