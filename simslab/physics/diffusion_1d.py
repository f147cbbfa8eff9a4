"""Implicit, conservative finite-volume diffusion along x on a non-uniform 1D grid.

Cells i = 0..N-1 between faces x_0 = 0 < x_1 < ... < x_N = L hold cell averages C_i. The
diffusivity is uniform (the effective medium of the long-range profile). The end x = L is
zero flux; the end x = 0 is either zero flux (closed) or held at a value (the isotope
exchange bath: C(0) = Cs, half a cell from the first centre). Steps are TR-BDF2 with a
banded (tridiagonal) solve: ~0.1 ms per step for a thousand cells, so a step's size may
change freely from one step to the next.

Step sizes follow the profile's own clock: after the boundary changes (immersion starts or
ends) the profile evolves self-similarly, so steps grow geometrically with the diffusion
dose (integral of D dt, m^2) since that change: :class:`DoseClock`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dgttrf, dgttrs

from .time_stepping import STAGE_WEIGHT, tr_bdf2_step

__all__ = ["Diffusion1D", "geometric_faces", "DoseClock"]


def geometric_faces(length_m: float, finest_m: float, coarsest_m: float, growth: float = 1.03) -> np.ndarray:
    """Return face positions from 0 to ``length_m``: cells grow by ``growth`` from ``finest_m`` up to ``coarsest_m``."""
    if not 0 < finest_m <= coarsest_m < length_m or growth < 1:
        raise ValueError(f"need 0 < finest_m <= coarsest_m < length_m and growth >= 1, got {finest_m}, {coarsest_m}, {length_m}, {growth}")
    widths = [finest_m]
    total = finest_m
    while total < length_m:
        w = min(widths[-1] * growth, coarsest_m)
        widths.append(w)
        total += w
    faces = np.concatenate([[0.0], np.cumsum(widths)])
    faces[-1] = length_m  # the last cell absorbs the remainder
    if faces[-1] - faces[-2] < 0.5 * widths[-2]:
        faces = np.delete(faces, -2)
    return faces


class Diffusion1D:
    """Diffusion on cells between ``faces_m`` with zero flux at x = L."""

    def __init__(self, faces_m: ArrayLike):
        faces = np.asarray(faces_m, dtype=float)
        if faces.ndim != 1 or len(faces) < 3 or faces[0] != 0 or np.any(np.diff(faces) <= 0):
            raise ValueError("faces_m must start at 0 and increase strictly, with at least 2 cells")
        self.faces_m = faces
        self.widths_m = np.diff(faces)
        self.centres_m = 0.5 * (faces[:-1] + faces[1:])
        # geometric part of each conductance: 1 / distance between neighbouring centres (m^-1)
        self._inner = 1.0 / np.diff(self.centres_m)
        self._surface = 1.0 / self.centres_m[0]

    @property
    def cells(self) -> int:
        return len(self.centres_m)

    def total(self, c: ArrayLike) -> float:
        """Return the integral of C over the sample length in m."""
        return float(np.dot(self.widths_m, np.asarray(c, dtype=float)))

    def step(self, c: ArrayLike, dt_s: float, d_m2_per_s: float, surface_value: float | None = None) -> np.ndarray:
        """Return C after one TR-BDF2 step; ``surface_value`` holds C at x = 0 (None: zero flux)."""
        c = np.asarray(c, dtype=float)
        if c.shape != self.centres_m.shape:
            raise ValueError(f"profile must have {self.cells} cells, got shape {c.shape}")
        if not d_m2_per_s > 0 or dt_s < 0:
            raise ValueError(f"need d_m2_per_s > 0 and dt_s >= 0, got {d_m2_per_s}, {dt_s}")
        if dt_s == 0:
            return c.copy()
        held = surface_value is not None
        lower, diagonal, upper = self._operator_bands(d_m2_per_s, held)
        source = np.zeros_like(c)
        if held:
            source[0] = d_m2_per_s * self._surface * float(surface_value) / self.widths_m[0]
        weight = STAGE_WEIGHT * dt_s
        # one tridiagonal LU serves both stages (no pivoting needed: diagonally dominant)
        factors = dgttrf(-weight * lower, 1.0 - weight * diagonal, -weight * upper)
        if factors[-1] != 0:
            raise ArithmeticError(f"tridiagonal factorisation failed (info {factors[-1]})")
        lu = factors[:-1]

        def apply_operator(v: np.ndarray) -> np.ndarray:
            out = diagonal * v
            out[:-1] += upper * v[1:]
            out[1:] += lower * v[:-1]
            return out

        def solve(rhs: np.ndarray) -> np.ndarray:
            x, info = dgttrs(*lu, rhs)
            return x

        return tr_bdf2_step(c, dt_s, apply_operator, solve, (source, source, source))

    def _operator_bands(self, d: float, held: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = d * self._inner  # flux per unit concentration difference across each inner face
        w = self.widths_m
        upper = g / w[:-1]  # effect of cell i+1 on cell i
        lower = g / w[1:]  # effect of cell i on cell i+1
        diagonal = np.zeros(self.cells)
        diagonal[:-1] -= upper
        diagonal[1:] -= lower
        if held:
            diagonal[0] -= d * self._surface / w[0]
        return lower, diagonal, upper


class DoseClock:
    """Chooses 1D step sizes from the diffusion dose since the boundary last changed.

    Right after a change the profile has a feature one cell wide; it then spreads as
    sqrt(dose). Steps of dose ``growth`` times the dose so far (at least ``finest_dose_m2``)
    keep the relative change per step bounded: ~60 steps per decade-pair of time.
    """

    def __init__(self, finest_dose_m2: float, growth: float = 0.15):
        self.finest_dose_m2 = float(finest_dose_m2)
        self.growth = float(growth)
        self.dose_m2 = 0.0

    def restart(self) -> None:
        """Start counting again after a change of the boundary condition."""
        self.dose_m2 = 0.0

    def steps(self, duration_s: float, d_m2_per_s: float) -> np.ndarray:
        """Return the step lengths in s covering ``duration_s`` at diffusivity ``d_m2_per_s``."""
        steps = []
        remaining = duration_s * d_m2_per_s
        dose = self.dose_m2
        while remaining > 0:
            step = min(remaining, max(self.growth * dose, self.finest_dose_m2))
            if remaining - step < 0.25 * step:  # no sliver step at the end
                step = remaining
            steps.append(step)
            dose += step
            remaining -= step
        self.dose_m2 = dose
        return np.asarray(steps) / d_m2_per_s
