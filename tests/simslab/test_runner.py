"""The campaign runner: step metadata; a fault in any instrument ends safe; pause, abort, resume; resume from
the catalog."""

from __future__ import annotations

import copy
import threading
import pytest
from bluesky.utils import RunEngineInterrupted

from simslab.campaign import validate_campaign
from simslab.catalog import INTERRUPTED_REASON
from simslab.runner import CampaignRunner, CampaignStopped
from tests.plans.sessions import SMALL_IMAGING_SPEC, DocumentLog

IMAGE_START_S = 8520.0
"""When the first map starts in DIFFUSION (virtual s after session start): 2 h exchange with the
quench, then cleaning; measured on the twin (the map then runs 2 h)."""

DIFFUSION = {
    "campaign_id": "runner-test",
    "sample": {"id": "LLTO-T", "material": "Li0.29La0.57TiO3", "grain_size_m": 16e-6},
    "exchange": {"duration_s": 7200},
    "imaging": {**copy.deepcopy(SMALL_IMAGING_SPEC), "image": {**SMALL_IMAGING_SPEC["image"], "integration_s": 7200}},
    "steps": [{"kind": "anneal", "temperature_k": 473.15, "duration_s": 1800}],
    "dose_budget_ions_per_m2": 1e21,  # the small test window concentrates the dose
}
SHORT = {
    **DIFFUSION, "campaign_id": "runner-resume", "exchange": {"duration_s": 3600},
    "imaging": {"image": {**SMALL_IMAGING_SPEC["image"], "integration_s": 300}, "line_scan": None},
    "steps": [{"kind": "storage", "duration_s": 7200}],
}
"""A short campaign for the resume test, which writes to a catalog (each event costs ~5 ms there)."""
OPERANDO = {
    "campaign_id": "runner-operando",
    "steps": [{"kind": "operando", "cell": {"id": "SSB-T", "material": "NCA | LTO"},
               "cycling": {"cycles": 1, "rest_s": 600, "cv_hold_s": 1800, "capacity_c": 0.0936},
               "imaging": {"image": {"integration_s": 300}, "schedule": {"every_s": 7200}}}],
}


def _runner(session, spec):
    docs = DocumentLog()
    session.RE.subscribe(docs)
    return CampaignRunner(session, validate_campaign(copy.deepcopy(spec), session.profile, "test")), docs


def _assert_safe(session):
    now = session.clock.now()
    lab = session.lab
    furnace = lab.furnace.state_at(now)
    assert furnace.manual or furnace.output == 0.0, "furnace output off"
    assert lab.cell.state_at(now).mode in ("off", "ocv"), "no current through the cell"
    assert lab.acquisition_state().state != "running", "beam off"
    stage = lab.stage.state_at(now)
    assert abs(stage.target_setpoint_k - stage.temperature_k) < 2.0, "stage held where it is"


def test_every_step_is_a_run_with_the_campaign_metadata(make_session):
    session = make_session()
    runner, docs = _runner(session, DIFFUSION)
    outcomes = runner.run()
    assert [o.kind for o in outcomes] == ["exchange", "cryo_sims", "anneal", "cryo_sims"]
    assert all(o.exit_status == "success" for o in outcomes)
    starts = docs.of("start")
    for index, start in enumerate(starts):
        assert start["campaign_id"] == "runner-test" and start["campaign"]["campaign_id"] == "runner-test"
        assert start["step"]["index"] == index and start["step"]["count"] == 4
        assert start["sample"]["id"] == "LLTO-T" and start["sample"]["grain_size_m"] == 16e-6
        assert start["estimated_duration_s"] > 0
        assert start["estimated_remaining_s"] >= start["estimated_duration_s"]
    assert starts[2]["step"]["temperature_k"] == 473.15 and starts[2]["anneal"]["hold_s"] == 1800
    # the thermal record: the furnace over the anneal, the stage whenever the sample is on it
    anneal_streams = docs.streams(starts[2]["uid"])
    assert {"furnace-temperature_monitor", "stage-temperature_monitor", "sample_location"} <= set(anneal_streams)
    locations = [e["data"]["sample_handler-location"] for e in anneal_streams["sample_location"]]
    assert locations == ["storage", "furnace", "furnace", "cryo_stage"]  # read before and after each move
    _assert_safe(session)


FAULTS = [
    ("stage", {"kind": "lost_connection", "device": "stage", "at_s": 0.0}, DIFFUSION, "stage"),
    ("furnace", {"kind": "thermocouple_break", "device": "furnace", "at_s": 0.0}, DIFFUSION, "furnace"),
    ("sims", {"kind": "sims_abort", "device": "sims", "at_s": IMAGE_START_S + 3600.0}, DIFFUSION, "aborted"),
    ("sample_handler", {"kind": "lost_connection", "device": "sample_handler", "at_s": 0.0}, DIFFUSION,
     "sample_handler"),
    ("potentiostat", {"kind": "compliance", "device": "potentiostat", "at_s": 3600.0}, OPERANDO, "safety window"),
]


@pytest.mark.parametrize(("fault", "spec", "reason"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_a_fault_in_any_instrument_ends_the_step_safe_with_the_reason(make_session, fault, spec, reason):
    session = make_session({"twin": {"faults": [fault]}})
    runner, docs = _runner(session, spec)
    with pytest.raises(CampaignStopped) as stopped:
        runner.run()
    stop = docs.stop_of()
    assert stop["exit_status"] == "fail" and reason in stop["reason"]
    assert reason in str(stopped.value) and "--resume" in str(stopped.value)
    _assert_safe(session)


def _pause_in_step(session, index: int, stream: str = "sample_location") -> None:
    """Press Ctrl-C (an immediate pause) at the first event of ``stream`` in step ``index``."""
    runs: dict[str, int] = {}
    streams: dict[str, str] = {}
    pressed: list[bool] = []

    def press(name: str, doc: dict) -> None:
        if name == "start":
            runs[doc["uid"]] = doc["step"]["index"]
        elif name == "descriptor":
            streams[doc["uid"]] = doc["name"] if runs.get(doc["run_start"]) == index else ""
        elif name == "event" and streams.get(doc["descriptor"]) == stream and not pressed:
            pressed.append(True)  # as the SIGINT handler does: from another thread (it waits on the loop)
            threading.Thread(target=session.RE.request_pause, kwargs={"defer": False}).start()

    session.RE.subscribe(press)


def test_ctrl_c_pauses_and_abort_ends_the_step_safe(make_session):
    session = make_session()
    runner, docs = _runner(session, DIFFUSION)
    _pause_in_step(session, 2, "furnace-temperature_monitor")  # Ctrl-C while the furnace heats
    with pytest.raises(RunEngineInterrupted):
        runner.run()
    paused = runner._current
    assert paused.kind == "anneal"
    with pytest.raises(CampaignStopped, match="aborted by the operator"):
        runner.abort("aborted by the operator")
    stop = docs.stop_of()
    assert stop["exit_status"] == "abort" and stop["reason"] == "aborted by the operator"
    assert docs.of("start")[-1]["step"]["index"] == paused.index
    _assert_safe(session)


def test_ctrl_c_then_resume_finishes_the_campaign(make_session):
    session = make_session()
    runner, docs = _runner(session, DIFFUSION)
    _pause_in_step(session, 1, "image")  # Ctrl-C while the stage is cold and imaging
    with pytest.raises(RunEngineInterrupted):
        runner.run()
    outcomes = runner.resume_paused()
    assert [o.exit_status for o in outcomes] == ["success"] * 4
    assert [s["step"]["index"] for s in docs.of("start")] == [0, 1, 2, 3]  # each step once


def test_resume_reads_the_campaign_back_and_redoes_only_unfinished_steps(make_session):
    session = make_session(with_catalog=True)
    runner, _ = _runner(session, SHORT)
    _pause_in_step(session, 2)
    with pytest.raises(RunEngineInterrupted):
        runner.run()
    interrupted = runner._current
    with pytest.raises(CampaignStopped):
        runner.abort("power cut (simulated)")

    resumed = CampaignRunner.resume(session, "runner-resume")
    assert resumed.campaign == runner.campaign  # the spec came back from the start documents
    outcomes = resumed.run()
    skipped = [o.index for o in outcomes if o.exit_status == "skipped"]
    assert skipped == list(range(interrupted.index))
    rows = resumed.recorded_runs()
    for step in resumed.steps:
        assert [r.exit_status for r in rows if r.step_index == step.index].count("success") == 1
    redo = next(run for run in session.catalog.campaign_runs("runner-resume")
                if run.metadata["start"]["step"]["index"] == interrupted.index
                and run.metadata["stop"]["exit_status"] == "success")
    aborted = [r.uid for r in rows if r.step_index == interrupted.index and r.exit_status == "abort"]
    assert redo.metadata["start"]["redo_of"] == aborted and redo.metadata["start"]["resumed"] is True
    assert INTERRUPTED_REASON not in [r.reason for r in rows]  # nothing was killed here
