"""The long-range 1D solver: erfc with a constant source, exact conservation when closed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erfc

from simslab.physics.diffusion_1d import Diffusion1D, DoseClock, geometric_faces

C0, CS = 0.0759, 0.95  # natural and bath 6Li fractions (shared/physics.md)
D_EFF = 2.0e-13  # m^2/s, the series-model D_eff at 22 C


def _grid() -> Diffusion1D:
    return Diffusion1D(geometric_faces(10e-3, 0.2e-6, 10e-6, 1.03))


@pytest.mark.parametrize("hours", [1.0, 59.0, 110.0])
def test_constant_source_reproduces_erfc_within_1_percent(hours: float) -> None:
    model = _grid()
    clock = DoseClock(0.2e-6**2)
    c = np.full(model.cells, C0)
    duration = hours * 3600
    for dt in clock.steps(duration, D_EFF):
        c = model.step(c, dt, D_EFF, surface_value=CS)
    length = np.sqrt(D_EFF * duration)
    exact = C0 + (CS - C0) * erfc(model.centres_m / (2 * length))
    near = model.centres_m < 6 * length
    # 1 % of the exchanged range, the brief's tolerance; the grid and dose clock reach ~2e-4
    assert np.max(np.abs(c - exact)[near]) < 0.01 * (CS - C0)
    uptake = model.total(c - C0)
    assert uptake == pytest.approx((CS - C0) * 2 * length / np.sqrt(np.pi), rel=0.01)


def test_closed_profile_conserves_tracer_over_an_anneal_sequence() -> None:
    model = _grid()
    clock = DoseClock(0.2e-6**2)
    c = np.full(model.cells, C0)
    for dt in clock.steps(59 * 3600, D_EFF):
        c = model.step(c, dt, D_EFF, surface_value=CS)
    start = model.total(c)
    clock.restart()
    # storage, a 200 C anneal, a ramp of short calls, six weeks at room temperature
    for duration, d in [(3 * 86400, 2e-13), (4 * 3600, 8e-11)] + [(5.0, 10 ** -e) for e in np.linspace(10, 16, 200)] + [(42 * 86400, 2e-13)]:
        for dt in clock.steps(duration, d):
            c = model.step(c, dt, d)
    # every stage conserves sum(w C) exactly; only the solves' rounding (~1e-13) remains
    assert model.total(c) == pytest.approx(start, rel=1e-9)
    assert c.max() < 0.2  # and the tracer has spread over millimetres (0.95 at the edge before)


def test_dose_clock_covers_the_duration_and_starts_fine_after_a_change() -> None:
    clock = DoseClock(1e-14)
    steps = clock.steps(3600.0, 1e-12)
    assert steps.sum() == pytest.approx(3600.0, rel=1e-12)
    assert steps[0] * 1e-12 == pytest.approx(1e-14)  # the first step crosses one fine cell
    assert len(clock.steps(1.0, 1e-12)) == 1  # later short calls are one step each


def test_bad_grid_and_step_are_refused() -> None:
    with pytest.raises(ValueError, match="faces_m"):
        Diffusion1D([0.0, 2.0, 1.0])
    model = _grid()
    with pytest.raises(ValueError, match="d_m2_per_s"):
        model.step(np.zeros(model.cells), 1.0, -1.0)
    with pytest.raises(ValueError, match="cells"):
        model.step(np.zeros(3), 1.0, 1e-12)
