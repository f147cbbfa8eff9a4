"""The 6Li fraction on a window of grains, quasi-static at the grain scale (thin interfaces).

Grain-scale structure (the steps at boundaries, the gradients inside grains) relaxes in
l^2/D_bulk + l/k (about 20 min for 16 um grains at 22 C), while the window's macroscopic
profile changes over hours to days. At the moment the structure froze in, the window's field
C therefore obeys the steady equation with the macroscopic rate of change as its source:

    div(D grad C) = dC_w/dt   (uniform along y),

thin interfaces of conductance k = D_gb/delta between grains (per unit of *true* boundary
length at any angle: :mod:`simslab.physics.finite_volume`), C held at the window's edge
values on the left and right edges, zero flux at the top and bottom. C_w is the window's
macroscopic profile (:mod:`simslab.physics.window_profile`). Divided by D_bulk / h^2 the
problem depends on the dimensionless interface conductance r = k h / D_bulk (one per
boundary class) alone:

    -A_r C = s_edges - div_G C_w,

where div_G C_w is the net inflow into each column through column faces of conductance G_f:
the window's own, from the flux through it held at 1 and 0 on its edges (phi, below), so the
column means of C follow C_w. Write C = C_right + (C_left - C_right) phi + v with
-A_r phi = s_edges(1, 0) (once per r) and -A_r v = -div_G C_w (once per profile).

Two corrections complete the picture. A large grain behind slow boundaries fills late: the
structure lags its falling drive by ~l/k, which :meth:`QuasiStaticWindow.lag` adds to first
order (A c1 = dc'/dt of the structure). And once the boundaries freeze (the cold image) the
bulk may still move a few pixels: :class:`Relaxation` evolves that tail in full.

Solving: a SuperLU factorisation of -A_r (~1 s at 512 x 206) is reused, directly at the same
r (a new profile costs one solve, ~30 ms) and as the preconditioner of conjugate gradients at
a nearby r, warm-started from the Galerkin projection onto the last solutions (a few
iterations). CG stops when the preconditioned residual (~ the error in C) is below
``tolerance``; a new factorisation is made when r has moved too far for CG to be quick.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d

from .finite_volume import GrainDiffusion2D
from .time_stepping import STAGE_WEIGHT, tr_bdf2_step
from .window_profile import WindowProfile

__all__ = ["QuasiStaticWindow", "Relaxation", "SolverCounts"]

log = logging.getLogger(__name__)

_RECENT_SOLUTIONS = 4  # Galerkin warm start from this many previous solutions of each kind
_FAR_LOG_RATIO = np.log(3.0)  # beyond this change of r, factorise instead of trying CG


@dataclasses.dataclass
class SolverCounts:
    """How the window's solves were done (for benchmarks and logs)."""

    factorisations: int = 0
    direct_solves: int = 0
    cg_solves: int = 0
    cg_iterations: int = 0


class QuasiStaticWindow:
    """The quasi-static field of one window: labels (ny, nx) and optional face normals/classes.

    Normals and classes are per x-face (ny, nx-1) and y-face (ny-1, nx), as in
    :class:`~simslab.physics.finite_volume.GrainDiffusion2D` (normals in rad; None: the
    faces' own axes, no staircase correction; classes: 0..K-1, None: one class).
    tolerance: largest error of C the iterative solves may leave (dimensionless);
    column_smoothing_px: scale over which column-face resistances are smoothed (about a grain).
    """

    def __init__(
        self,
        labels: ArrayLike,
        *,
        normal_x_rad: ArrayLike | None = None,
        normal_y_rad: ArrayLike | None = None,
        boundary_class_x: ArrayLike | None = None,
        boundary_class_y: ArrayLike | None = None,
        tolerance: float = 1e-8,
        max_cg_iterations: int = 12,
        max_factorisations: int = 2,
        column_smoothing_px: float = 8.0,
    ):
        # unit pixel and unit D_bulk: the operator's interface conductance is then r = k h / D_bulk
        self._grid = GrainDiffusion2D(
            labels, 1.0, normal_x_rad=normal_x_rad, normal_y_rad=normal_y_rad,
            boundary_class_x=boundary_class_x, boundary_class_y=boundary_class_y, dirichlet_edges=("left", "right"),
        )
        self.shape = self._grid.shape
        self.boundary_x, self.boundary_y = self._grid.boundary_x, self._grid.boundary_y
        self.boundary_classes = max(self._grid.boundary_classes, 1)
        self.tolerance = float(tolerance)
        self.max_cg_iterations = int(max_cg_iterations)
        self.max_factorisations = max(1, int(max_factorisations))
        self.column_smoothing_px = float(column_smoothing_px)
        self.counts = SolverCounts()
        # (log r, solve, True when factorised from this window's own operator)
        self._factors: list[tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], bool]] = []
        self._operator: tuple[tuple[float, ...], sp.csr_matrix] | None = None
        self._recent: dict[str, list[np.ndarray]] = {"edges": [], "source": [], "lag source": [], "lag": []}
        self._edge_response: tuple[tuple[float, ...], np.ndarray, float, np.ndarray] | None = None

    def adopt_factorisations(self, other: QuasiStaticWindow) -> None:
        """Use ``other``'s factorisations as preconditioners here (a window of the same grid whose
        operator differs on a few faces, e.g. other normals): CG then converges in a few iterations."""
        if other.shape != self.shape:
            raise ValueError(f"windows differ in shape: {other.shape} and {self.shape}")
        self._factors = [(key, solve, False) for key, solve, _ in other._factors]

    def conductance(self, ratio: ArrayLike) -> float:
        """Return d_r = D_w / D_bulk: the window's homogenised diffusivity along x over D_bulk."""
        return self._edges_solution(ratio)[1]

    def column_conductances(self, ratio: ArrayLike) -> np.ndarray:
        """Return G (nx + 1,): each column face's conductance in units of D_bulk / h^2 (edge faces first and last).

        From phi: the flux per row F is the same through every column face, so a face's
        conductance is F over the drop of the column means of phi across it (its resistance
        smoothed over ``column_smoothing_px``, the total kept: see :func:`_face_conductances`).
        A 1D window with these conductances follows the 2D window's column means where
        boundaries crowd in some columns, which one homogenised D_w would miss.
        """
        return self._edges_solution(ratio)[2]

    def edge_response(self, ratio: ArrayLike) -> np.ndarray:
        """Return phi (ny, nx): the steady field with C held at 1 on the left edge and 0 on the right."""
        return self._edges_solution(ratio)[0].reshape(self.shape)

    def field(self, ratio: ArrayLike, profile: WindowProfile) -> np.ndarray:
        """Return the quasi-static C (ny, nx) for interface conductances ``ratio`` = k h / D_bulk per class.

        The source is the rate of change of the profile's columns with the window's own column
        conductances at this ratio (in units of D_bulk / h^2).
        """
        if profile.columns.shape != (self.shape[1],):
            raise ValueError(f"profile must have {self.shape[1]} columns, got {profile.columns.shape}")
        phi, _, g = self._edges_solution(ratio)
        rate = np.broadcast_to(profile.divergence(g), self.shape).ravel()
        v = self._solve(ratio, -rate, "source")
        return (profile.right + (profile.left - profile.right) * phi + v).reshape(self.shape)

    def lag(self, ratio: ArrayLike, now: WindowProfile, before: WindowProfile, interval: float) -> np.ndarray:
        """Return the first correction (ny, nx) to the quasi-static field: the structure's lag behind its drive.

        The grain-scale structure c' = C - C_w still changes as its drive does (the gradient
        falls as the profile spreads), and a large grain behind slow boundaries follows late.
        To first order C = C_qs + c1 with A c1 = dc'/dt; dc'/dt is taken from the quasi-static
        structures at ``before`` and ``now``, ``interval`` apart (in units of h^2 / D_bulk).
        """
        phi, _, g = self._edges_solution(ratio)
        source_change = np.broadcast_to(now.divergence(g) - before.divergence(g), self.shape).ravel()
        v_change = self._solve(ratio, -source_change, "lag source")
        edge_change = (now.right - before.right) + ((now.left - now.right) - (before.left - before.right)) * phi
        column_change = np.broadcast_to(now.columns - before.columns, self.shape).ravel()
        structure_rate = (edge_change + v_change - column_change) / interval
        return self._solve(ratio, -structure_rate, "lag").reshape(self.shape)

    def relaxation(self, stretches: Sequence[tuple[float, float, ArrayLike]], max_step_dose: float = 2.0) -> Relaxation:
        """Return the evolution through stretches in which only the bulk still moves (a cold image).

        stretches: (duration_s, D_bulk / h^2 in 1/s, ratio k h / D_bulk per class) each; the
        edges are held. Meant for a few pixel^2 of bulk dose in total (see :class:`Relaxation`).
        """
        return Relaxation(self._grid, stretches, max_step_dose, self.tolerance * 1e-2, self.counts)

    # --- internals ---------------------------------------------------------------------------

    def _edges_solution(self, ratio: ArrayLike) -> tuple[np.ndarray, float, np.ndarray]:
        key = _key(ratio, self.boundary_classes)
        if self._edge_response is None or self._edge_response[0] != key:
            rhs = self._grid.source(1.0, {"left": 1.0, "right": 0.0})
            phi = self._solve(ratio, rhs, "edges")
            ny, nx = self.shape
            field = phi.reshape(self.shape)
            flux = float(np.sum(2.0 * (1.0 - field[:, 0]))) / ny  # per row, in through the left edge
            means = np.concatenate([[1.0], field.mean(axis=0), [0.0]])
            g = _face_conductances(means[:-1] - means[1:], flux, self.column_smoothing_px)
            self._edge_response = (key, phi, flux * nx, g)
        return self._edge_response[1], self._edge_response[2], self._edge_response[3]

    def _solve(self, ratio: ArrayLike, rhs: np.ndarray, kind: str) -> np.ndarray:
        key = _key(ratio, self.boundary_classes)
        log_key = np.log(np.maximum(key, 1e-300))
        matrix = self._matrix(key)
        nearest, distance, own = None, np.inf, False
        for log_factor, solve, exact in self._factors:
            gap = float(np.max(np.abs(log_factor - log_key)))
            if gap < distance or (gap == distance and exact):
                nearest, distance, own = solve, gap, exact
        if nearest is not None and distance == 0.0 and own:
            x = nearest(rhs)
            self.counts.direct_solves += 1
        elif nearest is not None and (distance < _FAR_LOG_RATIO or not own):
            x0 = _galerkin_start(matrix, rhs, self._recent[kind])
            x, iterations, converged = _pcg(matrix, nearest, rhs, x0, self.tolerance, self.max_cg_iterations)
            self.counts.cg_iterations += iterations
            self.counts.cg_solves += 1
            if not converged:
                log.debug("CG needed more than %d iterations at r = %s: factorising", iterations, key)
                x = self._factorise(log_key, matrix)(rhs)
        else:
            x = self._factorise(log_key, matrix)(rhs)
        recent = self._recent[kind]
        recent.append(x)
        del recent[:-_RECENT_SOLUTIONS]
        return x

    def _matrix(self, key: tuple[float, ...]) -> sp.csr_matrix:
        if self._operator is None or self._operator[0] != key:
            self._operator = (key, (-self._grid.operator(1.0, np.asarray(key))).tocsr())
        return self._operator[1]

    def _factorise(self, log_key: np.ndarray, matrix: sp.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
        lu = spla.splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        self.counts.factorisations += 1
        self.counts.direct_solves += 1
        self._factors.append((log_key, lu.solve, True))
        del self._factors[: -self.max_factorisations]
        return lu.solve


class Relaxation:
    """A cold stretch's full 2D evolution, prepared once: TR-BDF2 with Jacobi-preconditioned CG.

    Steps of at most ``max_step_dose`` pixel^2 of bulk dose (2 keeps the field within ~1e-5
    of finely stepped results) leave I - w dt A so well conditioned that CG converges in ~10
    iterations without a factorisation; matrices are built once, so applying it to a new
    field costs only the iterations.
    """

    def __init__(self, grid: GrainDiffusion2D, stretches, max_step_dose: float, tolerance: float, counts: SolverCounts):
        self._tolerance = tolerance
        self._counts = counts
        self._edge_sources = (grid.source(1.0, {"left": 1.0, "right": 0.0}), grid.source(1.0, {"left": 0.0, "right": 1.0}))
        self._stages = []
        size = grid.shape[0] * grid.shape[1]
        self.shape = grid.shape
        self.dose_px2 = 0.0
        for duration_s, rate_per_s, ratio in stretches:
            dose = duration_s * rate_per_s
            if dose <= 0:
                continue
            self.dose_px2 += dose
            steps = int(np.ceil(dose / max_step_dose))
            dt = duration_s / steps
            operator = rate_per_s * grid.operator(1.0, np.atleast_1d(np.asarray(ratio, dtype=float)))
            matrix = (sp.identity(size, format="csr") - (STAGE_WEIGHT * dt) * operator).tocsr()
            self._stages.append((steps, dt, rate_per_s, operator, matrix, 1.0 / matrix.diagonal()))

    def apply(self, c: ArrayLike, left: float, right: float) -> np.ndarray:
        """Return C (ny, nx) after the stretches, with the edges held at ``left`` and ``right``."""
        c = np.asarray(c, dtype=float).ravel().copy()
        for steps, dt, rate, operator, matrix, inverse_diagonal in self._stages:
            source = rate * (left * self._edge_sources[0] + right * self._edge_sources[1])

            def solve(rhs: np.ndarray, matrix=matrix, inverse_diagonal=inverse_diagonal) -> np.ndarray:
                x, iterations, converged = _pcg(
                    matrix, inverse_diagonal.__mul__, rhs, np.zeros_like(rhs), self._tolerance, 200
                )
                self._counts.cg_iterations += iterations
                if not converged:
                    raise ArithmeticError(f"Jacobi CG did not converge in {iterations} iterations")
                return x

            for _ in range(steps):
                c = tr_bdf2_step(c, dt, operator.dot, solve, (source, source, source))
        return c.reshape(self.shape)


def _face_conductances(drops: np.ndarray, flux: float, smoothing_px: float) -> np.ndarray:
    """Return column-face conductances from phi's drop of column means across each face.

    A face's resistance is its drop over the flux; column means of a 2D field need not fall
    monotonically where oblique boundaries cross columns, so the resistances are smoothed over
    ``smoothing_px`` (about a grain) and floored at a tenth of a bulk face's, keeping their
    sum (the window's total resistance, exact) unchanged.
    """
    resistance = drops / flux
    bulk = 1.0 / _uniform_faces(drops.size - 1)
    if smoothing_px > 0:
        excess = gaussian_filter1d(resistance - bulk, smoothing_px, mode="reflect")
        smoothed = np.maximum(bulk + excess, 0.1 * bulk)
        resistance = smoothed * (resistance.sum() / smoothed.sum())
    return 1.0 / np.maximum(resistance, 0.1 * bulk)


def _uniform_faces(columns: int) -> np.ndarray:
    rates = np.ones(columns + 1)
    rates[[0, -1]] = 2.0  # the edge faces are half a pixel from the first and last centres
    return rates


def _key(ratio: ArrayLike, classes: int) -> tuple[float, ...]:
    r = np.atleast_1d(np.asarray(ratio, dtype=float))
    if r.shape != (classes,) or np.any(~np.isfinite(r)) or np.any(r <= 0):
        raise ValueError(f"ratio (k h / D_bulk) needs {classes} finite values > 0, got {r}")
    return tuple(r.tolist())


def _galerkin_start(matrix: sp.csr_matrix, rhs: np.ndarray, recent: list[np.ndarray]) -> np.ndarray:
    """Return the best combination of recent solutions (Galerkin: A-orthogonal residual)."""
    if not recent:
        return np.zeros_like(rhs)
    basis, _ = np.linalg.qr(np.column_stack(recent))
    reduced = basis.T @ (matrix @ basis)
    try:
        y = np.linalg.solve(reduced, basis.T @ rhs)
    except np.linalg.LinAlgError:
        return recent[-1].copy()
    return basis @ y


def _pcg(matrix, precondition, rhs, x0, tolerance, max_iterations) -> tuple[np.ndarray, int, bool]:
    """Preconditioned CG from x0; stops when |M r|_inf (about the error, M ~ A^-1) < tolerance."""
    x = x0.copy()
    r = rhs - matrix @ x
    z = precondition(r)
    p = z.copy()
    rz = float(r @ z)
    for iteration in range(max_iterations + 1):
        if np.max(np.abs(z)) < tolerance:
            return x, iteration, True
        if iteration == max_iterations:
            break
        ap = matrix @ p
        alpha = rz / float(p @ ap)
        x += alpha * p
        r -= alpha * ap
        z = precondition(r)
        rz_new = float(r @ z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iterations, False
