"""Explicit steps for window segments too slow to need an implicit solver.

The window's TR-BDF2 steps cost one sparse LU factorisation per new (dt, D_bulk, k) (~1 s on
the 512 x 206 grid) and two solves per step. A segment in which nothing moves far (the sample
held at -110 C during a cryo image: D_bulk dt / h^2 ~ 0.25 over 20 min) is not stiff: its
fastest pixel mode decays by less than a few e-folds over the whole segment, and classic
fourth-order Runge-Kutta steps resolve every mode, the fast ones included, for a few sparse
products each. The step count keeps ``dt * rate_bound <= 1`` (RK4 is stable to 2.78 on the
negative real axis; at 1 its error on the fastest mode is ~1e-3 of that mode per step and
vanishing on the grain-scale modes an image shows), so the result is the same diffusion,
integrated at least as accurately as the implicit path would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import scipy.sparse as sp

from simslab.physics.finite_volume import GrainDiffusion2D

__all__ = ["explicit_step_count", "evolve_explicit", "MAX_EXPLICIT_STEPS"]

MAX_EXPLICIT_STEPS = 40
"""Above this many RK4 steps (4 sparse products each, ~5 ms on the window) a factorisation is cheaper."""

_RATE_STEP = 1.0  # dt * (bound on the operator's largest eigenvalue magnitude) per explicit step


def explicit_step_count(operator: sp.csr_matrix, duration_s: float, at_least: int) -> int:
    """Return the RK4 steps that integrate ``duration_s`` s of dC/dt = A C accurately (>= ``at_least``).

    The bound on |eigenvalue| is Gershgorin's (largest absolute row sum of A, 1/s).
    """
    rate_bound = float(abs(operator).sum(axis=1).max())
    return max(int(at_least), math.ceil(duration_s * rate_bound / _RATE_STEP))


def evolve_explicit(
    model: GrainDiffusion2D,
    operator: sp.csr_matrix,
    c: np.ndarray,
    duration_s: float,
    steps: int,
    d_bulk: float,
    edge_values: Callable[[float], Mapping[str, float]],
) -> np.ndarray:
    """Return C (ny, nx) after ``duration_s`` s of dC/dt = A C + s(t) in ``steps`` RK4 steps.

    operator: ``model.operator(d_bulk, k)`` (1/s); edge_values(t) the held edges' values t s
    after the start, as for :meth:`GrainDiffusion2D.evolve`.
    """
    if steps < 1 or not duration_s > 0:
        raise ValueError(f"steps must be >= 1 and duration_s > 0 s, got {steps}, {duration_s}")
    dt = duration_s / steps
    y = np.asarray(c, dtype=float).ravel().copy()

    def rate(t_s: float, v: np.ndarray) -> np.ndarray:
        return operator.dot(v) + model.source(d_bulk, edge_values(t_s))

    for n in range(steps):
        t = n * dt
        k1 = rate(t, y)
        k2 = rate(t + 0.5 * dt, y + 0.5 * dt * k1)
        k3 = rate(t + 0.5 * dt, y + 0.5 * dt * k2)
        k4 = rate(t + dt, y + dt * k3)
        y += (dt / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y.reshape(model.shape)
