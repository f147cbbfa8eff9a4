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
  with its own homogenised diffusivity D_w (that of its own grains and boundaries, which need
  not equal the long-range D_eff), its edges follow the edge history, and it starts at C0.

The whole-map fit (``analysis.whole_map_fit``) runs the first once per D_eff and the second
once per trial D_w; each costs milliseconds (tridiagonal solves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.linalg.lapack import dgttrf, dgttrs

from .diffusion_1d import Diffusion1D, DoseClock, geometric_faces
from .time_stepping import GAMMA, STAGE_WEIGHT, tr_bdf2_step

__all__ = ["ProfileStretch", "EdgeHistory", "WindowProfile", "LongRangeWindow", "FINEST_CELL_M", "COARSEST_CELL_M"]

FINEST_CELL_M = 0.2e-6
"""Long-range cells start this wide at the immersed edge (the twin's sample uses the same)."""
COARSEST_CELL_M = 10e-6
"""and grow by 3 % per cell up to this width."""
_CELL_GROWTH = 1.03


@dataclasses.dataclass(frozen=True)
class ProfileStretch:
    """A stretch of history at constant coefficients (SI units).

    d_eff_m2_per_s: the long-range medium's diffusivity; d_window_m2_per_s: the window's own
    homogenised diffusivity along x; immersed: x = 0 held at the bath's fraction.
    """

    duration_s: float
    d_eff_m2_per_s: float
    d_window_m2_per_s: float
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


@dataclasses.dataclass(frozen=True)
class WindowProfile:
    """The window's macroscopic profile at the end of a history.

    columns: C_w at the centre of each pixel column (nx,); left, right: the edge values (on
    the window's edge faces, half a pixel outside the first and last centres).
    """

    columns: np.ndarray
    left: float
    right: float

    def second_difference(self) -> np.ndarray:
        """Return h^2 d^2C_w/dx^2 per column (the edges enter at half a pixel, as in the 2D solver)."""
        c = self.columns
        padded_left = np.concatenate([[c[0]], c[:-1]])
        padded_right = np.concatenate([c[1:], [c[-1]]])
        out = padded_left - 2.0 * c + padded_right
        out[0] += 2.0 * (self.left - c[0])
        out[-1] += 2.0 * (self.right - c[-1])
        return out


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
                f"the window [{window_origin_m}, {window_origin_m + width}] m must lie inside the sample [0, {sample_length_m}] m"
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

    def window_profile(self, edges: EdgeHistory, d_window_m2_per_s: Sequence[float]) -> WindowProfile:
        """Evolve the window's columns through ``edges`` with D_w of each stretch; return the end state."""
        d_window = np.asarray(d_window_m2_per_s, dtype=float)
        if edges.stretch.size and (d_window.size <= edges.stretch.max() or np.any(d_window[np.unique(edges.stretch)] <= 0)):
            raise ValueError("d_window_m2_per_s needs a value > 0 for every stretch of the edge history")
        c = np.full(self.columns, self.natural_fraction)
        h2 = self.pixel_size_m**2
        for n, (dt, owner) in enumerate(zip(edges.step_s, edges.stretch)):
            rate = d_window[owner] / h2
            start = (edges.left[n], edges.right[n])
            end = (edges.left[n + 1], edges.right[n + 1])
            middle = tuple(a + GAMMA * (b - a) for a, b in zip(start, end))
            c = _window_step(c, dt, rate, (start, middle, end))
        return WindowProfile(c, float(edges.left[-1]), float(edges.right[-1]))

    def _edge(self, line: np.ndarray, side: int) -> float:
        return float(np.interp(self.edges_m[side], self._line.centres_m, line))


def _window_step(c: np.ndarray, dt_s: float, rate_per_s: float, edge_values) -> np.ndarray:
    """One TR-BDF2 step of the columns with both ends held (edge values at start, middle, end)."""
    n = c.size
    off = np.full(n - 1, rate_per_s)
    diagonal = np.full(n, -2.0 * rate_per_s)
    diagonal[0] -= rate_per_s  # the held edge face is half a pixel away: 2 rate, minus the missing neighbour
    diagonal[-1] -= rate_per_s
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
        s = np.zeros(n)
        s[0] = 2.0 * rate_per_s * left
        s[-1] += 2.0 * rate_per_s * right
        sources.append(s)
    return tr_bdf2_step(c, dt_s, apply_operator, solve, tuple(sources))


def _check(stretches: Sequence[ProfileStretch]) -> None:
    if not stretches:
        raise ValueError("a history needs at least one stretch")
    for i, s in enumerate(stretches):
        if not s.duration_s >= 0 or not s.d_eff_m2_per_s > 0 or not s.d_window_m2_per_s > 0:
            raise ValueError(f"stretch {i}: need duration_s >= 0 and diffusivities > 0, got {s}")
