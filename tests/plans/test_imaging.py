"""SIMS acquisition plans: published defaults, one stream and file per kind, any bluesky detector."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import h5py
import pytest
from bluesky import RunEngine
from ophyd.sim import det

from simslab import plans
from simslab.errors import InterlockError
from simslab.plans import CRYO_IMAGE, CRYO_LINE_SCAN, ImagingInterlock, expected_dose_ions_per_m2

from .sessions import SMALL_IMAGE, SMALL_LINE_SCAN, DocumentLog


def test_published_imaging_settings_are_the_defaults():
    assert (CRYO_IMAGE.primary.species, CRYO_IMAGE.primary.energy_ev, CRYO_IMAGE.primary.current_a) == (
        "Bi+", 30e3, 0.5e-12)
    assert CRYO_IMAGE.primary.raster_m == (500e-6, 200e-6) and CRYO_IMAGE.pixels == (512, 206)
    assert CRYO_IMAGE.integration_s == 5 * 3600
    assert [m.label for m in CRYO_IMAGE.masses] == ["6Li+", "7Li+"]
    assert (CRYO_LINE_SCAN.sputter.species, CRYO_LINE_SCAN.sputter.energy_ev) == ("Cs+", 2e3)
    # 0.5 pA for 5 h over 500 x 200 um: 0.5e-12 * 18000 / 1.602e-19 / 1e-7 m^2 = 5.6e17 ions/m^2
    assert expected_dose_ions_per_m2(CRYO_IMAGE) == pytest.approx(5.62e17, rel=1e-3)


def test_a_classic_ophyd_detector_images_with_the_plan():
    """The plans rely on bluesky's protocols only: ophyd.sim.det takes an image run with md merged in."""
    engine = RunEngine(context_managers=[])
    docs = DocumentLog()
    engine.subscribe(docs)
    engine(plans.sims_image(det, acquisition=None, num=2, md={"sample": {"id": "S1"}, "operator": "test"}))
    start = docs.of("start")[-1]
    assert start["plan_name"] == "sims_image" and start["sample"] == {"id": "S1"} and start["operator"] == "test"
    events = docs.streams()["image"]
    assert len(events) == 2 and "det" in events[0]["data"]
    assert docs.stop_of()["exit_status"] == "success"


def test_image_and_line_scan_go_to_their_own_streams_and_files(session, docs):
    d = session.devices
    interlock = ImagingInterlock.for_stage(d["stage"])
    session.RE(bps.mv(d["sample_handler"], "cryo_stage"))
    session.RE(bps.mv(d["stage"], 163.15))

    def both():
        yield from bps.open_run(md={"plan_name": "test"})
        yield from plans.acquisition_block(d["sims"], SMALL_IMAGE, "image", interlock=interlock)
        yield from plans.acquisition_block(d["sims"], SMALL_LINE_SCAN, "line_scan", interlock=interlock)
        yield from bps.close_run()

    session.RE(both())
    descriptors = {doc["name"]: doc for doc in docs.of("descriptor")}
    assert descriptors["image"]["data_keys"]["sims-Li6"]["shape"] == [32, 64]  # (y, x)
    assert descriptors["line_scan"]["data_keys"]["sims-Li6"]["shape"] == [64]
    # each kind's descriptor records the configuration it was taken with
    config = descriptors["line_scan"]["configuration"]["sims"]["data"]
    assert config["sims-kind"] == "line_scan" and config["sims-sputter_species"] == "Cs+"
    files = {doc["uri"] for doc in docs.of("stream_resource")}
    assert len(files) == 2  # one HDF5 file per kind
    with h5py.File(next(iter(files)).removeprefix("file://localhost"), "r") as h5:
        assert any(key.startswith(("image_", "line_scan_")) for key in h5)


def test_an_image_beyond_the_dose_budget_is_refused(make_session):
    session = make_session({"devices": {"sims": {"dose_budget_ions_per_m2": 2.0e18}}})
    docs = DocumentLog()
    session.RE.subscribe(docs)
    d = session.devices
    session.RE(bps.mv(d["sample_handler"], "cryo_stage"))
    session.RE(bps.mv(d["stage"], 163.15))
    per_image = expected_dose_ions_per_m2(SMALL_IMAGE)  # 0.5 pA, 600 s on 64 x 32 um: 9.1e17 ions/m^2
    assert 2 * per_image < 2.0e18 < 3 * per_image
    with pytest.raises(InterlockError, match="above the dose budget"):
        session.RE(plans.sims_image(d["sims"], acquisition=SMALL_IMAGE, num=3,
                                    interlock=ImagingInterlock.for_stage(d["stage"])))
    assert len(docs.streams()["image"]) == 2
    assert d["sims"].dose_ledger()["diffusion_window"] == pytest.approx(2 * per_image, rel=1e-6)
    assert "image refused" in docs.stop_of()["reason"]
