"""The IONTOF folder peer on a virtual clock: the real hand-off driver end to end through BIF6."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

from simslab.clock import VirtualClock
from simslab.devices.drivers.iontof_handoff import IontofHandoff
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel
from simslab.devices.drivers.settings import IontofHandoffSettings
from simslab.errors import InstrumentTimeout
from simslab.simulators.peers.iontof_peer import start_iontof_peer
from tests.simulators.peers.backends import SimsBackend, expected_counts

START_S = 0.0
# Virtual clocks start at 0 here: at epoch-sized times (1e9 s) simslab.clock's loop spins on its
# first timer (asyncio's 1 ns clock resolution is below the float spacing there, ~2e-7 s).
POLL_S = 5.0
MASSES = (MassChannel("16O-", 15.9949), MassChannel("18O-", 17.9992))
BI = Beam("Bi1+", 30e3, 0.5e-12, (100e-6, 100e-6))
CS = Beam("Cs+", 2e3, 100e-9, (300e-6, 300e-6))
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}  # a quick twin


def _request(**changes) -> AcquisitionRequest:
    fields = dict(kind="image", region="grain-A", masses=MASSES, primary=BI, pixels=(6, 4), integration_s=3600.0,
                  output_name="map1")
    return AcquisitionRequest(**{**fields, **changes})


@pytest.fixture
def lab(tmp_path):
    """A virtual clock, the hand-off driver on it, and a stand-in SIMS behind the peer."""
    clock = VirtualClock(START_S)
    (tmp_path / "results").mkdir()
    settings = IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "requests",
                                     result_dir=tmp_path / "results", timeout_s=600.0)
    driver = IontofHandoff(settings, now=clock.now)
    driver.connect()
    backend = SimsBackend(now=clock.now)
    yield clock, driver, backend, settings
    clock.loop.close()


async def _wait_until_finished(driver: IontofHandoff, poll_s: float = 10.0):
    while (state := driver.read_acquisition()).state == "running":
        await asyncio.sleep(poll_s)
    return state


def test_an_hour_long_image_passes_in_virtual_time_and_arrives_as_the_backends_counts(lab):
    clock, driver, backend, settings = lab

    async def scenario():
        peer = start_iontof_peer(backend, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        request = _request()
        driver.start_acquisition(request)
        state = await _wait_until_finished(driver)
        peer.stop()
        return request, state, driver.fetch_result()

    wall = time.monotonic()
    request, state, result = clock.loop.run_until_complete(scenario())
    assert time.monotonic() - wall < 5.0  # an hour of acquisition costs no wall time
    assert state.state == "done"
    # done once the backend's hour is over, seen within one peer poll plus one driver poll
    assert 3600.0 <= state.elapsed_s <= 3600.0 + POLL_S + 10.0
    assert backend.started == ["map1"]
    for k, channel in enumerate(MASSES):
        np.testing.assert_array_equal(result.counts[channel.label], expected_counts(request, k))
    assert result.primary_ions == 1234.0  # from the peer's result.json, i.e. the backend's own count
    assert result.started_s == pytest.approx(START_S, abs=POLL_S)


def test_a_depth_profile_comes_back_frame_by_frame_with_its_depths(lab):
    clock, driver, backend, settings = lab
    request = _request(kind="depth_profile", pixels=(2, 2), sputter=CS, sputter_cycles=4, sputter_time_s=10.0,
                       integration_s=60.0, output_name="depth1")

    async def scenario():
        peer = start_iontof_peer(backend, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        driver.start_acquisition(request)
        await _wait_until_finished(driver)
        peer.stop()
        return driver.fetch_result()

    result = clock.loop.run_until_complete(scenario())
    for k, channel in enumerate(MASSES):
        np.testing.assert_array_equal(result.counts[channel.label], expected_counts(request, k))
    np.testing.assert_allclose(result.depth_m, [0, 1e-9, 2e-9, 3e-9])


def test_an_abort_reaches_the_backend(lab):
    clock, driver, backend, settings = lab

    async def scenario():
        peer = start_iontof_peer(backend, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        driver.start_acquisition(_request())
        await asyncio.sleep(100.0)
        driver.abort()
        await asyncio.sleep(2 * POLL_S)
        peer.stop()
        return peer

    peer = clock.loop.run_until_complete(scenario())
    assert backend.aborted and peer.finished == ["map1"]
    assert driver.read_acquisition().state == "aborted"
    assert not (settings.result_dir / "map1.bif6").exists()


def test_a_backend_refusal_comes_back_as_a_failed_acquisition(lab):
    clock, driver, _, settings = lab
    refusing = SimsBackend(now=clock.now, fail_with="stage not at imaging temperature")

    async def scenario():
        peer = start_iontof_peer(refusing, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        driver.start_acquisition(_request())
        state = await _wait_until_finished(driver)
        peer.stop()
        return state

    state = clock.loop.run_until_complete(scenario())
    assert state.state == "failed"
    assert "stage not at imaging temperature" in state.message


def test_a_spectrum_cannot_be_exported_as_bif6_and_says_so(lab):
    clock, driver, backend, settings = lab

    async def scenario():
        peer = start_iontof_peer(backend, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        driver.start_acquisition(_request(kind="spectrum", integration_s=10.0))
        state = await _wait_until_finished(driver)
        peer.stop()
        return state

    state = clock.loop.run_until_complete(scenario())
    assert state.state == "failed" and "spectrum cannot be exported as BIF6" in state.message
    document = json.loads((settings.result_dir / "map1.failed.json").read_text())
    assert "spectrum" in document["message"]


def test_without_a_peer_the_driver_times_out_on_the_virtual_clock(lab):
    clock, driver, _, _ = lab

    async def scenario():
        driver.start_acquisition(_request(integration_s=60.0))
        await _wait_until_finished(driver, poll_s=30.0)

    with pytest.raises(InstrumentTimeout, match="no result after"):
        clock.loop.run_until_complete(scenario())
    # the deadline is 60 s + 600 s of grace after the start, noticed at the next 30 s poll
    assert 660.0 < clock.now() - START_S <= 690.0


def test_in_front_of_the_twin_sims_an_image_arrives_through_bif6(tmp_path, twin_params):
    """The lab-on-twin mode: the hand-off driver, the folder peer and the twin's SIMS, on one virtual loop."""
    from simslab.simulators.lab import SimulatedLab
    from simslab.simulators.twin_drivers import TwinSims

    clock = VirtualClock(0.0)
    twin = TwinSims(SimulatedLab(twin_params(**SMALL_SAMPLE), clock))
    twin.connect()
    (tmp_path / "results").mkdir()
    settings = IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "requests",
                                     result_dir=tmp_path / "results", timeout_s=600.0)
    driver = IontofHandoff(settings, now=clock.now)
    driver.connect()
    request = AcquisitionRequest(kind="image", region="cathode", masses=(MassChannel("6Li+", 6.015),
                                 MassChannel("58Ni+", 57.935)), primary=Beam("Bi+", 30e3, 0.5e-12, (80e-6, 30e-6)),
                                 pixels=(40, 15), integration_s=800.0, output_name="cathode")

    async def scenario():
        peer = start_iontof_peer(twin, settings.request_dir, settings.result_dir, poll_s=POLL_S)
        driver.start_acquisition(request)
        state = await _wait_until_finished(driver)
        peer.stop()
        return state, driver.fetch_result(), twin.fetch_result()

    try:
        state, result, truth = clock.loop.run_until_complete(scenario())
    finally:
        clock.loop.close()
    assert state.state == "done" and 800.0 <= state.elapsed_s <= 800.0 + POLL_S + 10.0
    for label in ("6Li+", "58Ni+"):
        assert result.counts[label].shape == (15, 40)
        np.testing.assert_array_equal(result.counts[label], truth.counts[label])  # bit-identical through BIF6
    assert result.primary_ions == pytest.approx(truth.primary_ions, rel=1e-12)
