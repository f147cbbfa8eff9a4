"""Campaign files: the examples rebuild the published campaigns; bad values never reach an instrument."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simslab.campaign import Campaign, load_campaign, plan_steps, planned_dose_ions_per_m2
from simslab.errors import ValidationErrors
from simslab.plans import CRYO_IMAGE, CRYO_LINE_SCAN
from simslab.profile import load_profile
from tests.conftest import REPO, SIM_PROFILE

EXAMPLES = sorted((REPO / "campaigns").glob("*.yaml"))
HOUR, DAY = 3600.0, 86400.0


@pytest.fixture(scope="module")
def profile():
    return load_profile(SIM_PROFILE)


def _kinds(path: Path, profile) -> list[tuple[str, float | None]]:
    steps = plan_steps(load_campaign(path, profile), profile)
    return [(s.kind, s.details.get("duration_s")) for s in steps]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates_against_the_sim_profile(path, profile):
    campaign = load_campaign(path, profile)
    steps = plan_steps(campaign, profile)
    assert steps and all(s.estimated_duration_s > 0 for s in steps)
    assert [s.index for s in steps] == list(range(len(steps)))


def test_examples_rebuild_the_published_campaigns(profile):
    campaigns = REPO / "campaigns"
    assert _kinds(campaigns / "llto-59h-exchange-16d-storage.yaml", profile) == [
        ("exchange", 59 * HOUR), ("cryo_sims", None), ("storage", 16 * DAY), ("cryo_sims", None)]
    assert _kinds(campaigns / "llto-110h-exchange-2w-6w-storage.yaml", profile) == [
        ("exchange", 110 * HOUR), ("cryo_sims", None), ("storage", 14 * DAY), ("cryo_sims", None),
        ("storage", 28 * DAY), ("cryo_sims", None)]  # imaged after 2 and after 6 weeks
    anneal = load_campaign(campaigns / "llto-63h-exchange-200c-anneal.yaml", profile)
    assert anneal.exchange.duration_s == 63 * HOUR
    assert (anneal.steps[0].temperature_k, anneal.steps[0].duration_s) == (473.15, pytest.approx(3.8 * HOUR))
    series = load_campaign(campaigns / "llto-temperature-series.yaml", profile)
    temperatures = [s.temperature_k - 273.15 for s in series.steps]
    assert temperatures == pytest.approx([22, 100, 200, 300, 400])
    operando = load_campaign(campaigns / "operando-2-cycles-6uA.yaml", profile).steps[0]
    assert (operando.cycling.cycles, operando.cycling.charge_current_a, operando.cycling.cv_hold_s) == (2, 6e-6, 3600)
    demo = _kinds(campaigns / "demo.yaml", profile)
    assert [k for k, _ in demo] == ["exchange", "cryo_sims"] + ["anneal", "cryo_sims"] * 3 + ["operando"]


def test_published_imaging_is_the_default_of_the_diffusion_examples(profile):
    campaign = load_campaign(REPO / "campaigns" / "llto-59h-exchange-16d-storage.yaml", profile)
    assert campaign.imaging.image == CRYO_IMAGE
    assert campaign.imaging.line_scan == CRYO_LINE_SCAN


def test_partial_acquisition_sections_keep_the_other_defaults(profile):
    campaign = load_campaign(REPO / "campaigns" / "demo.yaml", profile)
    image = campaign.imaging.image
    assert image.integration_s == 1800  # given
    assert image.pixels == (512, 206) and image.primary.current_a == 0.5e-12  # kept
    assert campaign.imaging.line_scan.sputter.species == "Cs+"


BAD = [
    ({"steps": [{"kind": "anneal", "temperature_k": 1373.15, "duration_s": 3600}]},
     "steps[0].temperature_k", 1373.15, "293.15 to 673.15 K (furnace limits of profile sim)"),
    ({"steps": [{"kind": "storage", "duration_s": -86400}]}, "steps[0].duration_s", -86400, "greater than 0"),
    ({"exchange": {"duration_s": -1}}, "exchange.duration_s", -1, "greater than 0"),
    ({"steps": [{"kind": "operando", "cell": {"id": "c", "material": "m"}, "cycling": {"max_voltage_v": 3.4}}]},
     "steps[0].cycling.max_voltage_v", 3.4, "1 to 3 V (the cell's safety window of profile sim)"),
    ({"monitor": ["oven"]}, "monitor[0]", "oven", "one of stage, furnace, potentiostat, sample_handler"),
    ({"steps": [{"kind": "bake", "duration_s": 60}]}, "steps[0].kind", "bake", "'anneal', 'storage', 'operando'"),
    ({"dose_budget_ions_per_m2": 1.0e17}, "dose_budget_ions_per_m2", 1.0e17, "the dose the campaign's cryo-SIMS"),
    ({"steps": [{"kind": "anneal", "temperature_k": 473.15, "duration_s": 60, "ramp_k_per_s": 5.0}]},
     "steps[0].ramp_k_per_s", 5.0, "furnace ramp limit"),
]


def _write(tmp_path: Path, changes: dict) -> Path:
    base = yaml.safe_load((REPO / "campaigns" / "llto-63h-exchange-200c-anneal.yaml").read_text())
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump({**base, **changes}))
    return path


@pytest.mark.parametrize(("changes", "field", "value", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_bad_values_name_file_field_value_and_allowed_range(tmp_path, profile, changes, field, value, allowed):
    path = _write(tmp_path, changes)
    with pytest.raises(ValidationErrors) as caught:
        load_campaign(path, profile)
    matching = [e for e in caught.value.errors if e.field == field]
    assert matching, [str(e) for e in caught.value.errors]
    assert matching[0].source == str(path) and matching[0].value == value
    assert allowed in matching[0].allowed


def test_all_bad_values_are_reported_at_once(tmp_path, profile):
    path = _write(tmp_path, {"steps": [{"kind": "anneal", "temperature_k": 900.0, "duration_s": 60}],
                             "monitor": ["oven"]})
    with pytest.raises(ValidationErrors) as caught:
        load_campaign(path, profile)
    assert {e.field for e in caught.value.errors} == {"steps[0].temperature_k", "monitor[0]"}


def test_planned_dose_counts_every_cryo_sims_run(profile):
    campaign = load_campaign(REPO / "campaigns" / "llto-63h-exchange-200c-anneal.yaml", profile)
    # two cryo-SIMS runs, each a 5 h map (5.62e17 ions/m^2) and a 30 min line scan over 500 x 50 um (2.25e17)
    assert planned_dose_ions_per_m2(campaign)["diffusion_window"] == pytest.approx(2 * (5.62e17 + 2.25e17), rel=1e-3)


def test_estimates_cover_the_waits_and_the_temperature_changes(profile):
    campaign = load_campaign(REPO / "campaigns" / "llto-63h-exchange-200c-anneal.yaml", profile)
    exchange, cryo, anneal, _ = plan_steps(campaign, profile)
    assert exchange.estimated_duration_s >= 63 * HOUR
    # the anneal: ramp 178 K at 0.2 K/s (15 min), 3.8 h hold, natural cooling to 50 C (~1.5 h at tau = 50 min)
    assert 3.8 * HOUR + 0.25 * HOUR + HOUR < anneal.estimated_duration_s < 8 * HOUR
    assert cryo.estimated_duration_s > 5.5 * HOUR  # a 5 h map and a 40 min line scan


def test_the_spec_round_trips_through_a_start_document(profile):
    campaign = load_campaign(REPO / "campaigns" / "demo.yaml", profile)
    assert Campaign.model_validate(yaml.safe_load(yaml.safe_dump(campaign.spec()))) == campaign


def test_an_invalid_campaign_never_reaches_a_device(tmp_path, data_dir, monkeypatch):
    from simslab.cli import app
    from simslab.session import Session

    built = []
    monkeypatch.setattr(Session, "from_profile", classmethod(lambda cls, *a, **k: built.append(a)))
    path = _write(tmp_path, {"steps": [{"kind": "anneal", "temperature_k": 1373.15, "duration_s": 3600}]})
    result = CliRunner().invoke(app, ["run", str(path), "--profile", str(SIM_PROFILE)])
    assert result.exit_code == 2
    assert built == []  # no session: no driver was opened, no device connected
    assert not data_dir.exists()  # not even the catalog was created
    assert "steps[0].temperature_k = 1373.15 is not allowed: 293.15 to 673.15 K" in result.output
