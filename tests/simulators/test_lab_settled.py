"""Reads at an instant the world already reached skip the advance, and change nothing by it.

A device reads several signals at one virtual instant; the lab advances its world once per
instant and answers the other calls from it. The check: the same script of twin-driver calls
(writes, reads at repeated instants, a transfer, an image) gives bit-identical answers and
snapshots whether or not the lab skips, and the skipping lab advanced far less often.
"""

from __future__ import annotations

import numpy as np
import pytest

from simslab.clock import ManualClock
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel

pytest.importorskip("simslab.simulators.tracer_sample")

from simslab.simulators.lab import SimulatedLab  # noqa: E402
from simslab.simulators.twin_drivers import make_twin_drivers  # noqa: E402

START_S = 1.7e9
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}
IMAGE = AcquisitionRequest(
    kind="image", region="diffusion_window", masses=(MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016)),
    primary=Beam("Bi+", 30e3, 0.5e-12, (64e-6, 32e-6)), pixels=(64, 32), integration_s=1800.0, output_name="map",
)


def test_skipping_the_advance_at_a_reached_instant_changes_no_answer_and_no_state(twin_params, monkeypatch):
    skipping, skipping_advances = run_script(twin_params)
    monkeypatch.setattr(SimulatedLab, "_settled_at", lambda self, now: False)  # the old way: advance every call
    advancing, advancing_advances = run_script(twin_params)
    assert skipping["answers"] == advancing["answers"]  # exact: floats compared bit for bit
    assert_same(skipping["snapshot"], advancing["snapshot"])
    # one advance per instant and per change instead of one per call (the script makes ~6 calls per instant)
    assert skipping_advances < advancing_advances / 3


def run_script(twin_params) -> tuple[dict, int]:
    """Drive a lab through the twin drivers as the devices would; return its answers, snapshot and advances."""
    clock = ManualClock(START_S)
    lab = SimulatedLab(twin_params(**SMALL_SAMPLE), clock)
    advances = []
    advance = lab._advance  # noqa: SLF001 - counting the lab's full advances is the point of the test
    lab._advance = lambda: advances.append(1) or advance()  # noqa: SLF001
    drivers = make_twin_drivers(lab)
    for driver in drivers.values():
        driver.connect()
    stage, level, furnace, handler, sims = (drivers[k] for k in ("stage", "level_meter", "furnace",
                                                                  "sample_handler", "sims"))
    answers = []

    def read_everything() -> None:  # one "event": every signal of the stage and furnace at one instant
        answers.append((stage.read_temperature_k(), stage.read_setpoint_k(), stage.is_ramping(),
                        stage.read_heater_fraction(), stage.read_heater_error(), level.read_level_fraction(),
                        furnace.read_temperature_k(), furnace.read_output_fraction(), lab.sample_temperature_k()))

    stage.set_ramp_k_per_s(0.5)
    stage.set_setpoint_k(163.15)
    read_everything()  # at the instant of the write: the write is seen
    answers.append(stage.read_setpoint_k())
    handler.request_transfer("cryo_stage")
    for step in range(120):
        clock.advance(7.3)
        read_everything()
        read_everything()  # a second read at the same instant
        if step == 40:
            furnace.set_setpoint_k(600.0)
            read_everything()
        if step == 100:  # after the transfer (600 s)
            sims.start_acquisition(IMAGE)
            read_everything()
        if step == 110:  # a write, then the history at the same instant: it must hold the write's commit
            stage.set_setpoint_k(165.0)
            answers.append(lab.sample_thermal_history())
    clock.advance(IMAGE.integration_s + 60.0)
    answers.append(sims.read_acquisition().state)
    result = sims.fetch_result()
    answers.append({label: counts.tobytes() for label, counts in result.counts.items()})
    read_everything()
    return {"answers": answers, "snapshot": lab.snapshot()}, len(advances)


def assert_same(a, b, path: str = "snapshot") -> None:
    """Assert two snapshots hold the same data, arrays equal element for element."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{index}]")
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    else:
        assert a == b or (a != a and b != b), path  # NaN equals NaN here
