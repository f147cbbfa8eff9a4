"""The soak: a short one holds every check; each check counts the failure it names; the hazards are real."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import event_model
import numpy as np
import pytest

from benchmarks.soak import SoakConfig, give_up_reason, run_soak
from benchmarks.soak_child import log_catalog_requests, parse_arguments
from benchmarks.soak_checks import COUNT_NAMES, check_campaign, unsafe_end_states
from benchmarks.soak_draw import FAULT_KINDS, KillPoint, draw_campaign
from benchmarks.soak_instruments import InstrumentState, impose_hazards, read_instruments
from benchmarks.soak_launch import LineCounter
from benchmarks.soak_log import DOCUMENT_PREFIX, REQUEST_PREFIX, LaunchLog, LaunchLogWriter, read_launch_log
from simslab.catalog import Catalog
from simslab.plans import put_in_safe_state
from simslab.profile import EmbeddedCatalogSettings
from simslab.simulators.parameters import FaultSpec
from tests.plans.sessions import build_session

SHORT_SOAK_SEED = 30
"""Seed 30's first campaign: killed during the anneal (furnace heating), killed again in the resume,
a potentiostat compliance fault (repaired before the operando step) drawn and injected."""


@pytest.mark.slow
def test_a_short_soak_of_a_killed_campaign_holds_every_check(tmp_path):
    report = run_soak(SoakConfig(campaigns=1, seed=SHORT_SOAK_SEED, work_dir=tmp_path))
    problems = [p for detail in report["details"] for p in detail["problems"]]
    assert report["counts"] == dict.fromkeys(COUNT_NAMES, 0), problems
    assert report["pass"] is True
    # the soak did what it claims: kills delivered while the furnace heated, that state put back into the
    # restored twin, resumes to the end, the fault injected
    launches = report["details"][0]["launches"]
    assert report["kills"] >= 1 and report["kills_with_hazards_on"] >= 1
    assert any("furnace" in launch.get("imposed", []) for launch in launches)
    assert report["resumes"] >= report["kills"] and launches[-1]["ended"] == "finished"
    assert report["faults_injected"] == {"compliance": 1}
    json.dumps(report)


# --- the checks can fail -------------------------------------------------------------------------


def _run(step: int, *, events: int = 3, stop: str | None = "success") -> list[tuple[str, dict]]:
    """The documents of one campaign step: a primary stream of ``events`` readings, then the stop (None: none)."""
    bundle = event_model.compose_run(metadata={"campaign_id": "checks", "step": {"index": step, "kind": "anneal"}})
    stream = bundle.compose_descriptor(name="primary", data_keys={
        "furnace-temperature": {"source": "sim", "dtype": "number", "shape": []}})
    documents = [("start", bundle.start_doc), ("descriptor", stream.descriptor_doc)]
    for n in range(events):
        documents.append(("event", stream.compose_event(data={"furnace-temperature": 300.0 + n},
                                                        timestamps={"furnace-temperature": 1e9 + n})))
    if stop is not None:
        documents.append(("stop", bundle.compose_stop(exit_status=stop)))
    return documents


def _state(**hazards) -> InstrumentState:
    safe = {"time_s": 0.0, "furnace_manual": True, "furnace_output": 0.0, "furnace_target_k": 295.15,
            "room_temperature_k": 295.15, "cell_mode": "off", "cell_setpoint": 0.0, "cell_limit": 0.0,
            "acquisition": "idle"}
    return InstrumentState(**{**safe, **hazards})


def test_checks_count_a_missing_stop_a_lost_reading_a_lost_run_and_a_repeated_step(data_dir):
    step0, step1, step1_again, step2 = _run(0), _run(1), _run(1), _run(2, stop=None)
    lost_run = _run(3)
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=data_dir))
    try:
        store = catalog.writer()
        for documents in (step0, step1, step1_again, step2):
            for name, doc in documents:
                if not (documents is step0 and name == "event" and doc["seq_num"] == 2):  # the catalog loses one
                    store(name, doc)
        stored = {run.metadata["start"]["uid"]: list(run.documents()) for run in catalog.campaign_runs("checks")}
    finally:
        catalog.close()
    # the launch saw every document; the step-3 run never reached the catalog
    launch = LaunchLog(documents=[d for run in (step0, step1, step1_again, step2, lost_run) for d in run], exit_code=0)
    counts = check_campaign(stored, [launch], planned_steps=[0, 1, 2, 3, 4], finished=True)
    assert counts.runs_without_stop == 1  # step 2
    assert counts.readings_lost == 1  # step 0's second reading
    assert counts.runs_missing == 1  # step 3
    # step 1 twice; steps 2, 3 and 4 never succeeded although the campaign says it finished
    assert counts.steps_not_exactly_once == 4
    assert counts.campaigns_incomplete == 0 and counts.unsafe_end_states == 0
    assert check_campaign(stored, [launch], [0, 1, 2, 3, 4], finished=False).campaigns_incomplete == 1


def test_unsafe_states_count_where_a_launch_leaves_the_lab_and_what_a_resume_finds_after_a_kill():
    heating = _state(furnace_manual=False, furnace_output=0.4, furnace_target_k=473.15)
    beam_and_cell = _state(cell_mode="cc", cell_setpoint=6e-6, cell_limit=2.7, acquisition="running")
    killed = LaunchLog(states=[("document", heating)], exit_code=None)  # a kill's state is not counted itself...
    resumed = LaunchLog(states=[("first_start", heating), ("exit", _state())], exit_code=0)  # ...the resume's is
    stopped = LaunchLog(states=[("exit", beam_and_cell)], exit_code=2)
    found = unsafe_end_states([killed, resumed, stopped])
    assert len(found) == 3, found
    assert "furnace not safe after the kill" in found[0]
    assert {"potentiostat", "sims"} == {line.split()[2] for line in found[1:]}
    assert unsafe_end_states([killed, LaunchLog(states=[("first_start", _state())], exit_code=0)]) == []


# --- the hazards are the simulated lab's, and the product's safe state clears them ----------------


def test_kill_time_hazards_put_into_a_twin_are_cleared_by_the_safe_state_a_resume_applies():
    session = build_session()
    try:
        assert read_instruments(session.lab).unsafe() == []  # a fresh lab is safe
        kill_time = _state(furnace_manual=False, furnace_output=1.0, furnace_target_k=473.15, cell_mode="cc",
                           cell_setpoint=6e-6, cell_limit=2.7, acquisition="running")
        assert impose_hazards(session.lab, kill_time) == ["furnace", "potentiostat", "sims"]
        assert read_instruments(session.lab).unsafe() == ["furnace", "potentiostat", "sims"]
        assert session.call(put_in_safe_state(session.devices.values())) == []
        assert read_instruments(session.lab).unsafe() == []
    finally:
        session.close()


# --- draws, logs, counting ------------------------------------------------------------------------


def test_a_crash_after_a_kill_is_resumed_and_the_same_failure_twice_is_a_repeat():
    killed = {"ended": "killed", "steps_done": []}
    crashed = {"ended": "crashed (exit 1)", "steps_done": [], "error": "ClientError: 409"}
    stopped = {"ended": "stopped", "steps_done": [], "stop": "step 2: fail: refused", "error": "error: stopped"}
    assert give_up_reason([killed, crashed], 1, 4) is None  # the kill failed with nothing: no repeat
    assert give_up_reason([killed, {**killed, "ended": "crashed (exit 1)"}], 1, 4) is None
    assert "repeated launch 1's failure (step 2: fail: refused)" in give_up_reason([killed, stopped, stopped], 2, 4)
    assert give_up_reason([stopped, {**stopped, "steps_done": [2]}], 2, 4) is None  # it got further
    assert "still failing after 1 resumes" in give_up_reason([stopped, crashed], 2, 1)


def test_draws_repeat_with_the_seed_and_every_fault_is_a_valid_profile_entry():
    draws = [draw_campaign(np.random.default_rng(7), f"c{n}", 70000.0, 2000, 200) for n in range(1)]
    again = [draw_campaign(np.random.default_rng(7), f"c{n}", 70000.0, 2000, 200) for n in range(1)]
    assert draws == again
    rng = np.random.default_rng(3)
    many = [draw_campaign(rng, "c", 70000.0, 2000, 200) for _ in range(200)]
    faults = [f for d in many for f in d.faults]
    assert {f["kind"] for f in faults} == set(FAULT_KINDS)  # 200 campaigns reach every kind
    for fault in faults:
        FaultSpec(**fault)
        assert fault.get("at_s", 0.0) <= 70000.0
        assert fault["kind"] in ("lost_connection", "ln2_runout", "instrument_timeout", "garbled_reply") \
            or fault["duration_s"] > 0  # every physical fault is repaired
    assert all(1 <= len(d.kills) <= 2 for d in many)
    assert all(1 <= k.documents <= 2000 for d in many for k in d.kills if k.documents is not None)
    assert all(1 <= k.requests <= 200 for d in many for k in d.kills if k.requests is not None)
    kinds = Counter("documents" if k.documents else "requests" if k.requests else "time" for d in many for k in d.kills)
    assert min(kinds.values()) > 0.1 * sum(kinds.values())  # every kind of kill point is drawn
    with pytest.raises(ValueError, match="exactly one"):
        KillPoint()


def test_a_torn_last_line_is_skipped_and_documents_are_counted_as_they_are_appended(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    counter = LineCounter(path, DOCUMENT_PREFIX)
    assert counter.count() == 0  # no log yet
    writer = LaunchLogWriter(path)
    for name, doc in _run(0, events=2):
        writer.document(name, doc)
    writer.state("document", _state())
    assert counter.count() == 5  # start, descriptor, 2 events, stop; the state line is no document
    with open(path, "a", encoding="utf-8") as log:
        log.write('{"kind": "doc", "name": "event", "doc": {"da')  # killed mid-line
    assert counter.count() == 5
    log = read_launch_log(path)
    assert [name for name, _ in log.documents] == ["start", "descriptor", "event", "event", "stop"]
    assert log.exit_code is None and log.last_state() == _state()


def test_the_child_counts_each_catalog_request_for_kills_mid_storage(tmp_path: Path):
    path = tmp_path / "launch.jsonl"
    writer = LaunchLogWriter(path)
    httpx_log = logging.getLogger("httpx")
    level = httpx_log.level
    handler = log_catalog_requests(writer)
    try:
        httpx_log.info('HTTP Request: PATCH http://local-tiled-app/api/v1/table/partition/x "HTTP/1.1 200 OK"')
        httpx_log.info("HTTP Request: DELETE http://local-tiled-app/api/v1/stream/close/x")
        httpx_log.info("connection pool closed")  # not a request
    finally:
        httpx_log.removeHandler(handler)
        httpx_log.setLevel(level)
    assert LineCounter(path, REQUEST_PREFIX).count() == 2
    assert LineCounter(path, DOCUMENT_PREFIX).count() == 0
    assert read_launch_log(path).documents == []  # request lines are no documents


def test_the_child_passes_simslab_its_own_arguments_untouched():
    log, impose, command = parse_arguments(["l.jsonl", "--impose", "s.json", "--", "run", "--resume", "c",
                                            "--profile", "p.yaml"])
    assert (log, impose, command) == (Path("l.jsonl"), Path("s.json"), ["run", "--resume", "c", "--profile", "p.yaml"])
    assert parse_arguments(["l.jsonl", "--", "run", "c.yaml"]) == (Path("l.jsonl"), None, ["run", "c.yaml"])
