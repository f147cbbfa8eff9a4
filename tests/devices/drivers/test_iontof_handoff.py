"""The IONTOF hand-off driver: request files, waiting for the export, reading it, timing out."""

from __future__ import annotations

import json
import sys
import time
import types
from dataclasses import replace

import numpy as np
import pytest

from simslab.clock import ManualClock
from simslab.devices.drivers.bif6 import encode_bif6, mass_window, write_bif6
from simslab.devices.drivers.iontof_handoff import (
    IontofHandoff,
    expected_duration_s,
    request_from_json,
    result_images,
)
from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult, Beam, MassChannel
from simslab.devices.drivers.settings import IontofHandoffSettings
from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout, ValidationError

O16 = MassChannel("16O-", 15.9949)
O18 = MassChannel("18O-", 17.9992)
BI = Beam("Bi1+", 30e3, 0.5e-12, (100e-6, 100e-6))
CS = Beam("Cs+", 2e3, 100e-9, (300e-6, 300e-6))
START_S = 1.8e9


def _request(**changes) -> AcquisitionRequest:
    request = AcquisitionRequest(kind="image", region="grain-A", masses=(O16, O18), primary=BI, pixels=(4, 3),
                                 integration_s=100.0, output_name="run7_map1")
    return replace(request, **changes)


@pytest.fixture
def clock():
    return ManualClock(START_S)


@pytest.fixture
def settings(tmp_path):
    (tmp_path / "results").mkdir()
    return IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "requests",
                                 result_dir=tmp_path / "results", timeout_s=600.0)


@pytest.fixture
def sims(settings, clock):
    driver = IontofHandoff(settings, now=clock.now)
    driver.connect()
    return driver


def _export(settings, name: str, counts: dict[MassChannel, np.ndarray]) -> None:
    write_bif6(settings.result_dir / f"{name}.bif6",
               [mass_window(channel, c, i + 1) for i, (channel, c) in enumerate(counts.items())])


def test_start_writes_the_request_document_and_returns_at_once(sims, settings):
    sims.start_acquisition(_request())
    path = settings.request_dir / "run7_map1.request.json"
    document = json.loads(path.read_text())
    assert document["format"] == "simslab-sims-request/1"
    assert document["result_file"] == "run7_map1.bif6"
    assert document["requested_s"] == START_S
    assert document["expected_duration_s"] == 100.0
    acquisition = document["acquisition"]
    assert acquisition["kind"] == "image" and acquisition["region"] == "grain-A"
    assert acquisition["pixels"] == [4, 3] and acquisition["integration_s"] == 100.0
    assert acquisition["masses"] == [{"label": "16O-", "mass_u": 15.9949}, {"label": "18O-", "mass_u": 17.9992}]
    assert acquisition["primary"] == {"species": "Bi1+", "energy_ev": 30e3, "current_a": 0.5e-12,
                                      "raster_m": [100e-6, 100e-6]}
    assert request_from_json(acquisition) == _request()
    assert document["summary"] == ("image of grain-A: 4x3 px over 100x100 um, Bi1+ 30 keV 0.5 pA, 100 s, "
                                   "masses 16O- (15.9949 u), 18O- (17.9992 u); export as run7_map1")
    assert [p.name for p in settings.request_dir.iterdir()] == ["run7_map1.request.json"]  # no temp files left


def test_running_until_the_export_is_complete_then_done(sims, settings, clock):
    sims.start_acquisition(_request())
    clock.advance(50.0)
    state = sims.read_acquisition()
    assert state.state == "running" and state.elapsed_s == 50.0
    counts = {O18: np.arange(12).reshape(3, 4), O16: np.full((3, 4), 7)}
    data = encode_bif6([mass_window(c, v, i) for i, (c, v) in enumerate(counts.items())])
    (settings.result_dir / "run7_map1.bif6").write_bytes(data[: len(data) // 2])  # an export still being written
    clock.advance(60.0)
    assert sims.read_acquisition().state == "running"
    (settings.result_dir / "run7_map1.bif6").write_bytes(data)
    clock.advance(10.0)
    state = sims.read_acquisition()
    assert state.state == "done" and state.elapsed_s == 120.0


def test_fetch_maps_images_to_labels_and_computes_the_primary_dose(sims, settings, clock):
    sims.start_acquisition(_request())
    counts = {O18: np.arange(12).reshape(3, 4), O16: np.full((3, 4), 7)}  # file order differs from request
    _export(settings, "run7_map1", counts)
    clock.advance(101.0)
    assert sims.read_acquisition().state == "done"
    result = sims.fetch_result()
    np.testing.assert_array_equal(result.counts["18O-"], counts[O18])
    np.testing.assert_array_equal(result.counts["16O-"], counts[O16])
    assert result.counts["16O-"].dtype == np.uint32
    # 0.5 pA x 100 s / e = 3.12e8 ions
    assert result.primary_ions == pytest.approx(0.5e-12 * 100.0 / 1.602176634e-19, rel=1e-12)
    assert (result.started_s, result.finished_s) == (START_S, START_S + 101.0)
    assert result.metadata["result_file"].endswith("run7_map1.bif6")


def test_sidecar_values_take_precedence(sims, settings, clock):
    sims.start_acquisition(_request(kind="depth_profile", masses=(O16,), sputter=CS, sputter_cycles=1,
                                    sputter_time_s=5.0))
    _export(settings, "run7_map1", {O16: np.ones((3, 4))})
    write = {"started_s": 1.0, "finished_s": 2.0, "primary_ions": 99.0, "depth_m": [0, 1e-9, 2e-9]}
    (settings.result_dir / "run7_map1.result.json").write_text(json.dumps(write))
    assert sims.read_acquisition().state == "done"
    result = sims.fetch_result()
    assert (result.started_s, result.finished_s, result.primary_ions) == (1.0, 2.0, 99.0)
    np.testing.assert_allclose(result.depth_m, [0, 1e-9, 2e-9])


@pytest.mark.parametrize(
    "kind, shape, changes",
    [("image", (3, 4), {}), ("line_scan", (4,), {"pixels": (4, 1)}),
     ("depth_profile", (5,), {"pixels": (1, 1), "sputter_cycles": 5}),
     ("depth_profile", (5, 3, 4), {"sputter_cycles": 5})],
)
def test_each_kind_comes_back_in_the_protocol_shape(sims, settings, clock, kind, shape, changes):
    request = _request(kind=kind, **changes)
    counts = {m.label: np.arange(int(np.prod(shape))).reshape(shape) + k for k, m in enumerate(request.masses)}
    exported = AcquisitionResult(counts=counts, primary_ions=1.0, started_s=0.0, finished_s=1.0)
    sims.start_acquisition(request)
    write_bif6(settings.result_dir / "run7_map1.bif6", result_images(request, exported))
    assert sims.read_acquisition().state == "done"
    result = sims.fetch_result()
    for label, original in counts.items():
        assert result.counts[label].shape == shape
        np.testing.assert_array_equal(result.counts[label], original)


def test_no_export_after_duration_plus_grace_is_a_timeout(sims, clock):
    sims.start_acquisition(_request())
    clock.advance(100.0 + 600.0)  # exactly at the deadline: still waiting
    assert sims.read_acquisition().state == "running"
    clock.advance(1.0)
    started = time.monotonic()
    with pytest.raises(InstrumentTimeout, match=r"iontof: no result after 701 s \(expected duration 100 s \+ 600 s"):
        sims.read_acquisition()
    assert time.monotonic() - started < 0.1  # it looks at the folder and answers, it never waits


def test_a_failure_report_ends_the_acquisition_as_failed(sims, settings):
    sims.start_acquisition(_request())
    (settings.result_dir / "run7_map1.failed.json").write_text(json.dumps({"message": "stage not at -110 C"}))
    state = sims.read_acquisition()
    assert (state.state, state.message) == ("failed", "stage not at -110 C")
    with pytest.raises(InstrumentError, match="no finished result to fetch"):
        sims.fetch_result()


def test_abort_writes_the_abort_request(sims, settings):
    sims.start_acquisition(_request())
    sims.abort()
    document = json.loads((settings.request_dir / "run7_map1.abort.json").read_text())
    assert document["abort"] == "run7_map1"
    assert sims.read_acquisition().state == "aborted"
    sims.abort()  # a second abort (safe state) does nothing and does not fail


def test_a_second_start_while_running_is_refused(sims):
    sims.start_acquisition(_request())
    with pytest.raises(InstrumentError, match="'run7_map1' is still running"):
        sims.start_acquisition(_request(output_name="run7_map2"))


def test_an_existing_result_of_the_same_name_is_refused(sims, settings):
    _export(settings, "run7_map1", {O16: np.ones((3, 4))})
    with pytest.raises(InstrumentError, match="exists already"):
        sims.start_acquisition(_request())
    assert not (settings.request_dir / "run7_map1.request.json").exists()


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
def test_an_output_name_that_is_not_a_plain_file_name_is_refused(sims, name):
    with pytest.raises(ValidationError, match="output_name"):
        sims.start_acquisition(_request(output_name=name))


def test_a_missing_mass_in_the_export_names_the_label(sims, settings):
    sims.start_acquisition(_request())
    _export(settings, "run7_map1", {O16: np.ones((3, 4))})
    assert sims.read_acquisition().state == "done"
    with pytest.raises(InstrumentError, match=r"no image for 18O- \(17\.9992 u\)"):
        sims.fetch_result()


def test_a_missing_result_folder_is_connection_lost(tmp_path):
    settings = IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "req",
                                     result_dir=tmp_path / "not-mounted")
    with pytest.raises(ConnectionLost, match="iontof: .*not-mounted"):
        IontofHandoff(settings).connect()


def test_expected_duration_counts_cleaning_sputtering_and_every_frame():
    request = _request(kind="depth_profile", sputter=CS, sputter_cycles=10, sputter_time_s=5.0,
                       cleaning=CS, cleaning_time_s=30.0, integration_s=20.0)
    assert expected_duration_s(request) == 30.0 + 10 * 5.0 + 10 * 20.0


def test_an_ita_result_is_read_through_pyspm_once_its_size_holds_still(tmp_path, clock, monkeypatch):
    (tmp_path / "results").mkdir()
    settings = IontofHandoffSettings(kind="iontof_handoff", request_dir=tmp_path / "requests",
                                     result_dir=tmp_path / "results", result_format="ita")
    asked = []

    class FakeITA:  # pySPM cannot write ITA files, and none ships with it
        def __init__(self, path):
            asked.append(path)

        def get_added_image_by_mass(self, mass, raw=False):
            return np.full((3, 4), mass * 10.0), ["ch"]

    monkeypatch.setitem(sys.modules, "pySPM", types.SimpleNamespace(ITA=FakeITA))
    sims = IontofHandoff(settings, now=clock.now)
    sims.start_acquisition(_request())
    (settings.result_dir / "run7_map1.ita").write_bytes(b"x" * 100)
    assert sims.read_acquisition().state == "running"  # first sighting: is it still growing?
    assert sims.read_acquisition().state == "done"
    result = sims.fetch_result()
    assert asked == [str(settings.result_dir / "run7_map1.ita")]
    assert result.counts["16O-"][0, 0] == round(15.9949 * 10)
