"""Generated profiles: loading raises only simslab's validation errors, and nothing invalid reaches a device.

A profile that loads must be one the devices accept as it is (constructing each device from
its settings raises nothing): a value the devices would refuse belongs in the profile's
validation, where the user sees file, field and allowed range. A profile that does not load
must stop ``Session.from_profile`` before any catalog, twin, driver or device is made.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

from simslab.clock import ManualClock
from simslab.devices import make_cryo_stage, make_furnace, make_potentiostat, make_sample_handler, make_tofsims
from simslab.errors import SimslabError, ValidationError, ValidationErrors
from simslab.profile import Profile, load_profile
from simslab.session import Session
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.document_mutations import raw_files
from tests.fuzz.profile_strategies import profile_dicts



@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory(prefix="simslab-fuzz-") as directory:
        yield Path(directory)


@pytest.fixture
def no_session_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every part a session builds fail loudly if it is reached."""

    def reached(*args, **kwargs):
        raise AssertionError("an invalid profile reached the session's parts")

    for part in ("_simulated_lab", "_open_drivers", "_make_devices"):
        monkeypatch.setattr(f"simslab.session.{part}", reached)
    monkeypatch.setattr("simslab.session.Catalog.open", reached)


@fuzz_settings(60)
@given(profile=profile_dicts())
def test_a_generated_profile_loads_or_raises_a_validation_error(folder: Path, profile: dict):
    path = folder / "profile.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    try:
        loaded = load_profile(path)
    except (ValidationError, ValidationErrors) as err:
        assert str(path) in str(err)  # the message names the file
        return
    build_devices_of(loaded)


@fuzz_settings(60)
@example(content=b"\x80")  # found by this test: a file that is not UTF-8
@given(content=raw_files())
def test_any_file_content_loads_or_raises_a_validation_error(folder: Path, content: bytes):
    path = folder / "raw.yaml"
    path.write_bytes(content)
    try:
        build_devices_of(load_profile(path))
    except SimslabError as err:
        assert isinstance(err, (ValidationError, ValidationErrors)), repr(err)


@fuzz_settings(20)
@given(profile=profile_dicts(max_mutations=3))
def test_an_invalid_profile_never_reaches_a_session_part(folder: Path, no_session_parts: None, profile: dict):
    path = folder / "session.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    try:
        load_profile(path)
    except SimslabError as expected:
        with pytest.raises(type(expected)):
            Session.from_profile(path)


def build_devices_of(profile: Profile) -> None:
    """Construct the five devices from a profile's settings (no driver: nothing is opened)."""
    clock = ManualClock(1.7e9)
    devices = profile.devices
    files = StaticPathProvider(UUIDFilenameProvider(), Path(tempfile.gettempdir()) / "simslab-fuzz-sims")
    make_cryo_stage(None, devices.stage, clock)
    make_furnace(None, devices.furnace, clock)
    make_potentiostat(None, devices.potentiostat, clock)
    make_tofsims(None, devices.sims, clock, files)
    make_sample_handler(None, devices.sample_handler, clock)
