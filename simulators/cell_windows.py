"""Particle-resolved maps of the cell's two imaged windows and their secondary-ion yields.

Each window (80 x 30 um) is built on a 0.5 um grid: disks of active material and of LLTO in
the Li2OHCl0.9F0.1 matrix of the composite electrolyte. The cathode window holds NCA
particles of three kinds: fractured and electrolyte-infiltrated ones react deep, intact ones
shallow (their change of delithiation is weighted 1.6 : 0.5 before normalising to the
electrode's mean), isolated ones lost contact during the first charge and keep the highest
mean delithiation the electrode reached. The anode window holds LTO particles and LLTO particles; the LLTO that
touches LTO is reduced from the contact outwards as the cell's reduced share grows, and the
LTO next to it is cut off (isolated) in proportion to the capacity the cell lost.

Secondary-ion yield per primary ion, I / Ip = Y alpha+ eta * theta: the useful yield of the
element in its reference matrix (``SimsImagingParameters.useful_yield``) times its relative
surface concentration in the phase, its isotopic abundance and a matrix factor of the local
state: Ni+ and Co+ rise by ``ni_yield_ratio_charged`` from lithiated to fully delithiated NCA
(exponential in delta); Ti+ falls to ``ti_yield_ratio_reduced`` as Ti4+ is reduced (LTO
lithiated, LLTO reduced); Li+ ionisation rises with delta in NCA (1 + delta), so 6Li+ falls
only slightly on charge, and falls in reduced LTO as its Li content rises, so it barely
changes. Yields are averaged over each pixel's grid cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from simslab.simulators.cell import Cell, CellState
from simslab.simulators.parameters import CellParameters, SimsImagingParameters

__all__ = ["CellWindows", "CellWindow", "CELL_REGIONS", "CELL_MASSES", "Phase", "NcaKind"]

CELL_REGIONS = ("anode", "cathode")
CELL_MASSES = ("6Li+", "7Li+", "58Ni+", "59Co+", "48Ti+")


class Phase:
    """Phase codes of the window grids."""

    ELECTROLYTE, LLTO, NCA, LTO = 0, 1, 2, 3


class NcaKind:
    """Kinds of NCA particle."""

    INTACT, FRACTURED, ISOLATED = 0, 1, 2


_GRID_PER_PIXEL = 4  # 0.5 um grid cells under a 2 um pixel
_ABUNDANCE = {"6Li+": 0.0759, "7Li+": 0.9241, "58Ni+": 0.6808, "59Co+": 1.0, "48Ti+": 0.7372}
# Relative surface concentration per phase: Li to Li2OHCl (0.060 mol Li/cm^3), Ti to LTO,
# Ni and Co to NCA (LiNi0.8Co0.15Al0.05O2; Ni and Co yields are for that matrix).
_LI = np.array([1.0, 0.13, 0.83, 0.5])  # indexed by phase code
_TI = np.array([0.0, 0.68, 0.0, 1.0])
_FRACTURED_WEIGHT, _INTACT_WEIGHT = 1.6, 0.5
_MAX_DELITHIATION = 0.95


@dataclass
class CellWindow:
    """One window's microstructure on its fine grid (ny, nx) of ``grid_m`` cells."""

    phase: np.ndarray
    particle: np.ndarray  # particle id per grid cell, 0 in the matrix
    nca_kind: dict[int, int]  # NCA particle id -> NcaKind
    reduction_rank: np.ndarray  # LLTO cells touching the anode: 0, 1, ... from the contact; -1 elsewhere
    isolation_rank: np.ndarray  # LTO cells: order in which they are cut off; -1 elsewhere
    grid_m: float


class CellWindows:
    """The anode and cathode windows of the operando cell, and their yield maps."""

    def __init__(self, params: CellParameters, sims: SimsImagingParameters, rng: np.random.Generator):
        self.params, self.sims = params, sims
        nx, ny = params.window_pixels
        self.pixel_size_m = params.window_size_m[0] / nx
        grid_m = self.pixel_size_m / _GRID_PER_PIXEL
        shape = (ny * _GRID_PER_PIXEL, nx * _GRID_PER_PIXEL)
        self.windows = {
            "cathode": _build_cathode(shape, grid_m, params, rng),
            "anode": _build_anode(shape, grid_m, rng),
        }

    def yield_maps(self, region: str, cell: Cell, state: CellState) -> dict[str, np.ndarray]:
        """Return secondary ions per primary ion per pixel, (ny, nx) per mass, in ``state``."""
        if region not in self.windows:
            raise ValueError(f"cell region must be one of {CELL_REGIONS}, got {region!r}")
        window = self.windows[region]
        fine = self._fine_yields(window, cell, state)
        ny, nx = self.params.window_pixels[1], self.params.window_pixels[0]
        return {label: _block_mean(values, (ny, nx)) for label, values in fine.items()}

    def delithiation_map(self, cell: Cell, state: CellState) -> np.ndarray:
        """Return the NCA delithiation per grid cell of the cathode window (NaN off NCA)."""
        return self._nca_delithiation(self.windows["cathode"], cell, state)

    # --- the local states ------------------------------------------------------------------------

    def _fine_yields(self, window: CellWindow, cell: Cell, state: CellState) -> dict[str, np.ndarray]:
        p, useful = self.params, self.sims.useful_yield
        phase = window.phase
        li, ti = _LI[phase], _TI[phase]
        li_factor = np.ones(phase.shape)
        ti_factor = np.ones(phase.shape)
        ni = np.zeros(phase.shape)
        nca = phase == Phase.NCA
        if nca.any():
            delta = self._nca_delithiation(window, cell, state)[nca]
            ni[nca] = p.ni_yield_ratio_charged**delta
            li_factor[nca] = (1.0 - delta) * (1.0 + delta)
        lto = phase == Phase.LTO
        if lto.any():
            theta = self._lto_lithiation(window, cell, state)[lto]
            ti_factor[lto] = p.ti_yield_ratio_reduced**theta
            li_factor[lto] = (1.0 + 0.75 * theta) / (1.0 + 0.7 * theta)
        reducing = window.reduction_rank >= 0
        if reducing.any():
            reduced = np.clip(cell.reduced_fraction(state) * reducing.sum() - window.reduction_rank[reducing], 0, 1)
            ti_factor[reducing] = p.ti_yield_ratio_reduced**reduced
        yields = {
            "58Ni+": useful["Ni"] * ni,
            "59Co+": useful["Co"] * ni,
            "48Ti+": useful["Ti"] * ti * ti_factor,
            "6Li+": useful["Li"] * li * li_factor,
        }
        yields["7Li+"] = yields["6Li+"]
        return {label: yields[label] * _ABUNDANCE[label] for label in CELL_MASSES}

    def _nca_delithiation(self, window: CellWindow, cell: Cell, state: CellState) -> np.ndarray:
        start = cell.initial_delithiation
        change, peak_change = cell.nca_delithiation(state) - start, cell.nca_peak_delithiation(state) - start
        weights = {NcaKind.FRACTURED: _FRACTURED_WEIGHT, NcaKind.INTACT: _INTACT_WEIGHT}
        connected = [pid for pid, kind in window.nca_kind.items() if kind != NcaKind.ISOLATED]
        sizes = ndimage.sum_labels(np.ones(window.particle.shape), window.particle, connected)
        kind_weights = [weights[window.nca_kind[pid]] for pid in connected]
        mean_weight = float(np.average(kind_weights, weights=sizes)) if connected else 1.0
        delta = np.full(window.phase.shape, np.nan)
        for pid, kind in window.nca_kind.items():
            if kind == NcaKind.ISOLATED:
                value = start + peak_change
            else:
                value = start + change * weights[kind] / mean_weight
            delta[window.particle == pid] = min(_MAX_DELITHIATION, max(0.0, value))
        return delta

    def _lto_lithiation(self, window: CellWindow, cell: Cell, state: CellState) -> np.ndarray:
        theta = np.full(window.phase.shape, cell.lto_lithiation(state))
        lost = 1.0 - state.lto_capacity_c / cell.anode_capacity_c
        isolated = window.isolation_rank >= 0
        n_isolated = lost * isolated.sum()
        cut_off = isolated & (window.isolation_rank < n_isolated)
        if cut_off.any():
            theta[cut_off] = state.trapped_c / max(cell.anode_capacity_c - state.lto_capacity_c, 1e-30)
        return np.clip(theta, 0.0, 1.0)


def _build_cathode(
    shape: tuple[int, int], grid_m: float, params: CellParameters, rng: np.random.Generator
) -> CellWindow:
    phase, particle = np.zeros(shape, dtype=np.int8), np.zeros(shape, dtype=np.int32)
    nca_ids = _place_disks(phase, particle, Phase.NCA, 0.45, (2e-6 / grid_m, 5e-6 / grid_m), rng, first_id=1)
    _place_disks(phase, particle, Phase.LLTO, 0.10, (0.75e-6 / grid_m, 1.5e-6 / grid_m), rng, first_id=len(nca_ids) + 1)
    n_isolated = round(params.isolated_particle_fraction * len(nca_ids))
    if params.isolated_particle_fraction > 0:
        n_isolated = max(1, n_isolated)  # "a few" isolated particles: at least one in the window
    n_fractured = round(params.fractured_particle_fraction * len(nca_ids))
    order = rng.permutation(len(nca_ids))
    kinds = {}
    for rank, index in enumerate(order):
        if rank < n_isolated:
            kinds[nca_ids[index]] = NcaKind.ISOLATED
        elif rank < n_isolated + n_fractured:
            kinds[nca_ids[index]] = NcaKind.FRACTURED
        else:
            kinds[nca_ids[index]] = NcaKind.INTACT
    none = np.full(shape, -1)
    return CellWindow(phase, particle, kinds, none, none.copy(), grid_m)


def _build_anode(shape: tuple[int, int], grid_m: float, rng: np.random.Generator) -> CellWindow:
    phase, particle = np.zeros(shape, dtype=np.int8), np.zeros(shape, dtype=np.int32)
    lto_ids = _place_disks(phase, particle, Phase.LTO, 0.40, (1e-6 / grid_m, 3e-6 / grid_m), rng, first_id=1)
    llto_radius = (0.75e-6 / grid_m, 2e-6 / grid_m)
    llto_ids = _place_disks(phase, particle, Phase.LLTO, 0.15, llto_radius, rng, first_id=len(lto_ids) + 1)
    lto = phase == Phase.LTO
    near_lto = ndimage.binary_dilation(lto, structure=np.ones((3, 3)))
    touching = [pid for pid in llto_ids if np.any(near_lto & (particle == pid))]
    reducible = np.isin(particle, touching) & (phase == Phase.LLTO)
    reduction_rank = _rank_by(ndimage.distance_transform_edt(~lto), reducible)
    isolation_rank = _rank_by(ndimage.distance_transform_edt(~reducible) if reducible.any() else np.zeros(shape), lto)
    return CellWindow(phase, particle, {}, reduction_rank, isolation_rank, grid_m)


def _place_disks(
    phase: np.ndarray,
    particle: np.ndarray,
    code: int,
    area_fraction: float,
    radius_cells: tuple[float, float],
    rng: np.random.Generator,
    first_id: int,
) -> list[int]:
    """Drop disks of phase ``code`` into the matrix until they cover ``area_fraction``; return ids."""
    ny, nx = phase.shape
    ids, covered, target = [], 0, area_fraction * phase.size
    for _attempt in range(20000):
        if covered >= target:
            break
        radius = rng.uniform(*radius_cells)
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        y0, y1 = max(0, int(cy - radius)), min(ny, int(cy + radius) + 1)
        x0, x1 = max(0, int(cx - radius)), min(nx, int(cx + radius) + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disk = (yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 <= radius**2
        box = (slice(y0, y1), slice(x0, x1))
        free = disk & (phase[box] == Phase.ELECTROLYTE)
        if not free.any() or free.sum() < 0.8 * disk.sum():
            continue
        pid = first_id + len(ids)
        phase[box][free], particle[box][free] = code, pid
        ids.append(pid)
        covered += int(free.sum())
    return ids


def _rank_by(distance: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return 0, 1, ... over ``mask`` in order of increasing ``distance``; -1 elsewhere."""
    rank = np.full(mask.shape, -1)
    cells = np.flatnonzero(mask)
    order = cells[np.argsort(distance.ravel()[cells], kind="stable")]
    rank.ravel()[order] = np.arange(order.size)
    return rank


def _block_mean(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    ny, nx = shape
    return values.reshape(ny, values.shape[0] // ny, nx, values.shape[1] // nx).mean(axis=(1, 3))
