"""The campaign commands of the CLI: run (plan printed first), confirm, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from simslab.cli import app
from simslab.devices.drivers.operator_handoff import OperatorHandoff, pending_requests, read_confirmed_location
from simslab.devices.drivers.settings import OperatorHandoffSettings
from simslab.profile import deep_merge, load_yaml
from tests.conftest import SIM_PROFILE
from tests.plans.sessions import GENEROUS_DOSE_BUDGET, QUIET, SMALL_IMAGING_SPEC, SMALL_TWIN


def _profile(tmp_path: Path, **changes) -> Path:
    data = deep_merge(load_yaml(SIM_PROFILE), {**QUIET, **GENEROUS_DOSE_BUDGET, "twin": SMALL_TWIN, **changes})
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_confirm_completes_the_transfer_the_operator_was_asked_for(tmp_path):
    handoff = tmp_path / "handoff"
    operator = {"kind": "operator", "handoff_dir": str(handoff)}
    profile = _profile(tmp_path, devices={"sample_handler": {"driver": operator}})
    driver = OperatorHandoff(OperatorHandoffSettings(kind="operator", handoff_dir=handoff))
    driver.connect()
    driver.request_transfer("exchange_bath", "dip one edge into 6LiNO3")
    assert not driver.transfer_complete()

    listed = CliRunner().invoke(app, ["confirm", "--list", "--profile", str(profile)])
    assert listed.exit_code == 0 and "exchange_bath" in listed.output
    confirmed = CliRunner().invoke(app, ["confirm", "--profile", str(profile)])
    assert confirmed.exit_code == 0, confirmed.output
    assert driver.transfer_complete() and read_confirmed_location(handoff) == "exchange_bath"
    assert pending_requests(handoff) == []


def test_confirm_on_a_simulated_handler_says_there_is_nothing_to_confirm(tmp_path):
    result = CliRunner().invoke(app, ["confirm", "--profile", str(_profile(tmp_path))])
    assert result.exit_code == 2 and "not operated by hand" in result.output


def test_run_prints_the_plan_then_runs_it_into_the_catalog(tmp_path, data_dir):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(yaml.safe_dump({
        "campaign_id": "cli-test", "sample": {"id": "S", "material": "LLTO"}, "exchange": {"duration_s": 3600},
        "imaging": SMALL_IMAGING_SPEC, "dose_budget_ions_per_m2": 1e21,
    }))
    result = CliRunner().invoke(app, ["run", str(campaign), "--profile", str(_profile(tmp_path)), "--data",
                                      str(data_dir)])
    assert result.exit_code == 0, result.output
    plan_at, done_at = result.output.index("estimated time to the end"), result.output.index("runs in")
    assert plan_at < done_at and "isotope exchange 60 min" in result.output
    again = CliRunner().invoke(app, ["run", str(campaign), "--profile", str(_profile(tmp_path)), "--data",
                                     str(data_dir)])
    assert again.exit_code == 2 and "--resume cli-test" in again.output  # a finished campaign is not rerun


def test_run_needs_a_file_or_resume(tmp_path):
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 2 and "give a campaign file, or --resume" in result.output
