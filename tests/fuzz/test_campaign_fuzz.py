"""Generated campaign files: loading raises only validation errors, and nothing invalid reaches the lab.

The bases are the shipped campaigns (campaigns/*.yaml), mutated field by field and step by
step, checked against the simulated-lab profile. A campaign that loads must expand into its
steps with finite, non-negative duration estimates and a finite planned dose, and its profile
overrides must give a profile that loads. One that does not load must stop ``simslab run``
with exit code 2 before any session (catalog, twin, drivers, devices) is opened.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from typer.testing import CliRunner

from simslab.campaign import load_campaign, plan_steps, planned_dose_ions_per_m2
from simslab.cli import app
from simslab.errors import SimslabError, ValidationError, ValidationErrors
from simslab.profile import load_profile
from simslab.runner import campaign_overrides
from tests.conftest import REPO, SIM_PROFILE
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.document_mutations import mutated_documents, raw_files

CAMPAIGNS = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted((REPO / "campaigns").glob("*.yaml"))]
STEPS = {("steps", 0): [step for campaign in CAMPAIGNS for step in campaign.get("steps", [])]}
"""Any shipped step may replace the first step of another campaign."""
PROFILE = load_profile(SIM_PROFILE)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="simslab-fuzz-") as directory:
        yield Path(directory)


@fuzz_settings(80)
@given(campaign=mutated_documents(CAMPAIGNS, max_mutations=4, sections=STEPS))
def test_a_generated_campaign_loads_or_raises_a_validation_error(folder: Path, campaign: dict):
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, allow_unicode=True), encoding="utf-8")
    try:
        loaded = load_campaign(path, PROFILE)
    except (ValidationError, ValidationErrors) as err:
        assert str(path) in str(err)  # the message names the file
        return
    steps = plan_steps(loaded, PROFILE)
    assert steps and all(math.isfinite(s.estimated_duration_s) and s.estimated_duration_s >= 0 for s in steps), steps
    assert all(math.isfinite(dose) and dose >= 0 for dose in planned_dose_ions_per_m2(loaded).values())
    load_profile(SIM_PROFILE, campaign_overrides(loaded))


@fuzz_settings(60)
@example(content=b"\x80")  # found by the profile's twin of this test: a file that is not UTF-8
@given(content=raw_files())
def test_any_campaign_file_content_loads_or_raises_a_validation_error(folder: Path, content: bytes):
    path = folder / "raw-campaign.yaml"
    path.write_bytes(content)
    try:
        load_campaign(path, PROFILE)
    except SimslabError as err:
        assert isinstance(err, (ValidationError, ValidationErrors)), repr(err)


@fuzz_settings(20)
@given(campaign=mutated_documents(CAMPAIGNS, max_mutations=3, sections=STEPS))
def test_an_invalid_campaign_never_opens_a_session(folder: Path, monkeypatch: pytest.MonkeyPatch, campaign: dict):
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(campaign, allow_unicode=True), encoding="utf-8")
    try:
        load_campaign(path, PROFILE)
    except SimslabError:
        pass
    else:
        return  # a valid campaign would start the lab: not this test's business

    def reached(*args, **kwargs):
        raise AssertionError("an invalid campaign opened a session")

    monkeypatch.setattr("simslab.runner.open_campaign_session", reached)
    monkeypatch.setattr("simslab.session.Session.build", reached)
    result = CliRunner().invoke(app, ["run", str(path), "--data", str(folder / "data")])
    assert result.exit_code == 2, result.output
