"""The sintered polycrystal under the SIMS window: grains, boundaries and their orientation.

Grains are the cells of a power (Laguerre) diagram of disks placed by random sequential
addition: disk diameters are drawn log-normal (default mean 16 um, sigma_ln 0.62, i.e.
16 +/- 11 um), scaled by a packing factor so they fit without overlap, largest first, and
each pixel belongs to the seed of least power distance |x - s|^2 - r^2. A power diagram
keeps every boundary straight and perpendicular to the line joining its two seeds, so the
exact normal of every boundary face is known (the solver's staircase correction uses it),
while the weights make cell sizes follow the drawn diameters far more closely than a plain
Voronoi diagram (whose cells are all alike). Seeds fill a margin around the window so the
window cuts grains as a real field of view does.

Grain size, two ways (:class:`GrainStatistics`): the mean equivalent-circle diameter of the
grains inside the window (what a micrograph's grain-size distribution reports, and what
``mean_grain_size_m`` sets), and the mean linear intercept along x (the spacing of boundaries
a diffusing atom crosses per unit length along the profile; ~1.05x the mean diameter here,
since large grains weigh more in it). The 1D brick (series) model's l is a boundary spacing
along the diffusion direction, so of the two the intercept along x is the one it should
use. A random 2D tessellation still conducts better than a brick stack with that spacing
(oblique boundaries are crossed with a flux component only): :func:`effective_boundary_spacing`
measures the spacing that makes the series model match this microstructure.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree

from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.physics.pixel_boundaries import boundary_faces
from simslab.simulators.parameters import PolycrystalParameters

__all__ = ["Polycrystal", "GrainStatistics", "generate_polycrystal", "effective_boundary_spacing"]

_SIZE_CALIBRATION = 0.88
_FIT_ROUNDS = 20  # capacity-constrained Lloyd rounds: cell areas within a few % of their targets
_MARGIN_GRAINS = 3.0  # seeds beyond the window, in mean grain sizes


@dataclasses.dataclass(frozen=True)
class GrainStatistics:
    """Grain-size measures in m. ``equivalent_diameters_m``: grains not cut by the window edge."""

    grains: int
    equivalent_diameters_m: np.ndarray
    mean_equivalent_diameter_m: float
    std_equivalent_diameter_m: float
    mean_intercept_x_m: float
    mean_intercept_y_m: float


@dataclasses.dataclass(frozen=True, eq=False)
class Polycrystal:
    """Grain labels on the window's pixel grid and the seeds that made them.

    labels: (ny, nx) int32, grains numbered 0..G-1; pixel_size_m: square pixel side h;
    seeds_m: (G, 2) seed (x, y) in window coordinates (pixel [i, j] spans x in [j h, (j+1) h]);
    weights_m2: (G,) power-diagram weights (squared disk radii).
    """

    labels: np.ndarray
    pixel_size_m: float
    seeds_m: np.ndarray
    weights_m2: np.ndarray

    @classmethod
    def from_seeds(cls, seeds_m: np.ndarray, weights_m2: np.ndarray, shape: tuple[int, int], pixel_size_m: float) -> Polycrystal:
        """Tessellate the window from seeds and weights, keeping only the grains it shows."""
        seeds_m = np.asarray(seeds_m, dtype=float)
        weights_m2 = np.asarray(weights_m2, dtype=float)
        labels = _power_labels(seeds_m, weights_m2, shape, pixel_size_m)
        visible, labels = np.unique(labels, return_inverse=True)
        return cls(labels.reshape(shape).astype(np.int32), float(pixel_size_m), seeds_m[visible], weights_m2[visible])

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def grains(self) -> int:
        return len(self.seeds_m)

    @cached_property
    def boundary_faces(self) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the x-faces (ny, nx-1) and y-faces (ny-1, nx) that lie on a grain boundary."""
        return boundary_faces(self.labels)

    @cached_property
    def boundary_mask(self) -> np.ndarray:
        """(ny, nx) bool: pixels with at least one face on a grain boundary."""
        bx, by = self.boundary_faces
        mask = np.zeros(self.shape, dtype=bool)
        mask[:, :-1] |= bx
        mask[:, 1:] |= bx
        mask[:-1, :] |= by
        mask[1:, :] |= by
        return mask

    @cached_property
    def boundary_normals_rad(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact normal angle of each boundary face (x-faces, y-faces), NaN elsewhere.

        The boundary between grains a and b is perpendicular to seed_b - seed_a.
        """
        out = []
        for mask, a, b in (
            (self.boundary_faces[0], self.labels[:, :-1], self.labels[:, 1:]),
            (self.boundary_faces[1], self.labels[:-1, :], self.labels[1:, :]),
        ):
            d = self.seeds_m[b] - self.seeds_m[a]
            out.append(np.where(mask, np.arctan2(d[..., 1], d[..., 0]), np.nan))
        return out[0], out[1]

    @cached_property
    def statistics(self) -> GrainStatistics:
        """Grain-size measures of this window (see the module docstring for which to use)."""
        h = self.pixel_size_m
        ny, nx = self.shape
        areas = np.bincount(self.labels.ravel(), minlength=self.grains) * h**2
        edge = np.unique(np.concatenate([self.labels[0], self.labels[-1], self.labels[:, 0], self.labels[:, -1]]))
        inside = np.setdiff1d(np.arange(self.grains), edge)
        diameters = np.sqrt(4.0 * areas[inside] / math.pi)
        bx, by = self.boundary_faces
        return GrainStatistics(
            grains=self.grains,
            equivalent_diameters_m=diameters,
            mean_equivalent_diameter_m=float(diameters.mean()) if len(diameters) else math.nan,
            std_equivalent_diameter_m=float(diameters.std()) if len(diameters) else math.nan,
            mean_intercept_x_m=ny * nx * h / max(int(bx.sum()), 1),
            mean_intercept_y_m=ny * nx * h / max(int(by.sum()), 1),
        )


def generate_polycrystal(params: PolycrystalParameters, rng: np.random.Generator) -> Polycrystal:
    """Draw a polycrystal for the window of ``params`` (square pixels of side window x / nx).

    The window spans window_pixels = (nx, ny) pixels of side h = window_size_m[0] / nx
    (0.977 um by default; the 206 rows then span 201 um).
    """
    nx, ny = params.window_pixels
    if nx < 2 or ny < 2:
        raise ValueError(f"window_pixels must be at least (2, 2), got {params.window_pixels}")
    h = params.window_size_m[0] / nx
    mean_d = params.mean_grain_size_m
    sigma = params.grain_size_sigma_ln
    margin = _MARGIN_GRAINS * mean_d
    low = np.array([-margin, -margin])
    high = np.array([nx * h + margin, ny * h + margin])
    area = float(np.prod(high - low))
    mean_cell_area = math.pi / 4 * mean_d**2 * math.exp(sigma**2)  # E[pi d^2 / 4] of the log-normal
    # cells much smaller than their neighbours are swallowed while the areas are fitted (~18 %
    # of them, the smallest): seeding as for grains _SIZE_CALIBRATION smaller brings the
    # window's mean equivalent diameter back to mean_grain_size_m (over seeds: +/- 5 %)
    count = max(2, round(area / (mean_cell_area * _SIZE_CALIBRATION**2)))
    diameters = rng.lognormal(math.log(mean_d) - sigma**2 / 2, sigma, count)
    target_area = math.pi / 4 * diameters**2
    target_area *= area / target_area.sum()  # the cells must tile the seeded area
    seeds = rng.uniform(low, high, size=(count, 2))
    seeds, weights = _fit_cell_areas(seeds, target_area, low, high, max(h, mean_d / 6))
    return Polycrystal.from_seeds(seeds, weights, (ny, nx), h)


def effective_boundary_spacing(grains: Polycrystal) -> float:
    """Return the l (m) for which the series model reproduces this window's conductance along x.

    Solves the steady window with C held at 1 and 0 on the left and right edges and grain
    boundaries limiting (D_bulk / (k h) = 1e6): the window then conducts like a brick stack
    of spacing l = D_2D / k. Costs one sparse solve of the window (~0.5 s at 512 x 206).
    """
    ny, nx = grains.shape
    h = grains.pixel_size_m
    normal_x, normal_y = grains.boundary_normals_rad
    model = GrainDiffusion2D(grains.labels, h, normal_x_rad=normal_x, normal_y_rad=normal_y)
    k = 1.0
    d_bulk = 1e6 * k * h
    c = model.steady_state(d_bulk, k, {"left": 1.0, "right": 0.0})
    flux_per_height = np.sum(2.0 * d_bulk / h * (1.0 - c[:, 0])) / ny  # through the left edge
    return float(flux_per_height * nx * h / k)


def _fit_cell_areas(seeds: np.ndarray, target_area: np.ndarray, low: np.ndarray, high: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Move seeds and weights until each power cell has its target area (capacity-constrained Lloyd).

    On a sampling grid of ``spacing``: each round moves every seed halfway to its cell's
    centroid (rounder, more compact grains) and raises the weight of cells that are too small
    (a weight change dw moves a boundary by dw / (2 |s_i - s_j|), so dA ~ pi dw / 2).
    """
    xs = np.arange(low[0] + spacing / 2, high[0], spacing)
    ys = np.arange(low[1] + spacing / 2, high[1], spacing)
    gx, gy = np.meshgrid(xs, ys)
    points = np.column_stack([gx.ravel(), gy.ravel()])
    cell_area = spacing**2
    weights = target_area / math.pi  # squared radius of a disk of the target area
    count = len(seeds)
    for _ in range(_FIT_ROUNDS):
        labels = _power_query(seeds, weights, points)
        hits = np.bincount(labels, minlength=count)
        area = hits * cell_area
        occupied = hits > 0
        centroid_x = np.bincount(labels, points[:, 0], count)
        centroid_y = np.bincount(labels, points[:, 1], count)
        centroid = np.column_stack([centroid_x, centroid_y])[occupied] / hits[occupied, None]
        seeds[occupied] += 0.5 * (centroid - seeds[occupied])
        weights += 0.5 * (2.0 / math.pi) * (target_area - area)
        weights -= weights.min()  # only differences matter; keeps the lift real
    return seeds, weights


def _power_labels(seeds: np.ndarray, weights: np.ndarray, shape: tuple[int, int], h: float) -> np.ndarray:
    """Label each pixel centre with the seed of least power distance |x - s|^2 - w."""
    ny, nx = shape
    iy, jx = np.mgrid[0:ny, 0:nx]
    points = np.column_stack([(jx.ravel() + 0.5) * h, (iy.ravel() + 0.5) * h])
    return _power_query(seeds, weights, points).reshape(shape)


def _power_query(seeds: np.ndarray, weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    # lift each seed to 3D at height sqrt(W - w): Euclidean nearest neighbour = least power distance
    lift = np.sqrt(weights.max() - weights)
    tree = cKDTree(np.column_stack([seeds, lift]))
    return tree.query(np.column_stack([points, np.zeros(len(points))]), workers=-1)[1]
