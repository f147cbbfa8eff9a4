"""The ToF-SIMS detector: HDF5 frames behind StreamResource/StreamDatum, dose ledger, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlparse

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import h5py
import numpy as np
import pytest
from bluesky.utils import FailedStatus
from event_model import DocumentNames, schema_validators
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider, init_devices

from simslab.devices import ToFSims, mass_data_key
from simslab.devices.settings import SimsAcquisitionDefaults, SimsSettings
from simslab.errors import InstrumentError, InstrumentTimeout, InterlockError
from tests.devices.fakes import FakeSims

# a 20-minute image keeps the virtual polling short; dose per image 0.5 pA x 1200 s / e / 1e-7 m^2
ACQUISITION = SimsAcquisitionDefaults(integration_s=1200.0)
SETTINGS = SimsSettings(poll_s=60.0, acquisition=ACQUISITION)
IMAGE_DOSE = 0.5e-12 * 1200.0 / 1.602176634e-19 / (500e-6 * 200e-6)


def make_sims(clock, run, tmp_path: Path, settings: SimsSettings = SETTINGS, **fake):
    driver = FakeSims(clock, **fake)
    fetched = []
    fetch = driver.fetch_result

    def recording_fetch():
        result = fetch()
        fetched.append(result)
        return result

    driver.fetch_result = recording_fetch
    sims = ToFSims(driver, settings, clock, StaticPathProvider(UUIDFilenameProvider(), tmp_path), name="sims")
    run(sims.connect())
    return sims, driver, fetched


def collect(RE, plan) -> list[tuple[str, dict]]:
    docs: list[tuple[str, dict]] = []
    RE(plan, lambda name, doc: docs.append((name, doc)))
    return docs


def read_back(docs, data_key: str) -> np.ndarray:
    """Read a data key's frames from HDF5 exactly as the documents point to them."""
    resource = next(doc for name, doc in docs if name == "stream_resource" and doc["data_key"] == data_key)
    datums = [doc for name, doc in docs if name == "stream_datum" and doc["stream_resource"] == resource["uid"]]
    path = urlparse(resource["uri"]).path
    with h5py.File(path, "r") as h5:
        dataset = h5[resource["parameters"]["dataset"]]
        return np.concatenate([dataset[d["indices"]["start"]:d["indices"]["stop"]] for d in datums])


def test_count_writes_frames_that_read_back_identical_to_the_driver_arrays(RE, clock, run, tmp_path):
    sims, _, fetched = make_sims(clock, run, tmp_path)
    docs = collect(RE, bp.count([sims], num=2))
    assert [name for name, _ in docs].count("stream_resource") == 2  # one per mass, once per run
    for label, key in (("6Li+", "sims-Li6"), ("7Li+", "sims-Li7")):
        frames = read_back(docs, key)
        assert frames.shape == (2, 206, 512)
        for frame, result in zip(frames, fetched, strict=True):
            np.testing.assert_array_equal(frame, result.counts[label])
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    li6 = descriptor["data_keys"]["sims-Li6"]
    assert li6["external"] == "STREAM:" and li6["shape"] == [206, 512] and li6["units"] == "counts"
    assert li6["mass_label"] == "6Li+" and li6["mass_u"] == pytest.approx(6.01512)
    config = descriptor["configuration"]["sims"]["data"]
    assert config["sims-primary_species"] == "Bi+" and config["sims-primary_energy"] == 30e3
    assert config["sims-integration_time"] == 1200.0 and list(config["sims-mass_labels"]) == ["6Li+", "7Li+"]
    assert all("units" in key for key in descriptor["configuration"]["sims"]["data_keys"].values())
    events = [doc for name, doc in docs if name == "event"]
    # the region's dose after each image: primary ions / raster area, accumulated
    assert [e["data"]["sims-dose"] for e in events] == pytest.approx([IMAGE_DOSE, 2 * IMAGE_DOSE], rel=1e-9)
    assert events[0]["data"]["sims-elapsed"] == pytest.approx(1200.0)


def test_stream_datums_are_valid_documents_pointing_at_consecutive_frames(RE, clock, run, tmp_path):
    # the writer composes StreamDatum without event_model's check (bluesky fills descriptor and
    # seq_nums afterwards): what the subscribers receive must still pass the schema
    sims, _, _ = make_sims(clock, run, tmp_path)
    docs = collect(RE, bp.count([sims], num=3))
    datums = [doc for name, doc in docs if name == "stream_datum"]
    for doc in datums:
        schema_validators[DocumentNames.stream_datum].validate(doc)
    descriptor = next(doc for name, doc in docs if name == "descriptor")
    assert {doc["descriptor"] for doc in datums} == {descriptor["uid"]}
    by_resource: dict[str, list[dict]] = {}
    for doc in datums:
        by_resource.setdefault(doc["stream_resource"], []).append(doc)
    assert len(by_resource) == 2  # one resource per mass
    for resource_datums in by_resource.values():
        # one frame per event, in order: frame i of the dataset is event i + 1
        assert [(d["indices"]["start"], d["indices"]["stop"]) for d in resource_datums] == [(0, 1), (1, 2), (2, 3)]
        assert [(d["seq_nums"]["start"], d["seq_nums"]["stop"]) for d in resource_datums] == [(1, 2), (2, 3), (3, 4)]


def test_each_run_gets_its_own_file(RE, clock, run, tmp_path):
    sims, _, _ = make_sims(clock, run, tmp_path)
    first = collect(RE, bp.count([sims]))
    second = collect(RE, bp.count([sims]))
    uris = {doc["uri"] for docs in (first, second) for name, doc in docs if name == "stream_resource"}
    assert len(uris) == 2 and len(list(tmp_path.glob("*.h5"))) == 2


def test_configure_changes_the_region_and_records_it(RE, clock, run, tmp_path):
    sims, driver, _ = make_sims(clock, run, tmp_path)

    def two_regions():
        yield from bps.open_run()
        yield from bps.stage(sims)
        yield from bps.configure(sims, region="anode")
        yield from bps.trigger_and_read([sims])
        yield from bps.configure(sims, region="cathode")
        yield from bps.trigger_and_read([sims])
        yield from bps.unstage(sims)
        yield from bps.close_run()

    docs = collect(RE, two_regions())
    descriptors = [doc for name, doc in docs if name == "descriptor"]
    assert [d["configuration"]["sims"]["data"]["sims-region"] for d in descriptors] == ["anode", "cathode"]
    assert [w[1].region for w in driver.writes if w[0] == "start_acquisition"] == ["anode", "cathode"]
    assert sims.dose_ledger() == pytest.approx({"anode": IMAGE_DOSE, "cathode": IMAGE_DOSE})


def test_acquisition_beyond_the_dose_budget_is_refused_before_it_starts(RE, clock, run, tmp_path):
    settings = SETTINGS.model_copy(update={"dose_budget_ions_per_m2": 2.5 * IMAGE_DOSE})
    sims, driver, _ = make_sims(clock, run, tmp_path, settings)
    sims.seed_dose("diffusion_window", IMAGE_DOSE)  # an earlier session's image: a resumed campaign keeps its budget
    RE(bp.count([sims]))
    assert sims.remaining_dose("diffusion_window") == pytest.approx(0.5 * IMAGE_DOSE)
    starts = len(driver.writes)
    with pytest.raises(FailedStatus) as failure:
        RE(bp.count([sims]))
    assert isinstance(failure.value.__cause__, InterlockError)
    assert "dose budget" in str(failure.value.__cause__)
    assert len(driver.writes) == starts  # nothing sent


def test_failed_acquisition_fails_clearly_and_blanks_the_beams(clock, run, tmp_path):
    sims, driver, _ = make_sims(clock, run, tmp_path, result_state="failed")
    with pytest.raises(InstrumentError, match="acquisition failed.*beam fault"):
        run(lambda: sims.trigger())
    assert driver.writes[-1] == ("abort",)


def test_driver_timeout_while_polling_fails_within_a_poll_and_aborts(clock, run, tmp_path):
    sims, driver, _ = make_sims(clock, run, tmp_path)

    async def timeout_after_ten_minutes():
        status = sims.trigger()
        await asyncio.sleep(600.0)
        driver.inject(InstrumentTimeout("sims", "status", None, "no reply within 5 s"), {"read_acquisition"}, times=1)
        await asyncio.wait([status.task])
        return status.exception()

    start_s = clock.now()
    error = run(timeout_after_ten_minutes())
    assert isinstance(error, InstrumentTimeout) and "no reply" in str(error)
    assert clock.now() - start_s <= 600.0 + SETTINGS.poll_s
    assert driver.writes[-1] == ("abort",)


def test_acquisition_that_never_finishes_times_out(clock, run, tmp_path):
    settings = SETTINGS.model_copy(update={"timeout_grace_s": 600.0})
    sims, driver, _ = make_sims(clock, run, tmp_path, settings)
    driver._duration_s = lambda: 1e9  # the instrument never reports done
    start_s = clock.now()
    with pytest.raises(InstrumentTimeout, match="not done 1800 s after the start"):
        run(lambda: sims.trigger())
    assert 1800.0 <= clock.now() - start_s <= 1800.0 + SETTINGS.poll_s
    assert driver.writes[-1] == ("abort",)


def test_stop_aborts_the_acquisition(clock, run, tmp_path):
    sims, driver, _ = make_sims(clock, run, tmp_path)

    async def stop_after_a_minute():
        status = sims.trigger()
        await asyncio.sleep(60.0)
        await sims.stop(success=False)
        await asyncio.wait([status.task])
        return status.exception()

    assert run(stop_after_a_minute()) is not None
    assert driver.writes[-1] == ("abort",)


def test_depth_profile_needs_a_sputter_beam_and_cycles(clock, run, tmp_path):
    sims, driver, _ = make_sims(clock, run, tmp_path)
    run(lambda: sims.kind.set("depth_profile"))
    with pytest.raises(Exception, match="sputter_cycles"):
        run(sims.build_request())
    run(lambda: sims.sputter_cycles.set(5))
    request = run(sims.build_request())
    assert request.sputter is not None and request.sputter.species == "Cs+" and request.sputter_cycles == 5


def test_mass_labels_become_safe_data_keys():
    assert mass_data_key("sims", "6Li+") == "sims-Li6"
    assert mass_data_key("sims", "58Ni+") == "sims-Ni58"
    assert mass_data_key("sims", "48Ti+") == "sims-Ti48"
    assert mass_data_key("sims", "16O-") == "sims-O16_neg"
    assert mass_data_key("sims", "LiO-") == "sims-LiO_neg"


def test_mock_sims_counts_zero_frames(RE, clock, run, tmp_path):
    with init_devices(mock=True):
        sims = ToFSims(None, SETTINGS, clock, StaticPathProvider(UUIDFilenameProvider(), tmp_path))
    docs = collect(RE, bp.count([sims]))
    frames = read_back(docs, "sims-Li6")
    assert frames.shape == (1, 206, 512) and not frames.any()


def test_cathode_image_on_the_twin_reads_back_identical(RE, clock, run, tmp_path, twin, sim_profile):
    drivers = twin()
    driver = drivers["sims"]
    fetched = []
    fetch = driver.fetch_result
    driver.fetch_result = lambda: fetched.append(fetch()) or fetched[-1]
    settings = sim_profile().devices.sims
    with init_devices():
        sims = ToFSims(driver, settings, clock, StaticPathProvider(UUIDFilenameProvider(), tmp_path))

    def cathode_image():
        yield from bps.configure(sims, region="cathode", raster_x=80e-6, raster_y=30e-6, pixels_x=40, pixels_y=15,
                                 integration_time=800.0, mass_labels=["6Li+", "58Ni+"], masses_u=[6.015, 57.935])
        return (yield from bp.count([sims]))

    docs = collect(RE, cathode_image())
    frames = read_back(docs, "sims-Ni58")
    assert frames.shape == (1, 15, 40)
    np.testing.assert_array_equal(frames[0], fetched[0].counts["58Ni+"])
    assert frames.sum() > 0  # the twin's cathode gives Ni+ counts
    event = next(doc for name, doc in docs if name == "event")
    assert event["data"]["sims-dose"] == pytest.approx(fetched[0].primary_ions / (80e-6 * 30e-6), rel=1e-9)

