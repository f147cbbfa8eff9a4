"""Interlocks refuse before anything acts: no anneal with the sample on the cold stage, no SIMS with a warm stage."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest

from simslab import plans
from simslab.errors import InterlockError
from simslab.plans import ImagingInterlock

from .sessions import SMALL_IMAGE


def _sample_on_stage_at(session, temperature_k: float):
    d = session.devices
    yield from bps.mv(d["sample_handler"], "cryo_stage")
    yield from bps.mv(d["stage"], temperature_k)


def _record_calls(monkeypatch, driver, method: str) -> list:
    calls: list = []
    original = getattr(driver, method)

    def recording(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(driver, method, recording)
    return calls


def test_anneal_refused_while_sample_on_cold_stage(session, docs, monkeypatch):
    d = session.devices
    session.RE(_sample_on_stage_at(session, 163.15))
    setpoints = _record_calls(monkeypatch, session.drivers["furnace"], "set_setpoint_k")
    transfers = _record_calls(monkeypatch, session.drivers["sample_handler"], "request_transfer")

    with pytest.raises(InterlockError, match="anneal refused: the sample sits on the cold stage"):
        session.RE(plans.anneal(d["furnace"], d["sample_handler"], d["stage"], temperature_k=473.15, hold_s=3600.0))

    assert setpoints == [] and transfers == []  # the furnace never heated, the sample never moved
    assert session.lab.location == "cryo_stage"
    stop = docs.stop_of()
    assert stop["exit_status"] == "fail"
    assert "anneal refused" in stop["reason"]


def test_anneal_allowed_once_the_stage_is_warm(session, docs):
    """The same anneal runs when the stage holding the sample is at room temperature (the interlock is specific)."""
    d = session.devices
    session.RE(bps.mv(d["sample_handler"], "cryo_stage"))
    session.RE(plans.anneal(d["furnace"], d["sample_handler"], d["stage"], temperature_k=373.15, hold_s=600.0,
                            then_to="storage"))
    assert docs.stop_of()["exit_status"] == "success"
    furnace = docs.column("furnace-temperature_monitor", "furnace-temperature")
    # the hold reached 100 C: within the furnace's settle tolerance of 2 K (profile)
    assert max(value for _, value in furnace) == pytest.approx(373.15, abs=2.0 + 0.03 * 78)  # + 3 % overshoot
    assert session.lab.location == "storage"


def test_sims_refused_while_stage_is_warm(session, docs, monkeypatch):
    d = session.devices
    session.RE(bps.mv(d["sample_handler"], "cryo_stage"))  # on the stage, stage at room temperature
    starts = _record_calls(monkeypatch, session.drivers["sims"], "start_acquisition")

    with pytest.raises(InterlockError, match="SIMS refused: stage at 29"):
        session.RE(plans.sims_image(d["sims"], acquisition=SMALL_IMAGE,
                                    interlock=ImagingInterlock.for_stage(d["stage"])))

    assert starts == []  # no beam on the sample
    assert "image" not in docs.streams()
    assert "outside the imaging temperature" in docs.stop_of()["reason"]


def test_sims_allowed_on_a_cold_stage(session, docs):
    d = session.devices
    session.RE(_sample_on_stage_at(session, 163.15))
    session.RE(plans.sims_image(d["sims"], acquisition=SMALL_IMAGE, interlock=ImagingInterlock.for_stage(d["stage"])))
    assert docs.stop_of()["exit_status"] == "success"
    assert len(docs.streams()["image"]) == 1


def test_sample_does_not_leave_a_cold_stage(session, docs):
    d = session.devices
    session.RE(_sample_on_stage_at(session, 163.15))

    def move_out():
        yield from bps.open_run()
        yield from plans.transfer_sample(d["sample_handler"], "storage", stage_temperature=d["stage"].temperature)
        yield from bps.close_run()

    with pytest.raises(InterlockError, match="transfer to storage refused"):
        session.RE(move_out())
    assert session.lab.location == "cryo_stage"
