"""A campaign whose process is SIGKILLed at a random document continues with `simslab run --resume`.

The first process runs the campaign and kills itself with SIGKILL (no clean-up of any kind, as a
power cut) when the N-th document is emitted. `simslab run --resume` then finishes it: every
planned step ends up with exactly one successful run, and the catalog shows the run the kill
interrupted as aborted with the interrupted reason. A kill while a step's stop document is being
stored (journalled, not yet in tiled) resumes the twin from that step's world, not an older one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simslab.campaign import load_campaign, plan_steps
from simslab.catalog import INTERRUPTED_REASON, Catalog
from simslab.profile import EmbeddedCatalogSettings, deep_merge, load_profile, load_yaml
from tests.conftest import SIM_PROFILE
from tests.plans.sessions import GENEROUS_DOSE_BUDGET, QUIET, SMALL_IMAGING_SPEC, SMALL_TWIN

CAMPAIGN = {
    "campaign_id": "kill-test",
    "sample": {"id": "LLTO-K", "material": "Li0.29La0.57TiO3"},
    "exchange": {"duration_s": 3600},
    "imaging": SMALL_IMAGING_SPEC,
    "steps": [{"kind": "anneal", "temperature_k": 473.15, "duration_s": 600}],
    "dose_budget_ions_per_m2": 1e21,
}
DOCUMENTS = 1900
"""About how many documents the campaign emits (measured: 1959); the kill falls before the last."""

RUN_AND_DIE = """
import os, signal, sys
from simslab.campaign import load_campaign
from simslab.profile import load_profile
from simslab.runner import CampaignRunner, open_campaign_session

profile_path, campaign_path, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
campaign = load_campaign(campaign_path, load_profile(profile_path))
session = open_campaign_session(profile_path, campaign)
emitted = []

def die(name, doc):
    emitted.append(name)
    if len(emitted) >= kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no stop document: as a power cut

session.RE.subscribe(die)
try:
    CampaignRunner(session, campaign, source=campaign_path).run()
finally:
    session.close()
"""


DIE_WHILE_STORING_A_STOP = """
import os, signal, sys
from simslab.campaign import load_campaign
from simslab.journal import DocumentJournal
from simslab.profile import load_profile
from simslab.runner import CampaignRunner, open_campaign_session

profile_path, campaign_path, kill_step = sys.argv[1], sys.argv[2], int(sys.argv[3])
journal_document = DocumentJournal.__call__
steps = {}

def journal_then_die(self, name, doc):
    journal_document(self, name, doc)
    if name == "start":
        steps[doc["uid"]] = doc["step"]["index"]
    elif name == "stop" and steps.get(doc["run_start"]) == kill_step:
        os.kill(os.getpid(), signal.SIGKILL)  # the stop is journalled, tiled has not stored it

DocumentJournal.__call__ = journal_then_die
campaign = load_campaign(campaign_path, load_profile(profile_path))
session = open_campaign_session(profile_path, campaign)
try:
    CampaignRunner(session, campaign, source=campaign_path).run()
finally:
    session.close()
"""


def _kill_at() -> int:
    seed = int(os.environ.get("SIMSLAB_KILL_SEED", "20261126"))
    return random.Random(seed).randrange(20, DOCUMENTS)


def _kill_and_resume(tmp_path: Path, script: str, argument: int) -> list[tuple[dict, dict]]:
    """Run the campaign with ``script`` (which SIGKILLs itself), resume it; return its (start, stop) pairs."""
    data = tmp_path / "data"
    profile_data = deep_merge(load_yaml(SIM_PROFILE), {**QUIET, **GENEROUS_DOSE_BUDGET, "twin": SMALL_TWIN,
                                                       "catalog": {"kind": "embedded", "directory": str(data)}})
    profile_path, campaign_path = tmp_path / "profile.yaml", tmp_path / "campaign.yaml"
    profile_path.write_text(yaml.safe_dump(profile_data))
    campaign_path.write_text(yaml.safe_dump(CAMPAIGN))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    first = subprocess.run([sys.executable, "-c", script, str(profile_path), str(campaign_path), str(argument)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]

    second = subprocess.run([sys.executable, "-m", "simslab.cli", "run", "--resume", "kill-test",
                             "--profile", str(profile_path)], env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, (argument, second.stdout[-2000:], second.stderr[-2000:])

    planned = plan_steps(load_campaign(campaign_path, load_profile(profile_path)))
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=data))
    try:
        runs = [(run.metadata["start"], run.metadata["stop"]) for run in catalog.campaign_runs("kill-test")]
    finally:
        catalog.close()
    for step in planned:
        statuses = [stop["exit_status"] for start, stop in runs if start["step"]["index"] == step.index]
        assert statuses.count("success") == 1, (argument, step.index, statuses)
    return runs


@pytest.mark.slow
def test_a_killed_campaign_resumes_and_every_step_completes_once(tmp_path):
    kill_at = _kill_at()
    runs = _kill_and_resume(tmp_path, RUN_AND_DIE, kill_at)
    interrupted = [(start, stop) for start, stop in runs if stop["exit_status"] != "success"]
    assert len(interrupted) <= 1, kill_at  # at most the one run the kill cut short (none if it fell between runs)
    for start, stop in interrupted:
        assert stop["exit_status"] == "abort" and stop["reason"] == INTERRUPTED_REASON
        index = start["step"]["index"]
        redo = next(s for s, p in runs if s["step"]["index"] == index and p["exit_status"] == "success")
        assert redo["redo_of"] == [start["uid"]] and redo["resumed"] is True


@pytest.mark.slow
def test_a_kill_while_a_stop_is_stored_resumes_the_twin_from_that_steps_world(tmp_path):
    """Killed after the journal took step 1's stop (so step 1 counts as finished): the resumed twin
    continues from step 1's checkpoint, so the virtual clock never runs back behind a finished step."""
    runs = _kill_and_resume(tmp_path, DIE_WHILE_STORING_A_STOP, 1)
    finished = sorted(((start, stop) for start, stop in runs if stop["exit_status"] == "success"),
                      key=lambda pair: pair[0]["step"]["index"])
    assert [start["step"]["index"] for start, _ in finished] == [0, 1, 2, 3]
    assert all(start.get("resumed") is not True for start, _ in finished[:2])  # the kill left step 1 finished
    for (_, stop), (start, _) in zip(finished, finished[1:]):
        assert start["time"] >= stop["time"], (start["step"], start["time"], stop["time"])
