"""Profiles: the shipped ones load; a bad one fails at load naming file, field, value, allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from simslab.devices.drivers.settings import LakeShoreSettings, TwinDriverSettings
from simslab.errors import ValidationError, ValidationErrors
from simslab.profile import EmbeddedCatalogSettings, ServerCatalogSettings, data_directory, load_profile

from ..conftest import LAB_PROFILE, SIM_PROFILE


def test_sim_profile_simulates_everything_on_a_virtual_clock():
    profile = load_profile(SIM_PROFILE)
    assert profile.simulated and profile.clock == "virtual"
    assert isinstance(profile.catalog, EmbeddedCatalogSettings)
    assert all(isinstance(getattr(profile.devices, n).driver, TwinDriverSettings)
               for n in ("stage", "furnace", "potentiostat", "sims", "sample_handler"))
    assert profile.devices.stage.imaging_temperature_k == pytest.approx(163.15)  # -110 C


def test_lab_profile_uses_real_drivers_and_a_server_catalog():
    profile = load_profile(LAB_PROFILE)
    assert not profile.simulated and profile.clock == "wall"
    assert isinstance(profile.devices.stage.driver, LakeShoreSettings)
    assert isinstance(profile.catalog, ServerCatalogSettings)
    assert profile.catalog.api_key_env == "SIMSLAB_TILED_API_KEY"


@pytest.mark.parametrize(
    ("override", "field", "value", "allowed"),
    [
        ({"devices": {"furnace": {"limits": {"max_k": -5}}}}, "devices.furnace.limits.max_k", -5, "greater than 0"),
        ({"clock": "sundial"}, "clock", "sundial", "'wall' or 'virtual'"),
        ({"devices": {"stage": {"driver": {"kind": "lakeshore336", "resource": "ASRL1::INSTR", "baud_rate": 0}}}},
         "devices.stage.driver.baud_rate", 0, "greater than 0"),
        ({"devices": {"stage": {"settle": {"tolerance_k": 80}}}}, "devices.stage.settle.tolerance_k", 80,
         "less than or equal to 50"),
        ({"devices": {"potentiostat": {"limits": {"min_voltage_v": 3.5}}}}, "devices.potentiostat.limits", None,
         "must be below max_voltage_v"),
        ({"twin": {"faults": [{"kind": "ln2_runout", "device": "stage"}]}}, "twin.faults[0]", None,
         "exactly one of at_s or probability"),
        ({"devices": {"sims": {"driver": {"kind": "iontof"}}}}, "devices.sims.driver.kind", "iontof",
         "one of 'twin', 'iontof_handoff'"),
        ({"furnace": {}}, "furnace", None, "Extra inputs are not permitted"),
    ],
)
def test_bad_profile_names_file_field_value_and_allowed(override, field, value, allowed):
    with pytest.raises(ValidationErrors) as caught:
        load_profile(SIM_PROFILE, override)
    matching = [e for e in caught.value.errors if e.field == field]
    assert matching, [e.field for e in caught.value.errors]
    err = matching[0]
    assert err.source == str(SIM_PROFILE)
    if value is not None:
        assert err.value == value
    assert allowed in err.allowed
    assert str(SIM_PROFILE) in str(caught.value) and field in str(caught.value)


def test_api_key_in_the_file_is_refused(tmp_path: Path):
    with pytest.raises(ValidationErrors, match="api_key must not be written"):
        load_profile(LAB_PROFILE, {"catalog": {"api_key": "secret"}})


def test_yaml_syntax_error_names_the_line(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndevices:\n  stage: [unclosed\n")
    with pytest.raises(ValidationError) as caught:
        load_profile(bad)
    assert caught.value.source == str(bad) and caught.value.field.startswith("line ")


def test_data_directory_default_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("SIMSLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert data_directory() == tmp_path / "simslab-data"
    monkeypatch.setenv("SIMSLAB_DATA", str(tmp_path / "elsewhere"))
    assert data_directory() == tmp_path / "elsewhere"
