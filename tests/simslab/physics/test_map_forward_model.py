"""The whole-map forward model's physics: the window on the long-range profile, the quasi-static
field with its lag correction against a full transient, the cold tail, and the solver's reuse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erfc

from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.physics.map_forward_model import QuasiStaticWindow
from simslab.physics.window_profile import EdgeHistory, LongRangeWindow, ProfileStretch, WindowProfile, uniform_face_rates
from tests.simslab.physics.grains import voronoi_labels

H = 1.0e-6  # pixel side, m
D_BULK = 2.6e-12  # m^2/s (NMR, 22 C)
C0, CS = 0.0759, 0.95


def test_long_range_edges_follow_erfc_while_immersed() -> None:
    # semi-infinite constant-source solution (shared/physics.md) at the window's two edges
    window = LongRangeWindow(10e-3, 50e-6, H, 200, C0, CS)
    d_eff, hours = 3.0e-13, 59.0
    edges = window.edge_history([ProfileStretch(hours * 3600.0, d_eff, True)])
    length = 2.0 * np.sqrt(d_eff * hours * 3600.0)
    exact = [C0 + (CS - C0) * erfc(x / length) for x in (50e-6, 250e-6)]
    # 0.2 um cells at x = 0 growing 3 %, dose-clock steps: the 1D model's own error is ~1e-3
    assert edges.left[-1] == pytest.approx(exact[0], abs=2e-3)
    assert edges.right[-1] == pytest.approx(exact[1], abs=2e-3)
    assert edges.left[0] == edges.right[0] == C0  # the history starts at the natural fraction


def test_window_columns_relax_to_the_straight_line_between_held_edges() -> None:
    # a uniform window held at 0.8 and 0.2 for 40 relaxation times: C_w is the steady line,
    # with the edge values on the edge faces, half a pixel outside the first and last centres
    columns = 50
    steps = np.full(40, 3600.0)
    edges = EdgeHistory(steps, np.zeros(40, dtype=int), np.full(41, 0.8), np.full(41, 0.2), np.zeros(1), np.zeros(1))
    window = LongRangeWindow(10e-3, 0.0, H, columns, 0.5, CS)
    rate = D_BULK / H**2
    profile = window.window_profile(edges, uniform_face_rates(rate, columns)[None, :])
    x = (np.arange(columns) + 0.5) / columns
    assert np.max(np.abs(profile.columns - (0.8 - 0.6 * x))) < 1e-9
    # the net inflow of a straight line is zero in every column
    assert np.max(np.abs(profile.divergence(uniform_face_rates(1.0, columns)))) < 1e-9


def test_window_without_boundaries_takes_its_profile() -> None:
    window = QuasiStaticWindow(np.ones((12, 40), dtype=int))
    columns = 0.7 - 0.3 * np.linspace(0, 1, 40) ** 2  # curved: a source in every column
    field = window.field(1.0, WindowProfile(columns, 0.71, 0.39))
    # a uniform medium is its own 1D profile exactly (only rounding of the solve)
    assert np.max(np.abs(field - columns)) < 1e-9
    assert window.conductance(1.0) == pytest.approx(1.0, rel=1e-9)


def test_column_conductance_of_a_straight_boundary_is_the_series_of_bulk_and_interface() -> None:
    labels = np.ones((10, 30), dtype=int)
    labels[:, 15:] = 2
    ratio = 0.02  # k h / D_bulk: the interface resists 50 times a pixel of bulk
    window = QuasiStaticWindow(labels, column_smoothing_px=0.0)
    g = window.column_conductances(ratio)
    # face 15 (between columns 14 and 15): 1 / (1 + 1 / r) in units of D_bulk / h^2; exact in 1D
    assert g[15] == pytest.approx(1.0 / (1.0 + 1.0 / ratio), rel=1e-9)
    assert np.allclose(np.delete(g, [0, 15, 30]), 1.0, rtol=1e-9)
    assert g[0] == pytest.approx(2.0, rel=1e-9)  # edge faces: half a pixel away
    # the window conducts as 30 pixels of bulk in series with one interface
    assert window.conductance(ratio) == pytest.approx(30.0 / (30.0 + 1.0 / ratio), rel=1e-9)


@pytest.fixture(scope="module")
def slow_boundary_window():
    """A 40 x 96 um window of ~12 um grains behind slow boundaries, exchanged 30 h, exact and quasi-static."""
    ny, nx = 40, 96
    labels = voronoi_labels((ny, nx), 30, seed=3)
    k = 0.004 * D_BULK / H  # r = 0.004: the boundaries hold most of the drop (GB-limited, as in LLTO)
    d_eff = 2.0e-13
    long_range = LongRangeWindow(10e-3, 20e-6, H, nx, C0, CS)
    edges = long_range.edge_history([ProfileStretch(30 * 3600.0, d_eff, True)])
    # the full transient: the 2D solver along the edge history, ~200 steps on the dose clock
    grid = GrainDiffusion2D(labels, H)
    times = np.concatenate([[0.0], np.cumsum(edges.step_s)])

    def held(t: float) -> dict[str, float]:
        return {"left": float(np.interp(t, times, edges.left)), "right": float(np.interp(t, times, edges.right))}

    c = np.full((ny, nx), C0)
    start = 0.0
    for chunk in np.array_split(np.arange(edges.step_s.size), 40):
        duration = float(edges.step_s[chunk].sum())
        c = grid.evolve(c, duration, 3, D_BULK, k, lambda t, t0=start: held(t + t0))
        start += duration
    window = QuasiStaticWindow(labels)
    ratio = k * H / D_BULK
    g = window.column_conductances(ratio)
    rates = (g * D_BULK / H**2)[None, :]
    snapshot = edges.steps_until(0.9)  # the structure's rate of change over the last ~10 % of the time
    before, now = long_range.window_profiles(edges, rates, [snapshot, edges.step_s.size])
    interval = float(np.sum(edges.step_s[snapshot:])) * D_BULK / H**2
    quasi = window.field(ratio, now)
    return {"exact": c, "quasi": quasi, "lag": window.lag(ratio, now, before, interval), "labels": labels}


def test_quasi_static_field_with_lag_correction_matches_the_full_transient(slow_boundary_window) -> None:
    exact, quasi, lag = slow_boundary_window["exact"], slow_boundary_window["quasi"], slow_boundary_window["lag"]
    bx = slow_boundary_window["labels"][:, :-1] != slow_boundary_window["labels"][:, 1:]
    steps = (exact[:, :-1] - exact[:, 1:])[bx]
    assert np.mean(np.abs(steps)) > 0.01  # a map with steps worth measuring (0.032)
    corrected = quasi + lag
    # grain-scale structure (column means taken out: the 1D window model homogenises those)
    # within 0.2 % of the mean step in every pixel; measured 0.05 %, against counting noise
    # of ~20 % of a step per pixel at realistic counts
    structure_error = np.abs((corrected - corrected.mean(axis=0)) - (exact - exact.mean(axis=0)))
    assert np.max(structure_error) < 0.002 * np.mean(np.abs(steps))
    # the steps themselves within 0.1 % on average (measured 2e-6)
    model_steps = (corrected[:, :-1] - corrected[:, 1:])[bx]
    assert np.mean(model_steps * np.sign(steps)) == pytest.approx(np.mean(np.abs(steps)), rel=1e-3)


def test_lag_correction_is_what_closes_the_gap_for_slowly_filling_grains(slow_boundary_window) -> None:
    exact, quasi, lag = slow_boundary_window["exact"], slow_boundary_window["quasi"], slow_boundary_window["lag"]

    def grain_level_error(field: np.ndarray) -> float:
        labels = slow_boundary_window["labels"]
        residual = (field - field.mean(axis=0)) - (exact - exact.mean(axis=0))
        return float(np.sqrt(np.mean((np.bincount(labels.ravel(), residual.ravel()) / np.bincount(labels.ravel())) ** 2)))

    # grains lag behind their falling drive by ~l / k of time (~20 min here); the first-order
    # correction must take most of that away (measured: 1.1e-5 -> 1.9e-6 rms over grains)
    assert grain_level_error(quasi + lag) < 0.3 * grain_level_error(quasi)


def test_cold_tail_keeps_tracer_inside_grains_behind_frozen_boundaries() -> None:
    # three grains side by side; the middle one touches neither held edge
    labels = np.ones((16, 60), dtype=int)
    labels[:, 20:40] = 2
    labels[:, 40:] = 3
    window = QuasiStaticWindow(labels)
    c = np.tile(0.8 - 0.01 * np.arange(60), (16, 1))  # in-grain gradients of 0.01 per pixel
    c[:, 20:40] -= 0.05
    # -110 C for 5 h: D_bulk t / h^2 = 3.5 px^2, boundaries 1e5 times slower than a bulk pixel
    tail = window.relaxation([(18000.0, 3.5 / 18000.0, 1e-5)])
    after = tail.apply(c, 0.805, 0.205)
    middle = labels == 2
    # conserved to the boundaries' leak (r x dose ~ 4e-5 of a pixel's worth) and CG's rounding
    assert after[middle].sum() == pytest.approx(c[middle].sum(), rel=1e-5)
    # while the bulk flattened the pixels beside the blocked faces (a zero-flux wall now)
    assert abs(after[:, 21] - after[:, 20]).mean() < 0.5 * abs(c[:, 21] - c[:, 20]).mean()


def test_warm_started_solves_match_a_fresh_factorisation() -> None:
    labels = voronoi_labels((48, 64), 20, seed=5)
    profile = WindowProfile(np.linspace(0.8, 0.3, 64) + 0.02 * np.sin(np.linspace(0, 3, 64)), 0.81, 0.29)
    reused = QuasiStaticWindow(labels)
    reused.field(0.01, profile)
    warm = reused.field(0.0107, profile)  # 7 % away: CG preconditioned by the factorisation at 0.01
    fresh = QuasiStaticWindow(labels).field(0.0107, profile)
    assert reused.counts.factorisations == 1 and reused.counts.cg_solves == 2
    # CG stops when its preconditioned residual (~ the error of C) is below 1e-8
    assert np.max(np.abs(warm - fresh)) < 1e-7
    # a window of other normals borrows the factorisation instead of making its own
    other = QuasiStaticWindow(labels, normal_x_rad=np.full((48, 63), 0.1), normal_y_rad=np.full((47, 64), 1.5))
    other.adopt_factorisations(reused)
    other.field(0.0107, profile)
    assert other.counts.factorisations == 0
