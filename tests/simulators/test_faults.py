"""Fault injection: timed faults fire at their time, random ones at their rate, deterministically."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simslab.errors import ConnectionLost, InstrumentError, InstrumentTimeout
from simslab.simulators.faults import FaultInjector
from simslab.simulators.parameters import FaultSpec

START_S = 1.7e9


def injector(*specs: FaultSpec, seed: int = 0) -> FaultInjector:
    return FaultInjector(list(specs), np.random.SeedSequence(seed), START_S)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("instrument_timeout", InstrumentTimeout),
        ("garbled_reply", InstrumentError),
        ("lost_connection", ConnectionLost),
    ],
)
def test_timed_driver_fault_fires_on_the_first_call_at_its_time(kind, error):
    faults = injector(FaultSpec(kind=kind, device="furnace", at_s=100.0))
    faults.check_call("furnace", "furnace", "read PV", START_S + 99.0)
    faults.check_call("stage", "stage", "KRDG? A", START_S + 150.0)  # another device: untouched
    with pytest.raises(error) as caught:
        faults.check_call("furnace", "furnace", "read PV", START_S + 120.0)
    assert caught.value.instrument == "furnace" and caught.value.command == "read PV"
    assert [(f.kind, f.time_s) for f in faults.injected] == [(kind, START_S + 120.0)]
    if kind != "lost_connection":
        faults.check_call("furnace", "furnace", "read PV", START_S + 130.0)  # once only


def test_garbled_reply_carries_the_garbage():
    faults = injector(FaultSpec(kind="garbled_reply", device="potentiostat", at_s=0.0))
    with pytest.raises(InstrumentError) as caught:
        faults.check_call("potentiostat", "potentiostat", ":READ?", START_S)
    assert caught.value.reply and "garbled" in str(caught.value)


def test_lost_connection_stays_lost_until_reconnected_after_the_outage():
    faults = injector(FaultSpec(kind="lost_connection", device="sims", at_s=10.0, duration_s=300.0))
    with pytest.raises(ConnectionLost):
        faults.check_call("sims", "sims", "status", START_S + 10.0)
    with pytest.raises(ConnectionLost):
        faults.check_call("sims", "sims", "status", START_S + 20.0)
    with pytest.raises(ConnectionLost, match="still down"):
        faults.reconnect("sims", "sims", START_S + 200.0)
    faults.reconnect("sims", "sims", START_S + 310.0)
    faults.check_call("sims", "sims", "status", START_S + 320.0)
    assert faults.counts() == {"lost_connection": 1}


@pytest.mark.parametrize("kind", ["thermocouple_break", "heater_fail", "ln2_runout", "compliance", "sims_abort"])
def test_timed_physical_fault_starts_at_its_time_and_recovers_after_its_duration(kind):
    device = {"ln2_runout": "stage", "compliance": "potentiostat", "sims_abort": "sims"}.get(kind, "furnace")
    faults = injector(FaultSpec(kind=kind, device=device, at_s=3600.0, duration_s=600.0))
    assert faults.next_event_s() == START_S + 3600.0
    assert faults.pop_due(START_S + 3599.0) == []
    onset = faults.pop_due(START_S + 3600.0)
    assert [(e.kind, e.phase, e.time_s) for e in onset] == [(kind, "onset", START_S + 3600.0)]
    if kind == "ln2_runout":  # the dewar's refill ends a run-out, not a recovery event
        assert faults.next_event_s() == math.inf
    else:
        assert [(e.phase, e.time_s) for e in faults.pop_due(START_S + 5000.0)] == [("recovery", START_S + 4200.0)]


def test_driver_fault_at_probability_p_fires_at_about_p_per_call():
    p, calls = 0.05, 20000
    faults = injector(FaultSpec(kind="instrument_timeout", device="stage", probability=p))
    fired = 0
    for call in range(calls):
        try:
            faults.check_call("stage", "stage", "KRDG? A", START_S + call)
        except InstrumentTimeout:
            fired += 1
    # binomial: mean 1000, sigma 31; 4 sigma
    assert abs(fired - p * calls) < 4 * math.sqrt(calls * p * (1 - p))


def test_physical_fault_at_probability_p_per_hour_fires_at_the_poisson_rate():
    p, hours = 0.5, 2000
    faults = injector(FaultSpec(kind="ln2_runout", device="stage", probability=p))
    onsets = [e for e in faults.pop_due(START_S + hours * 3600.0) if e.phase == "onset"]
    expected = -math.log(1 - p) * hours  # P(at least one in an hour) = p
    assert abs(len(onsets) - expected) < 4 * math.sqrt(expected)
    assert all(START_S < e.time_s <= START_S + hours * 3600.0 for e in onsets)


def test_faults_repeat_with_the_seed_and_do_not_depend_on_other_devices_calls():
    specs = [
        FaultSpec(kind="garbled_reply", device="stage", probability=0.1),
        FaultSpec(kind="instrument_timeout", device="furnace", probability=0.1),
    ]

    def stage_faults(seed: int, furnace_calls: int) -> list[int]:
        faults = injector(*specs, seed=seed)
        hits = []
        for call in range(500):
            for _ in range(furnace_calls):
                try:
                    faults.check_call("furnace", "furnace", "read PV", START_S + call)
                except InstrumentError:
                    pass
            try:
                faults.check_call("stage", "stage", "KRDG? A", START_S + call)
            except InstrumentError:
                hits.append(call)
        return hits

    assert stage_faults(1, 0) == stage_faults(1, 3)
    assert stage_faults(1, 0) != stage_faults(2, 0)


def test_snapshot_restores_the_injector_exactly():
    spec = FaultSpec(kind="instrument_timeout", device="stage", probability=0.3)
    original = injector(spec)
    for call in range(50):
        try:
            original.check_call("stage", "stage", "q", START_S + call)
        except InstrumentError:
            pass
    copy = injector(spec)
    copy.restore(original.snapshot())
    outcomes = []
    for faults in (original, copy):
        outcome = []
        for call in range(50, 100):
            try:
                faults.check_call("stage", "stage", "q", START_S + call)
                outcome.append(False)
            except InstrumentError:
                outcome.append(True)
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]
    assert original.counts() == copy.counts()


def test_a_restored_injector_fires_a_timed_driver_fault_at_the_original_time():
    """A resumed session builds its injector at the checkpoint's time; the fault keeps its own time."""
    spec = FaultSpec(kind="instrument_timeout", device="potentiostat", at_s=25_000.0)
    original = injector(spec)
    original.check_call("potentiostat", "potentiostat", "q", START_S + 10_000.0)
    resumed = FaultInjector([spec], np.random.SeedSequence(0), START_S + 20_000.0)  # built at the checkpoint
    resumed.restore(original.snapshot())
    resumed.check_call("potentiostat", "potentiostat", "q", START_S + 24_999.0)
    with pytest.raises(InstrumentTimeout):
        resumed.check_call("potentiostat", "potentiostat", "q", START_S + 25_001.0)


def test_a_physical_fault_on_the_wrong_device_is_refused():
    with pytest.raises(ValueError, match="belongs to device 'furnace'"):
        FaultSpec(kind="thermocouple_break", device="stage", at_s=0.0)
