"""The operando cell: capacities and losses at 6 uA, CC/CV behaviour, compliance, and images.

Protocol of the published cycling (physics.md section 2): CC 6 uA charge until 2.7 V, 1 h CV
at 2.7 V, CC 6 uA discharge until 1.5 V. The cut-offs bracket the model's plateau (2.0-2.3 V
on the LTO plateau): 2.7 V is reached as the LTO fills, 1.5 V as it empties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from simslab.simulators.cell import Cell, CellState
from simslab.simulators.cell_windows import CellWindows, NcaKind, Phase
from simslab.simulators.parameters import CellParameters, SimsImagingParameters

UAH_C = 3.6e-3  # 1 uAh in C
CURRENT_A, CHARGE_CUTOFF_V, DISCHARGE_CUTOFF_V, CV_HOLD_S, POLL_S = 6e-6, 2.7, 1.5, 3600.0, 10.0
PUBLISHED = {1: (29.0, 25.0), 2: (25.0, 22.0)}  # uAh charge, discharge


@dataclass
class Cycle:
    charge_uah: float
    discharge_uah: float
    charged: CellState
    discharged: CellState
    cc_voltages_v: list[float]
    cv_currents_a: list[float]


def run_cycle(cell: Cell, t: float) -> tuple[float, Cycle]:
    """Cycle like the published protocol, the host polling every 10 s; return the end time."""
    start_c = cell.state_at(t).passed_c
    cell.set_mode(t, "cc", CURRENT_A, 3.5)
    voltages = []
    while (state := cell.state_at(t := t + POLL_S)).voltage_v < CHARGE_CUTOFF_V:
        voltages.append(state.voltage_v)
    cell.set_mode(t, "cv", CHARGE_CUTOFF_V, 1e-3)
    currents = [cell.state_at(t := t + 60.0).current_a for _ in range(int(CV_HOLD_S / 60.0))]
    charged = cell.state_at(t)
    cell.set_mode(t, "cc", -CURRENT_A, 3.5)
    while (state := cell.state_at(t := t + POLL_S)).voltage_v > DISCHARGE_CUTOFF_V:
        pass
    cell.set_mode(t, "ocv")
    discharged = cell.state_at(t)
    charge = (charged.passed_c - start_c) / UAH_C
    discharge = (charged.passed_c - discharged.passed_c) / UAH_C
    return t, Cycle(charge, discharge, charged, discharged, voltages, currents)


@pytest.fixture(scope="module")
def cycled() -> tuple[Cell, CellWindows, CellState, list[Cycle]]:
    params = CellParameters()
    cell = Cell(params, 0.0)
    windows = CellWindows(params, SimsImagingParameters(), np.random.default_rng(7))
    pristine = cell.state_at(0.0)
    t, first = run_cycle(cell, 0.0)
    t, second = run_cycle(cell, t)
    return cell, windows, pristine, [first, second]


def test_first_cycle_capacities_and_irreversible_loss_match_the_published_cell(cycled):
    first = cycled[3][0]
    charge, discharge = PUBLISHED[1]
    # the brief's tolerance: within 10 % of the published 29 / 25 uAh and 14 % loss
    assert first.charge_uah == pytest.approx(charge, rel=0.10)
    assert first.discharge_uah == pytest.approx(discharge, rel=0.10)
    assert 1 - first.discharge_uah / first.charge_uah == pytest.approx(0.14, rel=0.10)


def test_second_cycle_capacities_are_near_the_published_cell(cycled):
    second = cycled[3][1]
    assert second.charge_uah == pytest.approx(PUBLISHED[2][0], rel=0.10)
    assert second.discharge_uah == pytest.approx(PUBLISHED[2][1], rel=0.10)
    # most of the LLTO reduction happens in the first cycle
    first = cycled[3][0]
    assert second.charge_uah - second.discharge_uah < first.charge_uah - first.discharge_uah


def test_full_cell_sits_between_2_and_2_7_volts_on_the_lto_plateau(cycled):
    voltages = np.array(cycled[3][0].cc_voltages_v)
    middle = voltages[len(voltages) // 5 : 4 * len(voltages) // 5]
    assert np.all((middle > 2.0) & (middle < 2.7))
    assert np.all(np.diff(middle) > -1e-3)  # charging never lowers the voltage (beyond 1 mV)


def test_cv_hold_current_decays(cycled):
    currents = np.array(cycled[3][0].cv_currents_a)
    # a minute into the hold the current is still of the order of the CC current
    assert 0.5 * CURRENT_A < currents[0] < CURRENT_A
    assert currents[-1] < 0.5 * currents[0]
    assert np.all(np.diff(currents) < 1e-12)


def test_charge_in_cc_is_exact_at_any_read_time():
    cell = Cell(CellParameters(), 0.0)
    cell.set_mode(0.0, "cc", CURRENT_A, 3.5)
    state = cell.state_at(1234.567)
    assert state.passed_c == pytest.approx(CURRENT_A * 1234.567, rel=1e-12)


def test_voltage_compliance_in_cc_holds_the_limit_and_flags_it():
    cell = Cell(CellParameters(), 0.0)
    cell.set_mode(0.0, "cc", CURRENT_A, 2.3)
    state = cell.state_at(5 * 3600.0)  # past the 4.3 h it takes to fill the LTO
    assert state.compliance
    assert state.voltage_v == pytest.approx(2.3, abs=1e-6)
    assert 0 < state.current_a < CURRENT_A


def test_current_compliance_in_cv_limits_the_current():
    cell = Cell(CellParameters(), 0.0)
    cell.set_mode(0.0, "cv", 2.6, 2e-6)
    state = cell.state_at(60.0)
    assert state.compliance and state.current_a == pytest.approx(2e-6, rel=1e-9)


def test_contact_fault_drives_a_cc_source_into_compliance():
    cell = Cell(CellParameters(), 0.0)
    cell.set_mode(0.0, "cc", CURRENT_A, 3.5)
    cell.set_contact_fault(600.0, True)
    # 1 Mohm more in series: 6 V more than the source may give
    assert cell.state_at(610.0).compliance
    cell.set_contact_fault(700.0, False)
    assert not cell.state_at(710.0).compliance


# --- the imaged windows ---------------------------------------------------------------------


def mean_over(maps: dict[str, np.ndarray], label: str, pixels: np.ndarray) -> float:
    return float(maps[label][pixels].mean())


def phase_pixels(windows: CellWindows, region: str, phase: int, share: float = 0.75) -> np.ndarray:
    """Pixels whose grid cells are at least ``share`` of ``phase``."""
    nx, ny = windows.params.window_pixels
    grid = windows.windows[region].phase == phase
    return grid.reshape(ny, grid.shape[0] // ny, nx, grid.shape[1] // nx).mean(axis=(1, 3)) >= share


def test_nickel_rises_on_charge_and_falls_on_discharge_in_the_cathode(cycled):
    cell, windows, pristine, cycles = cycled
    nca = phase_pixels(windows, "cathode", Phase.NCA)
    before, charged, discharged = (
        windows.yield_maps("cathode", cell, state) for state in (pristine, cycles[0].charged, cycles[0].discharged)
    )
    # the matrix effect: 10x from lithiated to fully delithiated NCA; the electrode reaches ~45 %
    assert mean_over(charged, "58Ni+", nca) > 1.5 * mean_over(before, "58Ni+", nca)
    assert mean_over(charged, "59Co+", nca) > 1.5 * mean_over(before, "59Co+", nca)
    assert mean_over(discharged, "58Ni+", nca) < 0.8 * mean_over(charged, "58Ni+", nca)
    # 6Li+ falls only slightly on charge
    assert 0.7 < mean_over(charged, "6Li+", nca) / mean_over(before, "6Li+", nca) < 1.0


def test_isolated_nca_particles_keep_high_nickel_after_discharge(cycled):
    cell, windows, pristine, cycles = cycled
    window = windows.windows["cathode"]
    delta_start = windows.delithiation_map(cell, pristine)
    delta_end = windows.delithiation_map(cell, cycles[0].discharged)
    isolated = np.isin(window.particle, [pid for pid, kind in window.nca_kind.items() if kind == NcaKind.ISOLATED])
    connected = (window.phase == Phase.NCA) & ~isolated
    assert isolated.any()
    assert np.nanmean(delta_end[isolated]) > np.nanmean(delta_start[isolated]) + 0.3
    assert np.nanmean(delta_end[connected]) < np.nanmean(delta_start[connected]) + 0.15


def test_fractured_particles_react_deeper_than_intact_ones(cycled):
    cell, windows, _, cycles = cycled
    window = windows.windows["cathode"]
    delta = windows.delithiation_map(cell, cycles[0].charged)
    of_kind = {
        kind: np.isin(window.particle, [pid for pid, k in window.nca_kind.items() if k == kind])
        for kind in (NcaKind.FRACTURED, NcaKind.INTACT)
    }
    assert np.nanmean(delta[of_kind[NcaKind.FRACTURED]]) > 2 * np.nanmean(delta[of_kind[NcaKind.INTACT]])


def test_titanium_falls_on_charge_and_recovers_in_the_lto(cycled):
    cell, windows, pristine, cycles = cycled
    lto = phase_pixels(windows, "anode", Phase.LTO)
    before, charged, discharged = (
        windows.yield_maps("anode", cell, state) for state in (pristine, cycles[0].charged, cycles[0].discharged)
    )
    assert mean_over(charged, "48Ti+", lto) < 0.6 * mean_over(before, "48Ti+", lto)
    assert mean_over(discharged, "48Ti+", lto) > 0.8 * mean_over(before, "48Ti+", lto)
    # 6Li+ barely changes in LTO (within 10 %)
    assert mean_over(charged, "6Li+", lto) == pytest.approx(mean_over(before, "6Li+", lto), rel=0.1)


def test_titanium_of_llto_touching_the_anode_falls_and_stays_low(cycled):
    cell, windows, pristine, cycles = cycled
    window = windows.windows["anode"]
    nx, ny = windows.params.window_pixels
    contact = window.reduction_rank >= 0
    # the pixels whose LLTO is reduced first: the contact front, the first half of the reducible cells
    front = (contact & (window.reduction_rank < 0.5 * contact.sum())).reshape(ny, 4, nx, 4).mean(axis=(1, 3)) > 0.4
    before, discharged = (windows.yield_maps("anode", cell, state) for state in (pristine, cycles[1].discharged))
    assert front.any()
    assert mean_over(discharged, "48Ti+", front) < 0.85 * mean_over(before, "48Ti+", front)


def test_yield_maps_have_every_mass_on_the_window_grid(cycled):
    cell, windows, pristine, _ = cycled
    nx, ny = windows.params.window_pixels
    for region in ("anode", "cathode"):
        maps = windows.yield_maps(region, cell, pristine)
        assert set(maps) == {"6Li+", "7Li+", "58Ni+", "59Co+", "48Ti+"}
        for values in maps.values():
            assert values.shape == (ny, nx) and np.all(values >= 0)
        # natural lithium everywhere: 6Li+/7Li+ = 0.0759 / 0.9241
        assert np.allclose(maps["6Li+"], maps["7Li+"] * 0.0759 / 0.9241)
    with pytest.raises(ValueError, match="cell region"):
        windows.yield_maps("diffusion_window", cell, pristine)
