"""The operando image schedule and cycling protocol, as plain arithmetic."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simslab.devices import ConstantCurrent, ConstantVoltage, Rest
from simslab.plans import CyclingProtocol, ImageSchedule, ScheduleTracker


def test_cycling_runs_rest_then_charge_cv_discharge_per_cycle():
    phases = CyclingProtocol(cycles=2, rest_s=600, cv_hold_s=3600, charge_current_a=6e-6).phases()
    assert [(p.kind, p.cycle) for p in phases] == [("rest", 0), ("charge", 1), ("cv_hold", 1), ("discharge", 1),
                                                   ("charge", 2), ("cv_hold", 2), ("discharge", 2)]
    assert isinstance(phases[0].step, Rest)
    charge, hold, discharge = phases[1].step, phases[2].step, phases[3].step
    assert isinstance(charge, ConstantCurrent) and charge.current_a == 6e-6 and charge.cutoff_voltage_v == 2.7
    assert isinstance(hold, ConstantVoltage) and hold.voltage_v == 2.7 and hold.max_duration_s == 3600
    assert discharge.current_a == -6e-6 and discharge.cutoff_voltage_v == 1.5


def test_cycling_rejects_a_window_upside_down():
    with pytest.raises(ValidationError, match="must be below max_voltage_v"):
        CyclingProtocol(min_voltage_v=2.8, max_voltage_v=2.7)


def test_images_every_so_many_seconds():
    tracker = ScheduleTracker(ImageSchedule(every_s=3600.0))
    assert tracker.due("charge", 0.0, 0.0) == "every_s"  # nothing taken yet
    tracker.taken(0.0, 0.0)
    assert tracker.due("charge", 3599.0, 0.0) is None
    assert tracker.due("charge", 3600.0, 0.0) == "every_s"


def test_images_every_so_much_charge_in_either_direction():
    tracker = ScheduleTracker(ImageSchedule(every_charge_c=0.01))
    tracker.taken(0.0, 0.05)
    assert tracker.due("charge", 10.0, 0.059) is None
    assert tracker.due("charge", 10.0, 0.061) == "every_charge"
    assert tracker.due("discharge", 10.0, 0.039) == "every_charge"


def test_images_at_states_of_charge_on_the_way_up_and_down():
    tracker = ScheduleTracker(ImageSchedule(at_state_of_charge=(0.5,), during=()), capacity_c=0.1)
    tracker.start_cycle(1.0)
    assert tracker.due("charge", 0.0, 1.04) is None  # SOC 0.4
    assert tracker.due("charge", 30.0, 1.051) == "soc=0.50"  # crossed 0.5 going up
    assert tracker.due("charge", 60.0, 1.08) is None
    assert tracker.due("discharge", 90.0, 1.045) == "soc=0.50"  # and going down


def test_timed_images_only_in_the_phases_asked_for():
    tracker = ScheduleTracker(ImageSchedule(every_s=60.0, during=("charge",)))
    assert tracker.due("rest", 0.0, 0.0) is None
    assert tracker.due("charge", 0.0, 0.0) == "every_s"


def test_states_of_charge_need_a_capacity():
    with pytest.raises(ValueError, match="capacity_c"):
        ScheduleTracker(ImageSchedule(at_state_of_charge=(0.5,)))
