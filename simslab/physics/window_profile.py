"""The SIMS window on the long-range tracer profile: two 1D models of one diffusion history.

A history is a list of :class:`ProfileStretch` of constant coefficients, starting with the
whole sample at its natural fraction C0 (before the first exchange).

- The **long-range profile** C(x) along the sample (x = 0 the immersed edge, x = L the far
  end): an effective medium of diffusivity D_eff, C held at the bath's fraction Cs at x = 0
  while immersed, zero flux there otherwise and always at x = L. It is solved on geometric
  cells with steps on the dose clock (:mod:`simslab.physics.diffusion_1d`), as the twin's
  sample does, and the values at the window's left and right edges (x0 and x0 + nx h) are
  recorded after every step: the **edge history**.
- The **window's macroscopic profile** C_w across its nx pixel columns: the window conducts
  with its own grains and boundaries (which need not match the long-range D_eff), given as
  a conductance per column face (from the 2D window's steady flux, so a window whose column
  of boundaries is denser conducts less there); its edges follow the edge history, and it
  starts at C0.

The whole-map fit (``analysis.whole_map_fit``) runs the first once per D_eff and the second
once per trial conductance; each costs milliseconds (tridiagonal solves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dgttrf, dgttrs

from .diffusion_1d import Diffusion1D, DoseClock, geometric_faces
from .time_stepping import GAMMA, STAGE_WEIGHT, tr_bdf2_step

__all__ = [
    "ProfileStretch", "EdgeHistory", "WindowProfile", "LongRangeWindow", "uniform_face_rates",
    "FINEST_CELL_M", "COARSEST_CELL_M",
]

FINEST_CELL_M = 0.2e-6
"""Long-range cells start this wide at the immersed edge (the twin's sample uses the same)."""
COARSEST_CELL_M = 10e-6
"""and grow by 3 % per cell up to this width."""
_CELL_GROWTH = 1.03


@dataclasses.dataclass(frozen=True)
class ProfileStretch:
    """A stretch of history at one long-range diffusivity D_eff (m^2/s); immersed: x = 0 held at Cs."""

    duration_s: float
    d_eff_m2_per_s: float
    immersed: bool


@dataclasses.dataclass(frozen=True)
class EdgeHistory:
    """The window's edge values along the history: after each 1D step (and at the start).

    step_s: step lengths (n,); stretch: the stretch index of each step; left, right: (n + 1,)
    values of C at the window's left and right edge, the first at the start.
    """

    step_s: np.ndarray
    stretch: np.ndarray
    left: np.ndarray
    right: np.ndarray
    line_x_m: np.ndarray
    line_c: np.ndarray

    def steps_until(self, fraction: float) -> int:
        """Return how many steps end at or before ``fraction`` of the history's duration (at least 1, at most all but 1)."""
        ends = np.cumsum(self.step_s)
        if ends.size < 2:
            return ends.size
        return int(np.clip(np.searchsorted(ends, fraction * ends[-1], side="right"), 1, ends.size - 1))


@dataclasses.dataclass(frozen=True)
class WindowProfile:
    """The window's macroscopic profile at the end of a history.

    columns: C_w at the centre of each pixel column (nx,); left, right: the edge values (on
    the window's edge faces, half a pixel outside the first and last centres).
    """

    columns: np.ndarray
    left: float
    right: float

    def divergence(self, face_conductance: ArrayLike) -> np.ndarray:
        """Return the net inflow per column, sum of G_f (C_upstream - C_downstream) over its two faces.

        face_conductance: (columns + 1,) dimensionless G_f (flux per unit difference of C, in
        units of D_bulk / h^2; the edge faces first and last). Times D_bulk / h^2 it is dC_w/dt.
        """
        g = np.asarray(face_conductance, dtype=float)
        padded = np.concatenate([[self.left], self.columns, [self.right]])
        flux = g * (padded[:-1] - padded[1:])
        return flux[:-1] - flux[1:]


class LongRangeWindow:
    """A window of ``columns`` pixels of side ``pixel_size_m`` whose left edge sits ``window_origin_m`` from x = 0."""

    def __init__(
        self,
        sample_length_m: float,
        window_origin_m: float,
        pixel_size_m: float,
        columns: int,
        natural_fraction: float,
        surface_fraction: float,
    ):
        width = columns * pixel_size_m
        if not pixel_size_m > 0 or columns < 2:
            raise ValueError(f"need pixel_size_m > 0 and columns >= 2, got {pixel_size_m}, {columns}")
        if not (0 <= window_origin_m and window_origin_m + width < sample_length_m):
            raise ValueError(
                f"the window [{window_origin_m}, {window_origin_m + width}] m must lie inside the sample "
                f"[0, {sample_length_m}] m"
            )
        for name, value in (("natural_fraction", natural_fraction), ("surface_fraction", surface_fraction)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")
        self.pixel_size_m = float(pixel_size_m)
        self.columns = int(columns)
        self.natural_fraction = float(natural_fraction)
        self.surface_fraction = float(surface_fraction)
        self.edges_m = (float(window_origin_m), float(window_origin_m) + width)
        self._line = Diffusion1D(geometric_faces(sample_length_m, FINEST_CELL_M, COARSEST_CELL_M, _CELL_GROWTH))

    def edge_history(self, stretches: Sequence[ProfileStretch]) -> EdgeHistory:
        """Run the long-range profile through ``stretches``; return the window's edge values after each step."""
        _check(stretches)
        line = np.full(self._line.cells, self.natural_fraction)
        clock = DoseClock(FINEST_CELL_M**2)
        immersed = False
        steps, owners = [], []
        left, right = [self._edge(line, 0)], [self._edge(line, 1)]
        for index, stretch in enumerate(stretches):
            if stretch.immersed != immersed:
                clock.restart()  # a new boundary condition at x = 0: a new sharp feature there
                immersed = stretch.immersed
            if stretch.duration_s == 0:
                continue
            surface = self.surface_fraction if immersed else None
            for dt in clock.steps(stretch.duration_s, stretch.d_eff_m2_per_s):
                line = self._line.step(line, dt, stretch.d_eff_m2_per_s, surface)
                steps.append(dt)
                owners.append(index)
                left.append(self._edge(line, 0))
                right.append(self._edge(line, 1))
        return EdgeHistory(
            np.asarray(steps), np.asarray(owners, dtype=int), np.asarray(left), np.asarray(right),
            self._line.centres_m.copy(), line,
        )

    def window_profile(self, edges: EdgeHistory, face_rates_per_s: ArrayLike) -> WindowProfile:
        """Evolve the window's columns through ``edges``; return the end state.

        face_rates_per_s: (stretches, columns + 1) conductance of each column face per stretch
        (D_w / h^2 in 1/s for a uniform window; the first and last are the edge faces, whose
        distance is half a pixel, so a uniform window has twice the rate there).
        """
        return self.window_profiles(edges, face_rates_per_s, [edges.step_s.size])[0]

    def window_profiles(
        self, edges: EdgeHistory, face_rates_per_s: ArrayLike, after_steps: Sequence[int]
    ) -> list[WindowProfile]:
        """Return the window's states after each number of steps in ``after_steps`` (ascending)."""
        rates = np.asarray(face_rates_per_s, dtype=float)
        if rates.ndim != 2 or rates.shape[1] != self.columns + 1:
            raise ValueError(f"face_rates_per_s must have shape (stretches, {self.columns + 1}), got {rates.shape}")
        if edges.stretch.size and (rates.shape[0] <= edges.stretch.max() or np.any(~(rates[np.unique(edges.stretch)] > 0))):
            raise ValueError("face_rates_per_s needs values > 0 for every stretch of the edge history")
        wanted = sorted(int(n) for n in after_steps)
        if wanted and not 0 <= wanted[0] <= wanted[-1] <= edges.step_s.size:
            raise ValueError(f"after_steps must lie in 0..{edges.step_s.size}, got {after_steps}")
        c = np.full(self.columns, self.natural_fraction)
        states = []
        for n in range(edges.step_s.size + 1):
            while wanted and wanted[0] == n:
                states.append(WindowProfile(c.copy(), float(edges.left[n]), float(edges.right[n])))
                wanted.pop(0)
            if not wanted or n == edges.step_s.size:
                break
            start = (edges.left[n], edges.right[n])
            end = (edges.left[n + 1], edges.right[n + 1])
            middle = tuple(a + GAMMA * (b - a) for a, b in zip(start, end))
            c = _window_step(c, edges.step_s[n], rates[edges.stretch[n]], (start, middle, end))
        return states

    def _edge(self, line: np.ndarray, side: int) -> float:
        return float(np.interp(self.edges_m[side], self._line.centres_m, line))


def uniform_face_rates(rate_per_s: float, columns: int) -> np.ndarray:
    """Return the face rates (columns + 1,) of a uniform window: D_w / h^2 inside, twice that at the edges."""
    rates = np.full(columns + 1, float(rate_per_s))
    rates[[0, -1]] *= 2.0
    return rates


def _window_step(c: np.ndarray, dt_s: float, rates: np.ndarray, edge_values) -> np.ndarray:
    """One TR-BDF2 step of the columns with both ends held (edge values at start, middle, end)."""
    off = rates[1:-1]
    diagonal = -(rates[:-1] + rates[1:])
    weight = STAGE_WEIGHT * dt_s
    *lu, info = dgttrf(-weight * off, 1.0 - weight * diagonal, -weight * off)
    if info != 0:
        raise ArithmeticError(f"tridiagonal factorisation failed (info {info})")

    def apply_operator(v: np.ndarray) -> np.ndarray:
        out = diagonal * v
        out[:-1] += off * v[1:]
        out[1:] += off * v[:-1]
        return out

    def solve(rhs: np.ndarray) -> np.ndarray:
        return dgttrs(*lu, rhs)[0]

    sources = []
    for left, right in edge_values:
        s = np.zeros(c.size)
        s[0] = rates[0] * left
        s[-1] += rates[-1] * right
        sources.append(s)
    return tr_bdf2_step(c, dt_s, apply_operator, solve, tuple(sources))


def _check(stretches: Sequence[ProfileStretch]) -> None:
    if not stretches:
        raise ValueError("a history needs at least one stretch")
    for i, s in enumerate(stretches):
        if not s.duration_s >= 0 or not s.d_eff_m2_per_s > 0:
            raise ValueError(f"stretch {i}: need duration_s >= 0 and d_eff_m2_per_s > 0, got {s}")
