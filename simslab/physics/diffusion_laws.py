"""Closed-form diffusion relations, SI units (m^2/s, m, s, K, eV)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.constants import physical_constants

__all__ = [
    "BOLTZMANN_EV_PER_K",
    "arrhenius",
    "tabulated_arrhenius",
    "series_effective_diffusivity",
    "diffusion_length",
]

BOLTZMANN_EV_PER_K: float = physical_constants["Boltzmann constant in eV/K"][0]


def arrhenius(prefactor: ArrayLike, activation_ev: ArrayLike, temperature_k: ArrayLike) -> np.ndarray:
    """Return D = prefactor * exp(-activation_ev / (kB T)), in the prefactor's unit."""
    temperature_k = np.asarray(temperature_k, dtype=float)
    if np.any(temperature_k <= 0):
        raise ValueError(f"temperature_k must be > 0 K, got {temperature_k}")
    return np.asarray(prefactor) * np.exp(-np.asarray(activation_ev) / (BOLTZMANN_EV_PER_K * temperature_k))


def tabulated_arrhenius(table_temperature_k: ArrayLike, table_d: ArrayLike, temperature_k: ArrayLike) -> np.ndarray:
    """Return D at ``temperature_k`` interpolated linearly in log D versus 1/T through a table.

    Outside the table the end segments extend as Arrhenius lines (their local activation
    energy), which is how measured non-Arrhenius data are usually continued.
    """
    t_table = np.asarray(table_temperature_k, dtype=float)
    d_table = np.asarray(table_d, dtype=float)
    if t_table.ndim != 1 or t_table.shape != d_table.shape or len(t_table) < 2:
        raise ValueError("table_temperature_k and table_d must be 1D of the same length >= 2")
    if np.any(t_table <= 0) or np.any(d_table <= 0):
        raise ValueError("table temperatures and diffusivities must be > 0")
    temperature_k = np.asarray(temperature_k, dtype=float)
    if np.any(temperature_k <= 0):
        raise ValueError(f"temperature_k must be > 0 K, got {temperature_k}")
    order = np.argsort(1.0 / t_table)
    inverse_t = (1.0 / t_table)[order]
    log_d = np.log(d_table[order])
    if np.any(np.diff(inverse_t) == 0):
        raise ValueError("table temperatures must be distinct")
    x = 1.0 / temperature_k
    segment = np.clip(np.searchsorted(inverse_t, x) - 1, 0, len(inverse_t) - 2)
    slope = (log_d[segment + 1] - log_d[segment]) / (inverse_t[segment + 1] - inverse_t[segment])
    return np.exp(log_d[segment] + slope * (x - inverse_t[segment]))


def series_effective_diffusivity(d_bulk: ArrayLike, d_gb_over_width: ArrayLike, grain_size: ArrayLike) -> np.ndarray:
    """Return D_eff of the 1D brick (series) model in m^2/s.

    (l + delta)/D_eff = l/D_bulk + delta/D_gb with delta << l, i.e.
    D_eff = 1 / (1/D_bulk + 1/(l * D_gb/delta)); d_bulk in m^2/s, d_gb_over_width in m/s,
    grain_size l in m. Valid when sqrt(D_eff t) >> l.
    """
    d_bulk, d_gb_over_width, grain_size = (np.asarray(a, dtype=float) for a in (d_bulk, d_gb_over_width, grain_size))
    return 1.0 / (1.0 / d_bulk + 1.0 / (grain_size * d_gb_over_width))


def diffusion_length(d: ArrayLike, t: ArrayLike) -> np.ndarray:
    """Return the 1D diffusion length sqrt(2 D t) in m (D in m^2/s, t in s)."""
    return np.sqrt(2.0 * np.asarray(d, dtype=float) * np.asarray(t, dtype=float))
