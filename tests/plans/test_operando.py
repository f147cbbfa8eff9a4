"""Operando imaging: images while the current flows, each with its charge window; the dose budget; the safety window."""

from __future__ import annotations

import pytest

from simslab import plans
from simslab.errors import InterlockError
from simslab.plans import CyclingProtocol, ImageSchedule, expected_dose_ions_per_m2

from .sessions import SHORT_OPERANDO_IMAGE, DocumentLog

ONE_CYCLE = CyclingProtocol(cycles=1, rest_s=600.0, charge_current_a=6e-6, cv_hold_s=3600.0, capacity_c=0.0936)


def _operando(session, schedule, **kwargs):
    d = session.devices
    return plans.operando_cycling(d["potentiostat"], d["sims"], session.clock, cycling=ONE_CYCLE,
                                  acquisition=SHORT_OPERANDO_IMAGE, schedule=schedule, **kwargs)


def _images(docs):
    keys = ("sims-acquired_region", "operando-cell_step", "operando-reason", "operando-charge_start",
            "operando-charge_end",
            "operando-time_start", "operando-time_end", "potentiostat-current", "sims-dose")
    return [{k: e["data"][k] for k in keys} for e in docs.streams().get("image", [])]


def test_images_record_the_charge_they_integrated_over_while_the_current_flows(session, docs):
    session.RE(_operando(session, ImageSchedule(every_s=5400.0)))
    assert docs.stop_of()["exit_status"] == "success"
    images = _images(docs)
    assert [i["sims-acquired_region"] for i in images[:4]] == ["anode", "cathode", "anode", "cathode"]
    timed = [i for i in images if i["operando-cell_step"] == "charge" and i["operando-reason"] == "every_s"]
    assert len(timed) >= 4, "image sets were taken while the CC charge ran"
    rates = []
    for image in timed:
        window_s = image["operando-time_end"] - image["operando-time_start"]
        assert window_s >= SHORT_OPERANDO_IMAGE.integration_s
        rates.append((image["operando-charge_end"] - image["operando-charge_start"]) / window_s)
    # constant current: the charge over an image is 6 uA x its duration (the twin's source is exact; 1 %
    # covers the read timing); only the last set may straddle the 2.7 V cut-off and see less
    assert rates[:-2] == pytest.approx([6e-6] * (len(rates) - 2), rel=0.01)
    assert max(rates) <= 6e-6 * 1.01
    ends = [i for i in images if i["operando-reason"] == "step_end" and i["operando-cell_step"] != "cv_hold"]
    for image in ends:  # after a CC step the cell rests at open circuit: no charge passes
        assert image["operando-charge_end"] - image["operando-charge_start"] == pytest.approx(0.0, abs=1e-9)
    discharging = [i for i in images if i["operando-cell_step"] == "discharge" and i["operando-reason"] == "every_s"]
    assert discharging and all(i["operando-charge_end"] < i["operando-charge_start"] for i in discharging)
    streams = docs.streams()
    voltages = [e["data"]["potentiostat-voltage"] for e in streams["potentiostat-voltage_monitor"]]
    # the charge reached its 2.7 V cut-off and the discharge its 1.5 V one (each may pass it by a 30 s
    # poll's worth where the voltage moves fast), and the safety window 1-3 V held throughout
    assert 2.7 <= max(voltages) < 3.0
    assert 1.0 < min(voltages) <= 1.5
    assert len(streams["potentiostat-charge_monitor"]) > 100


def test_the_dose_budget_refuses_images_and_says_so(session, docs):
    per_image = expected_dose_ions_per_m2(SHORT_OPERANDO_IMAGE)  # 0.04 pA, 300 s on 80 x 30 um: 3.1e16
    budget = 2.5 * per_image
    session.RE(_operando(session, ImageSchedule(every_s=5400.0), dose_budget_ions_per_m2=budget))
    assert docs.stop_of()["exit_status"] == "success"
    images = _images(docs)
    for region in ("anode", "cathode"):
        taken = [i for i in images if i["sims-acquired_region"] == region]
        assert len(taken) == 2  # two fit, the third would exceed 2.5 images' worth
        assert max(i["sims-dose"] for i in taken) <= budget
    refusals = [e["data"] for e in docs.streams()["dose_refusals"]]
    assert {r["operando-region"] for r in refusals} == {"anode", "cathode"}
    for refusal in refusals:
        assert refusal["operando-dose_before"] + refusal["operando-expected_dose"] > refusal["operando-dose_budget"]
        assert refusal["operando-expected_dose"] == pytest.approx(per_image)


def test_a_voltage_outside_the_safety_window_switches_the_cell_off(make_session):
    # an injected contact fault adds 1 MOhm: at 6 uA the cell reads ~6 V, outside the profile's 1-3 V
    session = make_session({"twin": {"faults": [{"kind": "compliance", "device": "potentiostat", "at_s": 3600.0}]}})
    docs = DocumentLog()
    session.RE.subscribe(docs)
    with pytest.raises(InterlockError, match="outside the safety window"):
        session.RE(_operando(session, ImageSchedule(every_s=5400.0)))
    stop = docs.stop_of()
    assert stop["exit_status"] == "fail" and "cell switched off" in stop["reason"]
    assert session.lab.cell.state_at(session.clock.now()).mode == "off"
    assert session.lab.acquisition_state().state != "running"  # the beam is off too
