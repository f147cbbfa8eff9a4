"""Replay: rebuilding plans from start documents, refusals with the reason, the reading comparison,
the twin of a lab original, and single runs replayed on the simulated lab (also from the CLI)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import numpy as np
import pytest
from bluesky import RunEngine
from ophyd.sim import det, motor
from typer.testing import CliRunner

from simslab import plans
from simslab.cli import app
from simslab.errors import ReplayError
from simslab.replay import lab_twin, replay
from simslab.replay_comparison import reading_differences
from simslab.replay_plans import rebuild_plan, replay_metadata
from simslab.simulators.parameters import TwinParameters
from tests.conftest import LAB_PROFILE, SIM_PROFILE
from tests.plans.sessions import QUIET, SHORT_OPERANDO_IMAGE, build_session


def _starts_of(engine: RunEngine) -> list[dict]:
    found: list[dict] = []
    engine.subscribe(lambda name, doc: found.append(doc) if name == "start" else None)
    return found


def _events_of(engine: RunEngine) -> list[dict]:
    found: list[dict] = []
    engine.subscribe(lambda name, doc: found.append(doc) if name == "event" else None)
    return found


# --- rebuilding plans ----------------------------------------------------------------------------


def test_a_bluesky_scan_is_rebuilt_on_the_devices_its_plan_args_name():
    engine = RunEngine({})
    starts, events = _starts_of(engine), _events_of(engine)
    engine(bp.scan([det], motor, -1.0, 1.0, 5, md={"sample": {"id": "S1"}}))
    original = dict(starts[0])

    rebuilt = rebuild_plan(original, {"det": det, "motor": motor}, clock=None,
                           md=replay_metadata(original, engine.md))
    engine(rebuilt.plan)

    assert starts[1]["plan_name"] == "scan" and starts[1]["plan_args"] == original["plan_args"]
    assert starts[1]["sample"] == {"id": "S1"}  # the user's metadata comes along
    positions = [e["data"]["motor"] for e in events]
    assert positions[5:] == positions[:5] == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0])


def test_an_unknown_plan_is_refused_with_the_reason():
    start = {"uid": "0123456789", "plan_name": "align_beam", "plan_args": {"detectors": ["det"]}}
    with pytest.raises(ReplayError, match=r"plan 'align_beam' is not a known plan .*cannot rebuild it"):
        rebuild_plan(start, {"det": det}, clock=None)


def test_an_argument_recorded_only_as_a_repr_is_refused_with_the_reason():
    def every_other_point(detectors, step, pos_cache):
        yield from bps.one_nd_step(detectors, step, pos_cache)

    engine = RunEngine({})
    starts = _starts_of(engine)
    engine(bp.scan([det], motor, -1.0, 1.0, 3, per_step=every_other_point))
    with pytest.raises(ReplayError, match=r"plan 'scan', argument 'per_step': a callable, recorded only as '<function"):
        rebuild_plan(starts[0], {"det": det, "motor": motor}, clock=None)


def test_a_device_the_session_lacks_is_refused_with_the_reason():
    start = {"uid": "0123456789", "plan_name": "count", "plan_args": {"detectors": ['SignalR(name="pyrometer")'],
                                                                      "num": 1, "delay": 0.0}}
    with pytest.raises(ReplayError, match=r"argument 'detectors': no device or signal named 'pyrometer'"):
        rebuild_plan(start, {"det": det}, clock=None)


def test_an_exchange_ended_at_a_clock_time_is_refused_with_the_reason():
    start = {"uid": "0123456789", "plan_name": "isotope_exchange",
             "plan_args": {"sample_handler": "sample_handler", "stage": "stage", "duration_s": 3600.0,
                           "then_to": "cryo_stage"},
             "exchange": {"solution": "6LiNO3", "temperature_k": 295.15, "duration_s": 3600.0,
                          "end_time_s": 1.8e9, "then_to": "cryo_stage"}}
    with pytest.raises(ReplayError, match=r"argument 'end_time_s': an end time on the original session's clock"):
        rebuild_plan(start, {"sample_handler": object(), "stage": object()}, clock=None)


# --- the comparison ------------------------------------------------------------------------------


def _content(values: list[float], frames: int = 3, extra_stream: bool = False) -> dict:
    keys = {"stage-temperature": {"dtype": "number"}, "sims-Li6": {"dtype": "array", "external": "STREAM:"}}
    events = [{"seq_num": n + 1, "data": {"stage-temperature": v}, "timestamps": {"stage-temperature": 1e9 + n}}
              for n, v in enumerate(values)]
    streams = {"primary": {"data_keys": keys, "events": events}}
    if extra_stream:
        streams["baseline"] = {"data_keys": {"x": {}}, "events": []}
    return {"streams": streams}


def test_differences_are_reported_per_stream_and_field():
    frames_a = np.full((3, 4, 5), 7, dtype=np.uint32)
    frames_b = frames_a.copy()
    frames_b[2, 1, 1] = 4  # 3 counts fewer: an unsigned subtraction must not wrap to ~4e9
    original = _content([163.15, 163.20, math.nan])
    replayed = _content([163.15, 163.70, math.nan, 163.9], extra_stream=True)

    structure, fields, compared = reading_differences(original, replayed, lambda s, k: frames_a,
                                                      lambda s, k: frames_b)

    assert structure == ["stream baseline only in the replay"]
    by_field = {f.field: f for f in fields}
    temperature = by_field["stage-temperature"]
    assert (temperature.original_count, temperature.replay_count, temperature.differing) == (3, 4, 1)
    assert temperature.max_abs_difference == pytest.approx(0.5, abs=1e-9)  # 163.70 - 163.20; NaN equals NaN
    assert temperature.first_seq_num == 2
    image = by_field["sims-Li6"]
    assert (image.differing, image.max_abs_difference, image.first_seq_num) == (1, 3.0, 3)
    assert compared == 3 + 3  # three temperatures and three frames in both


def test_identical_readings_differ_in_nothing_but_timestamps():
    original, replayed = _content([1.0, 2.0]), _content([1.0, 2.0])
    for event in replayed["streams"]["primary"]["events"]:
        event["timestamps"] = {k: t + 31.0 for k, t in event["timestamps"].items()}  # another clock start
    frames = np.arange(24).reshape(2, 3, 4)
    assert reading_differences(original, replayed, lambda s, k: frames, lambda s, k: frames.copy()) == ([], [], 4)


# --- the twin of a lab original ------------------------------------------------------------------


def test_a_lab_original_sets_the_twin_sample_bath_and_cell_from_its_metadata():
    spec = {"sample": {"id": "LLTO-L", "material": "Li0.33La0.56TiO3", "grain_size_m": 25e-6,
                       "grain_size_sd_m": 5e-6, "length_m": 8e-3},
            "exchange": {"duration_s": 3600.0, "temperature_k": 300.15},
            "steps": [{"kind": "operando", "cell": {"id": "C1", "material": "NCA | LTO", "area_m2": 1.0e-5}}]}

    twin, said = lab_twin(TwinParameters(seed=3), spec["sample"], spec)

    assert twin.sample.material == "Li0.33La0.56TiO3" and twin.sample.mean_grain_size_m == 25e-6
    # a log-normal with mean 25 um and sd 5 um has sigma_ln^2 = ln(1 + 0.2^2)
    assert twin.sample.grain_size_sigma_ln == pytest.approx(math.sqrt(math.log(1.04)), rel=1e-12)
    assert twin.sample.length_m == 8e-3 and twin.exchange.temperature_k == 300.15 and twin.cell.area_m2 == 1.0e-5
    assert twin.seed == 3  # the profile's seed: a lab sample has none
    assert "twin.sample.material = 'Li0.33La0.56TiO3'" in said


def test_sample_metadata_the_twin_cannot_take_is_refused_with_the_field():
    with pytest.raises(ReplayError, match="length_m"):
        lab_twin(TwinParameters(), {"id": "S", "material": "LLTO", "length_m": -1.0})


def test_a_replay_refuses_a_profile_with_real_instruments():
    with pytest.raises(ReplayError, match="drives real instruments"):
        replay("anything", LAB_PROFILE)


# --- single runs on the simulated lab ------------------------------------------------------------

LAB_SAMPLE = {"id": "LLTO-L", "material": "Li0.33La0.56TiO3", "grain_size_m": 25e-6, "grain_size_sd_m": 5e-6}


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory) -> dict:
    """A count of two temperatures on the simulated lab and an image recorded as a lab run would be."""
    directory = tmp_path_factory.mktemp("replay-single") / "data"
    catalog = {"catalog": {"kind": "embedded", "directory": str(directory)}}
    session = build_session(catalog, with_catalog=True)
    try:
        stage, furnace, sims = (session.devices[n] for n in ("stage", "furnace", "sims"))
        (count_uid,) = session.RE(bp.count([stage.temperature, furnace.temperature], num=3, delay=600.0)).run_start_uids
        for key in ("twin", "twin_seed", "twin_start_s"):  # what a lab session's runs lack
            session.RE.md.pop(key, None)
        session.RE.md["simulated"] = False
        (lab_uid,) = session.RE(plans.sims_image(sims, acquisition=SHORT_OPERANDO_IMAGE,
                                                 md={"sample": LAB_SAMPLE})).run_start_uids
    finally:
        session.close()
    return {"directory": directory, "overrides": {**catalog, **QUIET}, "count": count_uid, "lab": lab_uid}


def _start_of(directory: Path, uid: str) -> dict:
    from simslab.catalog import Catalog
    from simslab.profile import EmbeddedCatalogSettings

    catalog = Catalog.open(EmbeddedCatalogSettings(directory=directory))
    try:
        return dict(catalog.run(uid).metadata["start"])
    finally:
        catalog.close()


@pytest.mark.slow
def test_a_simulated_count_replays_with_identical_readings(single_runs):
    report = replay(single_runs["count"][:8], SIM_PROFILE, single_runs["overrides"])

    assert report.exact_expected and report.identical_readings, report.to_dict()
    (run,) = report.runs
    assert run.compared_values == 3 * 2  # three points of two temperatures
    assert _start_of(single_runs["directory"], run.replay_uid)["replay_of"] == single_runs["count"]


@pytest.mark.slow
def test_a_lab_run_replays_with_the_twin_sample_from_its_metadata(single_runs):
    report = replay(single_runs["lab"], SIM_PROFILE, single_runs["overrides"])

    (run,) = report.runs
    start = _start_of(single_runs["directory"], run.replay_uid)
    assert start["replay_of"] == single_runs["lab"] and start["sample"] == LAB_SAMPLE
    assert start["twin"]["sample"]["material"] == "Li0.33La0.56TiO3"
    assert start["twin"]["sample"]["mean_grain_size_m"] == 25e-6
    assert not report.exact_expected and any(note.startswith("lab original") for note in report.notes)
    assert run.replay_exit == "success" and run.compared_values > 0


@pytest.mark.slow
def test_the_cli_replays_a_run_and_reports_identical_readings(single_runs):
    runner = CliRunner()
    result = runner.invoke(app, ["replay", single_runs["count"], "--data", str(single_runs["directory"]), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["identical_readings"] and report["summary"].startswith("identical readings")

    missing = runner.invoke(app, ["replay", "no-such-run", "--data", str(single_runs["directory"])])
    assert missing.exit_code == 2
    assert "no run or campaign 'no-such-run' in the catalog" in missing.output
    assert "Traceback" not in missing.output


# --- a whole campaign ----------------------------------------------------------------------------

SHORT_CAMPAIGN = {
    "campaign_id": "replay-campaign",
    "sample": {"id": "LLTO-R", "material": "Li0.29La0.57TiO3", "grain_size_m": 16e-6},
    "exchange": {"duration_s": 3600},
    "imaging": {"image": {"pixels": [64, 32], "integration_s": 300.0, "primary": {"raster_m": [64e-6, 32e-6]}},
                "line_scan": None},
    "steps": [{"kind": "anneal", "temperature_k": 423.15, "duration_s": 1800}],
    "dose_budget_ions_per_m2": 1e21,  # the small test window concentrates the dose
}
"""Exchange, map, anneal, map: every kind of diffusion step, on the small test window."""


@pytest.mark.slow
def test_a_recorded_campaign_replays_step_by_step_with_identical_readings(tmp_path):
    from simslab.campaign import validate_campaign
    from simslab.runner import CampaignRunner

    directory = tmp_path / "data"
    catalog = {"catalog": {"kind": "embedded", "directory": str(directory)}}
    session = build_session(catalog, with_catalog=True)
    try:
        campaign = validate_campaign(dict(SHORT_CAMPAIGN), session.profile, "test")
        outcomes = CampaignRunner(session, campaign).run()
    finally:
        session.close()
    assert [o.exit_status for o in outcomes] == ["success"] * 4

    report = replay("replay-campaign", SIM_PROFILE, {**catalog, **QUIET})

    assert report.original_steps == report.replay_steps  # same steps in the same order
    assert [r.replay_exit for r in report.runs] == ["success"] * 4
    assert report.exact_expected and report.identical_readings, report.to_dict()
    assert all(r.compared_values > 0 for r in report.runs)  # every step had readings to compare
    assert report.campaign_id and report.campaign_id != "replay-campaign"
    for run in report.runs:
        start = _start_of(directory, run.replay_uid)
        assert start["replay_of"] == run.original_uid and start["campaign_id"] == report.campaign_id
