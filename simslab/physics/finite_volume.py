"""Implicit, conservative finite-volume diffusion on a pixel grid of grains (2D).

Square pixels of side h (m) hold the 6Li fraction C. Inside a grain the bulk diffusivity
D_bulk (m^2/s) acts; a face between pixels of different grains also crosses a thin grain
boundary of conductance k = D_gb/delta (m/s) per unit of *true* boundary length. A face's
conductance is the series of the two half-pixel bulk paths and the interface:

    flux per unit face length = (C_i - C_j) / (h / D_bulk + 1 / (k * s)),

with s = 1 / (|cos theta| + |sin theta|) from the boundary's normal angle theta
(:func:`simslab.physics.pixel_boundaries.staircase_factor`), so that a staircase of faces
conducts like the straight boundary it draws. Each boundary face may belong to a class with
its own k (the whole-map fit has one k per boundary class).

Edges: zero flux, or Dirichlet values held on any of the four domain edges (the value sits
on the edge face, half a pixel from the edge pixel's centre); values may change with time.
Time stepping is TR-BDF2 (:mod:`simslab.physics.time_stepping`): stable for any step and
exactly conservative with all edges closed. Its matrix is factorised once per
(dt, coefficients) with SuperLU and cached; the fill-reducing ordering is computed on the
first factorisation and reused, since the sparsity pattern never changes.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike

from .pixel_boundaries import boundary_faces, staircase_factor
from .time_stepping import GAMMA, STAGE_WEIGHT, tr_bdf2_step

__all__ = ["GrainDiffusion2D", "EDGES", "EdgeValues"]

log = logging.getLogger(__name__)

EDGES = ("left", "right", "top", "bottom")
"""left: x = 0 (column 0), right: x = nx h, top: y = 0 (row 0), bottom: y = ny h."""

EdgeValues = Mapping[str, "float | np.ndarray"]
"""Dirichlet values per held edge: a float or one value per edge pixel (ny for left/right)."""


class GrainDiffusion2D:
    """Diffusion through bulk grains and thin grain boundaries on one fixed pixel grid.

    labels: (ny, nx) grain ids; pixel_size_m: h; normal_x_rad / normal_y_rad: boundary normal
    angle at each x-face (ny, nx-1) and y-face (ny-1, nx) (None: axis-aligned, no staircase
    correction); boundary_class_x / _y: class index per face (None: one class);
    dirichlet_edges: which of EDGES hold values (the others are zero flux; none: closed).
    """

    def __init__(
        self,
        labels: ArrayLike,
        pixel_size_m: float,
        *,
        normal_x_rad: ArrayLike | None = None,
        normal_y_rad: ArrayLike | None = None,
        boundary_class_x: ArrayLike | None = None,
        boundary_class_y: ArrayLike | None = None,
        dirichlet_edges: Sequence[str] = ("left", "right"),
        cache_size: int = 2,
    ):
        labels = np.asarray(labels)
        if labels.ndim != 2 or min(labels.shape) < 2:
            raise ValueError(f"labels must be a 2D map of at least 2 x 2 pixels, got shape {labels.shape}")
        if not pixel_size_m > 0:
            raise ValueError(f"pixel_size_m must be > 0, got {pixel_size_m}")
        unknown = set(dirichlet_edges) - set(EDGES)
        if unknown:
            raise ValueError(f"dirichlet_edges must be among {EDGES}, got {sorted(unknown)}")
        self.shape: tuple[int, int] = labels.shape
        self.pixel_size_m = float(pixel_size_m)
        self.dirichlet_edges: tuple[str, ...] = tuple(e for e in EDGES if e in dirichlet_edges)
        self.boundary_x, self.boundary_y = boundary_faces(labels)
        self._scale_x = _face_scale(self.boundary_x, normal_x_rad, "normal_x_rad")
        self._scale_y = _face_scale(self.boundary_y, normal_y_rad, "normal_y_rad")
        self._class_x = _face_class(self.boundary_x, boundary_class_x, "boundary_class_x")
        self._class_y = _face_class(self.boundary_y, boundary_class_y, "boundary_class_y")
        self.boundary_classes = int(max(self._class_x.max(initial=-1), self._class_y.max(initial=-1)) + 1)
        self._pattern = _Pattern(self.shape)
        self._edge_pixels = {edge: _edge_pixels(self.shape, edge) for edge in self.dirichlet_edges}
        self._cache_size = max(1, int(cache_size))
        self._factors: OrderedDict[tuple, Callable[[np.ndarray], np.ndarray]] = OrderedDict()
        self._rank: np.ndarray | None = None

    # --- the physics -------------------------------------------------------------------------

    def operator(self, d_bulk: float, gb_conductance: float | ArrayLike) -> sp.csr_matrix:
        """Return A (1/s) with dC/dt = A C + source for these coefficients (Dirichlet edges included)."""
        gx, gy = self._face_rates(d_bulk, gb_conductance)
        edge_rate = 2.0 * d_bulk / self.pixel_size_m**2
        extra = np.zeros(self.shape)
        for pixels in self._edge_pixels.values():
            extra[pixels] += edge_rate
        return self._pattern.laplacian(gx, gy, extra.ravel())

    def source(self, d_bulk: float, values: EdgeValues | None) -> np.ndarray:
        """Return the source term (1/s, flattened) of the Dirichlet edge values."""
        s = np.zeros(self.shape)
        if not self.dirichlet_edges:
            return s.ravel()
        if values is None or set(values) != set(self.dirichlet_edges):
            raise ValueError(f"edge values needed for exactly {self.dirichlet_edges}, got {None if values is None else sorted(values)}")
        edge_rate = 2.0 * d_bulk / self.pixel_size_m**2
        for edge, pixels in self._edge_pixels.items():
            s[pixels] += edge_rate * np.asarray(values[edge], dtype=float)
        return s.ravel()

    def evolve(
        self,
        c: ArrayLike,
        duration_s: float,
        steps: int,
        d_bulk: float,
        gb_conductance: float | ArrayLike,
        edge_values: Callable[[float], EdgeValues] | None = None,
    ) -> np.ndarray:
        """Return C after ``duration_s`` s in ``steps`` equal TR-BDF2 steps.

        edge_values(t) gives the held edges' values at t s after the start (None: closed
        system, allowed only without Dirichlet edges). Costs one factorisation per new
        (dt, coefficients) (~0.5-0.9 s on the 512 x 206 window), then two solves per step.
        """
        c = self._field(c)
        if duration_s < 0 or steps < 1:
            raise ValueError(f"duration_s must be >= 0 and steps >= 1, got {duration_s}, {steps}")
        if self.dirichlet_edges and edge_values is None:
            raise ValueError(f"edge_values needed for the held edges {self.dirichlet_edges}")
        if duration_s == 0:
            return c.reshape(self.shape).copy()
        self._check_coefficients(d_bulk, gb_conductance)
        dt = duration_s / steps
        a = self.operator(d_bulk, gb_conductance)
        solve = self._solver(dt, d_bulk, gb_conductance, a)

        def source_at(t: float) -> np.ndarray | float:
            return self.source(d_bulk, edge_values(t)) if self.dirichlet_edges else 0.0

        for n in range(steps):
            t0 = n * dt
            sources = (source_at(t0), source_at(t0 + GAMMA * dt), source_at(t0 + dt))
            c = tr_bdf2_step(c, dt, a.dot, solve, sources)
        return c.reshape(self.shape)

    def steady_state(self, d_bulk: float, gb_conductance: float | ArrayLike, edge_values: EdgeValues) -> np.ndarray:
        """Return the steady field with the edges held at ``edge_values`` (needs a Dirichlet edge)."""
        if not self.dirichlet_edges:
            raise ValueError("a closed system has no unique steady state: hold at least one edge")
        self._check_coefficients(d_bulk, gb_conductance)
        solve = self._factorise((-self.operator(d_bulk, gb_conductance)).tocsc())
        return solve(self.source(d_bulk, edge_values)).reshape(self.shape)

    def total(self, c: ArrayLike) -> float:
        """Return the integral of C over the grid in m^2 (per unit depth)."""
        return float(np.sum(self._field(c))) * self.pixel_size_m**2

    # --- internals ---------------------------------------------------------------------------

    def _face_rates(self, d_bulk: float, gb_conductance: float | ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        h = self.pixel_size_m
        k = np.atleast_1d(np.asarray(gb_conductance, dtype=float))
        rates = []
        for boundary, scale, cls in ((self.boundary_x, self._scale_x, self._class_x), (self.boundary_y, self._scale_y, self._class_y)):
            rate = np.full(boundary.shape, d_bulk / h**2)
            k_face = k[cls[boundary]] * scale[boundary]
            # series of two half-pixel bulk paths and the interface: (h / D + 1 / k) per unit length
            rate[boundary] = k_face / (h * (h * k_face / d_bulk + 1.0))
            rates.append(rate)
        return rates[0], rates[1]

    def _solver(self, dt: float, d_bulk: float, gb_conductance, a: sp.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
        key = (dt, d_bulk, tuple(np.atleast_1d(np.asarray(gb_conductance, dtype=float)).tolist()))
        if key in self._factors:
            self._factors.move_to_end(key)
            return self._factors[key]
        matrix = (sp.identity(a.shape[0], format="csr") - (STAGE_WEIGHT * dt) * a).tocsc()
        log.debug("factorising the %s grid for dt %.3g s, D_bulk %.3g m^2/s, k %s m/s", self.shape, dt, d_bulk, key[2])
        solve = self._factorise(matrix)
        self._factors[key] = solve
        while len(self._factors) > self._cache_size:
            self._factors.popitem(last=False)
        return solve

    def _factorise(self, matrix: sp.csc_matrix) -> Callable[[np.ndarray], np.ndarray]:
        options = {"SymmetricMode": True}
        if self._rank is None:
            lu = spla.splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options=options)
            self._rank = lu.perm_c.copy()
            return lu.solve
        rank = self._rank
        order = np.argsort(rank)
        lu = spla.splu(matrix[order][:, order].tocsc(), permc_spec="NATURAL", diag_pivot_thresh=0.0, options=options)

        def solve(rhs: np.ndarray) -> np.ndarray:
            return lu.solve(rhs[order])[rank]

        return solve

    def _field(self, c: ArrayLike) -> np.ndarray:
        c = np.asarray(c, dtype=float)
        if c.shape != self.shape:
            raise ValueError(f"field shape must be {self.shape}, got {c.shape}")
        return c.ravel().copy()

    def _check_coefficients(self, d_bulk: float, gb_conductance) -> None:
        if not d_bulk > 0:
            raise ValueError(f"d_bulk must be > 0 m^2/s, got {d_bulk}")
        k = np.atleast_1d(np.asarray(gb_conductance, dtype=float))
        if np.any(k < 0) or not np.all(np.isfinite(k)):
            raise ValueError(f"gb_conductance must be finite and >= 0 m/s, got {k}")
        if self.boundary_classes > len(k):
            raise ValueError(f"gb_conductance needs {self.boundary_classes} class values, got {len(k)}")


class _Pattern:
    """The fixed sparsity pattern of the 5-point operator, filled from face rates."""

    def __init__(self, shape: tuple[int, int]):
        ny, nx = shape
        index = np.arange(ny * nx).reshape(shape)
        self.n = ny * nx
        self.left = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
        self.right = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])

    def laplacian(self, gx: np.ndarray, gy: np.ndarray, extra_diagonal: np.ndarray) -> sp.csr_matrix:
        g = np.concatenate([gx.ravel(), gy.ravel()])
        diagonal = np.bincount(self.left, g, self.n) + np.bincount(self.right, g, self.n) + extra_diagonal
        rows = np.concatenate([self.left, self.right, np.arange(self.n)])
        cols = np.concatenate([self.right, self.left, np.arange(self.n)])
        data = np.concatenate([g, g, -diagonal])
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n, self.n))


def _face_scale(boundary: np.ndarray, normal_rad: ArrayLike | None, name: str) -> np.ndarray:
    if normal_rad is None:
        return np.ones(boundary.shape)
    normal_rad = np.asarray(normal_rad, dtype=float)
    if normal_rad.shape != boundary.shape:
        raise ValueError(f"{name} must have shape {boundary.shape}, got {normal_rad.shape}")
    if np.any(~np.isfinite(normal_rad[boundary])):
        raise ValueError(f"{name} must be finite on every boundary face")
    return np.where(boundary, staircase_factor(np.where(boundary, normal_rad, 0.0)), 1.0)


def _face_class(boundary: np.ndarray, classes: ArrayLike | None, name: str) -> np.ndarray:
    if classes is None:
        return np.where(boundary, 0, -1)
    classes = np.asarray(classes)
    if classes.shape != boundary.shape:
        raise ValueError(f"{name} must have shape {boundary.shape}, got {classes.shape}")
    if np.any(classes[boundary] < 0):
        raise ValueError(f"{name} must be >= 0 on every boundary face")
    return np.where(boundary, classes, -1).astype(int)


def _edge_pixels(shape: tuple[int, int], edge: str) -> tuple:
    return {
        "left": (slice(None), 0),
        "right": (slice(None), shape[1] - 1),
        "top": (0, slice(None)),
        "bottom": (shape[0] - 1, slice(None)),
    }[edge]
