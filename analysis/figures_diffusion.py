"""Figures of the tracer-diffusion study: C map with boundaries, profiles with fits, Arrhenius plot.

Every function takes arrays or results in SI units and a path, writes PNG and SVG beside it
and returns the paths written. Axes are labelled in field units (um, cm^2/s, degrees C).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from simslab.physics.diffusion_laws import arrhenius

from .arrhenius_fit import ArrheniusFit
from .figure_output import FORMATS, CM2_PER_M2, UM_PER_M, PlotSeries, celsius, new_figure, save_figure
from .grain_boundary_results import BoundaryProfile, GrainBoundaryAnalysis

__all__ = ["ArrheniusSeries", "plot_fraction_map", "plot_profiles", "plot_boundary_profile", "plot_arrhenius"]


@dataclasses.dataclass(frozen=True)
class ArrheniusSeries:
    """Diffusivities (m^2/s) against temperature (K) for the Arrhenius plot, optional fitted line."""

    label: str
    temperature_k: np.ndarray
    d_m2_per_s: np.ndarray
    d_err_m2_per_s: np.ndarray | None = None
    fit: ArrheniusFit | None = None


def plot_fraction_map(
    fraction: ArrayLike,
    pixel_size_m: tuple[float, float],
    path: str | Path,
    *,
    boundaries: ArrayLike | None = None,
    analysis: GrainBoundaryAnalysis | None = None,
    title: str = "6Li fraction",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw the C map (um axes) with boundary pixels on top; mark the boundaries that count.

    boundaries: boolean mask to draw (the analysis's own boundary pixels when an analysis is
    given and no mask); analysis: its "ok" boundaries get a dot at their centre.
    """
    fraction = np.asarray(fraction, dtype=float)
    ny, nx = fraction.shape
    extent = (0.0, nx * pixel_size_m[0] * UM_PER_M, ny * pixel_size_m[1] * UM_PER_M, 0.0)
    figure = new_figure(8.0, 8.0 * ny / nx + 1.2)
    axes = figure.add_subplot()
    image = axes.imshow(fraction, extent=extent, cmap="viridis", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="C = 6Li/(6Li+7Li)", shrink=0.8)
    mask = boundaries if boundaries is not None else (analysis.boundary_mask if analysis is not None else None)
    if mask is not None:
        overlay = np.ma.masked_where(~np.asarray(mask, dtype=bool), np.ones_like(fraction))
        axes.imshow(overlay, extent=extent, cmap="gray_r", vmin=0, vmax=1, alpha=0.6, interpolation="nearest")
    if analysis is not None and analysis.ok.any():
        centres = analysis.centre_m[analysis.ok] * UM_PER_M
        axes.plot(
            centres[:, 0], centres[:, 1], "o", ms=3, color="tab:red", label=f"{analysis.ok.sum()} boundaries fitted"
        )
        axes.legend(loc="upper right", fontsize="small")
    axes.set(xlabel="x (um)", ylabel="y (um)", title=title)
    return save_figure(figure, path, formats)


def plot_profiles(
    data: Sequence[PlotSeries],
    path: str | Path,
    *,
    models: Sequence[PlotSeries] = (),
    title: str = "Long-range 6Li profile",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw profiles C(x) (points with error bars) and fitted or simulated curves; x in m, shown in um."""
    figure = new_figure()
    axes = figure.add_subplot()
    for series in data:
        axes.errorbar(
            series.x * UM_PER_M, series.y, yerr=series.y_err, fmt=".", ms=3, elinewidth=0.6, label=series.label
        )
    for series in models:
        axes.plot(series.x * UM_PER_M, series.y, "-", lw=1.5, label=series.label)
    axes.set(xlabel="distance from liquid surface x (um)", ylabel="6Li fraction C", title=title)
    axes.legend(fontsize="small")
    return save_figure(figure, path, formats)


def plot_boundary_profile(
    profile: BoundaryProfile,
    path: str | Path,
    *,
    title: str = "Profile across a grain boundary",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw C across one boundary (averaged along it) with the fitted bulk on each side."""
    figure = new_figure()
    axes = figure.add_subplot()
    n_um = profile.n_m * UM_PER_M
    axes.errorbar(n_um, profile.c, yerr=profile.c_err, fmt="o", ms=3, label="mean along boundary")
    for side in (n_um < 0, n_um > 0):
        axes.plot(n_um[side], profile.model_c[side], "-", color="tab:red")
    axes.axvline(0.0, color="0.5", lw=0.8, ls="--")
    axes.set(xlabel="distance across boundary n (um)", ylabel="6Li fraction C", title=title)
    return save_figure(figure, path, formats)


def plot_arrhenius(
    series: Sequence[ArrheniusSeries],
    path: str | Path,
    *,
    title: str = "Arrhenius plot",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw log D (cm^2/s) against 1000/T (1/K) with a Celsius axis on top; fitted lines when given."""
    figure = new_figure()
    axes = figure.add_subplot()
    all_t = np.concatenate([np.asarray(s.temperature_k, dtype=float) for s in series])
    for s in series:
        t = np.asarray(s.temperature_k, dtype=float)
        d = np.asarray(s.d_m2_per_s, dtype=float) * CM2_PER_M2
        err = None if s.d_err_m2_per_s is None else np.asarray(s.d_err_m2_per_s) * CM2_PER_M2
        points = axes.errorbar(1000.0 / t, d, yerr=err, fmt="o", ms=4, label=s.label)
        if s.fit is not None:
            line_t = np.linspace(all_t.min(), all_t.max(), 50)
            line_d = arrhenius(s.fit.prefactor, s.fit.activation_energy_ev, line_t) * CM2_PER_M2
            label = f"Ea = {s.fit.activation_energy_ev:.2f} +/- {s.fit.activation_energy_err_ev:.2f} eV"
            axes.plot(1000.0 / line_t, line_d, "-", color=points[0].get_color(), label=label)
    axes.set_yscale("log")
    axes.set(xlabel="1000/T (1/K)", ylabel="D (cm^2/s)", title=title)
    top = axes.secondary_xaxis("top", functions=(_inverse_kilo_to_celsius, _celsius_to_inverse_kilo))
    top.set_xlabel("T (C)")
    axes.legend(fontsize="small")
    return save_figure(figure, path, formats)


def _inverse_kilo_to_celsius(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return celsius(1000.0 / np.asarray(x, dtype=float))


def _celsius_to_inverse_kilo(c: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 1000.0 / (np.asarray(c, dtype=float) + 273.15)
