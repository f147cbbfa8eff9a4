"""The simulated world: the sample's history follows its location, waits are cheap, seeds repeat,
snapshots resume exactly, and the dose ledger counts the primary ions."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from scipy.constants import elementary_charge

from simslab.clock import ManualClock
from simslab.devices.drivers.protocols import AcquisitionRequest, Beam, MassChannel

pytest.importorskip("simslab.simulators.tracer_sample")
pytest.importorskip("simslab.simulators.sims_image")

from simslab.simulators.lab import SimulatedLab  # noqa: E402

START_S = 1.7e9
HOUR = 3600.0
IMAGING_K = 163.15
# a small field of view keeps the sample cheap: 64 x 32 pixels of 1 um
SMALL_SAMPLE = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}
LITHIUM = (MassChannel("6Li+", 6.015), MassChannel("7Li+", 7.016))


def tracer_image(name: str, integration_s: float = HOUR, pixels: tuple[int, int] = (64, 32)) -> AcquisitionRequest:
    return AcquisitionRequest(
        kind="image",
        region="diffusion_window",
        masses=LITHIUM,
        primary=Beam("Bi+", 30e3, 0.5e-12, (64e-6, 32e-6)),
        pixels=pixels,
        integration_s=integration_s,
        output_name=name,
        cleaning=Beam("Ar2000+", 10e3, 1e-9, (700e-6, 700e-6)),
        cleaning_time_s=300.0,
    )


def make_lab(twin_params, **overrides) -> tuple[SimulatedLab, ManualClock]:
    clock = ManualClock(START_S)
    return SimulatedLab(twin_params(**{**SMALL_SAMPLE, **overrides}), clock), clock


def wait(lab: SimulatedLab, clock: ManualClock, seconds: float, step_s: float = 60.0) -> list[float]:
    """Advance the clock reading the sample's temperature every ``step_s``; return the readings."""
    readings = []
    for _ in range(int(seconds / step_s)):
        clock.advance(step_s)
        readings.append(lab.sample_temperature_k())
    return readings


def exchange_then_image(lab: SimulatedLab, clock: ManualClock) -> None:
    """Exchange 10 h, transfer to the stage, cool to -110 C, image 1 h."""
    lab.request_transfer("exchange_bath")
    clock.advance(lab.params.transfer_s + 10 * HOUR)
    lab.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    with lab.at_now() as now:
        lab.stage.set_setpoint_k(now, IMAGING_K)
    clock.advance(HOUR)
    lab.start_acquisition(tracer_image("after-exchange"))
    clock.advance(HOUR + 300.0)


def test_sample_temperature_history_follows_its_location(twin_params):
    lab, clock = make_lab(twin_params)
    lab.request_transfer("exchange_bath")
    clock.advance(lab.params.transfer_s + 10 * HOUR)
    lab.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    with lab.at_now() as now:
        lab.stage.set_setpoint_k(now, IMAGING_K)
    on_stage = wait(lab, clock, 2 * HOUR)
    lab.request_transfer("furnace")
    clock.advance(lab.params.transfer_s)
    with lab.at_now() as now:
        lab.furnace.set_ramp_k_per_s(now, 0.1)
        lab.furnace.set_setpoint_k(now, 473.15)
    in_furnace = wait(lab, clock, 3 * HOUR)
    history = lab.sample_thermal_history()

    bath = [s for s in history if s.location == "exchange_bath"]
    assert all(s.immersed and s.temperature_k == lab.params.exchange.temperature_k for s in bath)
    assert sum(s.duration_s for s in bath) == pytest.approx(10 * HOUR)
    assert not any(s.immersed for s in history if s.location != "exchange_bath")
    transfers = [s for s in history if s.location == "in_transfer"]
    assert len(transfers) == 3 and all(s.temperature_k == lab.params.room_temperature_k for s in transfers)
    # on the stage the sample cools with it, 295 K to 163 K, and ends on the setpoint
    stage = [s for s in history if s.location == "cryo_stage"]
    assert stage[0].max_k > 290.0 and min(s.min_k for s in stage) < IMAGING_K
    assert on_stage[-1] == pytest.approx(IMAGING_K, abs=0.01)
    # in the furnace it follows the ramp and the overshoot, never the nominal setpoint alone
    furnace = [s for s in history if s.location == "furnace"]
    assert furnace[0].min_k == pytest.approx(lab.params.furnace.ambient_temperature_k)  # a cold furnace
    assert max(s.max_k for s in furnace) == pytest.approx(max(in_furnace), abs=1.0)
    assert max(in_furnace) > 473.15
    # every merged stretch spans at most 2 K: the sample model sees a constant T per call
    assert all(s.max_k - s.min_k <= 2.0 for s in history)
    # contiguous from the start to the last committed time
    assert all(a.end_s == b.start_s for a, b in zip(history, history[1:], strict=False))


def test_six_weeks_of_storage_cost_little_wall_time(twin_params):
    lab, clock = make_lab(twin_params)
    lab.request_transfer("exchange_bath")
    clock.advance(lab.params.transfer_s + 10 * HOUR)
    lab.request_transfer("storage")
    clock.advance(lab.params.transfer_s)
    with lab.at_now() as now:
        lab.stage.set_setpoint_k(now, IMAGING_K)  # the stage stays cold all along, its dewar refilled
    started = time.perf_counter()
    clock.advance(6 * 7 * 24 * HOUR)
    lab.updated_sample()
    assert lab.sample_temperature_k() == lab.params.room_temperature_k
    # measured ~1 s on a 2-core box, most of it the stage's 56 run-out and refill cycles
    assert time.perf_counter() - started < 10.0


def test_same_seed_gives_the_same_readings_and_images(twin_params):
    results = []
    for seed in (11, 11, 12):
        lab, clock = make_lab(twin_params, seed=seed)
        exchange_then_image(lab, clock)
        results.append((lab.sample_thermal_history(), lab.fetch_result().counts))
    (history_a, counts_a), (history_b, counts_b), (_, counts_c) = results
    assert history_a == history_b
    assert all(np.array_equal(counts_a[m], counts_b[m]) for m in counts_a)
    # another seed: other counting noise (and another microstructure)
    assert not np.array_equal(counts_a["6Li+"], counts_c["6Li+"])


def test_images_are_poisson_counts_of_the_isotope_fraction(twin_params):
    lab, clock = make_lab(twin_params)
    exchange_then_image(lab, clock)
    counts = lab.fetch_result().counts
    total = counts["6Li+"].astype(float) + counts["7Li+"]
    fraction = counts["6Li+"].sum() / total.sum()
    # after a 10 h exchange the window (50 um from the edge) is still mostly natural lithium
    assert lab.params.sample.natural_fraction - 0.01 < fraction < lab.params.exchange.surface_fraction


def test_warm_imaging_averages_the_window_over_the_acquisition(twin_params):
    # the dewar runs dry 20 min into the analysis of a 1 h image: the sample warms by ~100 K
    run_out_s = 2 * 600.0 + 10 * HOUR + HOUR + 300.0 + 1200.0
    lab, clock = make_lab(twin_params, faults=[{"kind": "ln2_runout", "device": "stage", "at_s": run_out_s}])
    exchange_then_image(lab, clock)
    warm = lab.fetch_result().metadata
    assert warm["window_captures"] == 4 and warm["sample_temperature_max_k"] > IMAGING_K + 50.0
    # held at -110 C all along, one capture in the middle stands for the whole image
    lab, clock = make_lab(twin_params)
    exchange_then_image(lab, clock)
    cold = lab.fetch_result().metadata
    assert cold["window_captures"] == 1
    # (the range is the history's merged stretches, which may reach back into the settling)
    assert cold["sample_temperature_max_k"] - cold["sample_temperature_min_k"] <= 2.0


def test_snapshot_restore_continues_exactly(twin_params, tmp_path):
    lab, clock = make_lab(twin_params, faults=[{"kind": "ln2_runout", "device": "stage", "probability": 0.05}])
    lab.request_transfer("exchange_bath")
    clock.advance(lab.params.transfer_s + 5 * HOUR + 17.0)
    lab.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    with lab.at_now() as now:
        lab.stage.set_setpoint_k(now, IMAGING_K)
    clock.advance(1234.5)
    lab.start_acquisition(tracer_image("across the save", integration_s=1800.0))
    clock.advance(1000.0)  # saved mid-acquisition, two captures passed
    path = lab.save(tmp_path / "world")

    def continuation(world: SimulatedLab, world_clock: ManualClock) -> tuple:
        temperatures = wait(world, world_clock, HOUR, step_s=37.0)
        counts = world.fetch_result().counts
        with world.at_now() as now:
            world.cell.set_mode(now, "cc", 6e-6, 3.5)
        world_clock.advance(HOUR)
        voltage = world.cell.state_at(world_clock.now()).voltage_v
        return temperatures, counts, voltage, world.sample_thermal_history(), world.faults.injected

    resumed_clock = ManualClock(clock.now())
    resumed = SimulatedLab(lab.params, resumed_clock)
    resumed.load(path)
    original = continuation(lab, clock)
    again = continuation(resumed, resumed_clock)
    assert original[0] == again[0]
    assert all(np.array_equal(original[1][m], again[1][m]) for m in original[1])
    assert original[2:] == again[2:]


def test_snapshot_does_not_change_the_continuation(twin_params):
    runs = []
    for take_snapshots in (False, True):
        lab, clock = make_lab(twin_params)
        lab.request_transfer("cryo_stage")
        clock.advance(lab.params.transfer_s)
        with lab.at_now() as now:
            lab.stage.set_setpoint_k(now, IMAGING_K)
        for _ in range(20):
            clock.advance(97.0)
            if take_snapshots:
                lab.snapshot()
        runs.append(wait(lab, clock, HOUR, step_s=50.0))
    assert runs[0] == runs[1]


def test_reads_from_other_threads_do_not_change_the_world(twin_params):
    """Protocol peers read the world from their own threads at wall-clock moments."""
    runs = []
    for readers in (0, 3):
        lab, clock = make_lab(twin_params)
        lab.request_transfer("cryo_stage")
        clock.advance(lab.params.transfer_s)
        with lab.at_now() as now:
            lab.stage.set_setpoint_k(now, IMAGING_K)
        stop = threading.Event()

        def read(world: SimulatedLab = lab) -> None:
            while not stop.is_set():
                world.sample_temperature_k()
                world.dose_ions_per_m2()

        threads = [threading.Thread(target=read) for _ in range(readers)]
        for thread in threads:
            thread.start()
        temperatures = wait(lab, clock, HOUR, step_s=13.0)
        stop.set()
        for thread in threads:
            thread.join()
        runs.append((temperatures, lab.sample_thermal_history()))
    assert runs[0] == runs[1]


def test_dose_ledger_counts_primary_ions_per_area(twin_params):
    lab, clock = make_lab(twin_params)
    lab.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    lab.start_acquisition(tracer_image("dose", integration_s=2 * HOUR))
    clock.advance(2 * HOUR + 300.0)
    # 0.5 pA for 2 h over 64 x 32 um: 2.25e7 ions / 2.05e-9 m^2 = 1.1e16 ions/m^2
    expected = 0.5e-12 * 2 * HOUR / elementary_charge / (64e-6 * 32e-6)
    assert lab.dose_ions_per_m2("diffusion_window") == pytest.approx(expected, rel=1e-12)
    assert lab.dose_ions_per_m2("anode") == 0.0
    assert lab.fetch_result().primary_ions == pytest.approx(0.5e-12 * 2 * HOUR / elementary_charge, rel=1e-9)


def test_imaging_the_cell_while_it_charges(twin_params):
    lab, clock = make_lab(twin_params)
    with lab.at_now() as now:
        lab.cell.set_mode(now, "cc", 6e-6, 3.5)
    request = AcquisitionRequest(
        kind="image",
        region="cathode",
        masses=(*LITHIUM, MassChannel("58Ni+", 57.935), MassChannel("59Co+", 58.933), MassChannel("48Ti+", 47.948)),
        primary=Beam("Bi+", 30e3, 0.5e-12, (80e-6, 30e-6)),
        pixels=(40, 15),
        integration_s=800.0,
        output_name="cathode-1",
    )
    lab.start_acquisition(request)
    clock.advance(800.0)
    assert lab.acquisition_state().state == "done"
    counts = lab.fetch_result().counts
    assert counts["58Ni+"].shape == (15, 40) and counts["58Ni+"].sum() > 0
    assert counts["48Ti+"].sum() < counts["58Ni+"].sum()  # the cathode holds no LTO, little LLTO
    assert lab.dose_ions_per_m2("cathode") > 0 and lab.dose_ions_per_m2("diffusion_window") == 0


def test_sample_leaving_the_stage_fails_its_acquisition(twin_params):
    lab, clock = make_lab(twin_params)
    lab.request_transfer("cryo_stage")
    clock.advance(lab.params.transfer_s)
    lab.start_acquisition(tracer_image("interrupted"))
    clock.advance(600.0)
    lab.request_transfer("storage")
    state = lab.acquisition_state()
    assert state.state == "failed" and "left the SIMS stage" in state.message
