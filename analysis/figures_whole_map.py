"""Figure of the whole-map fit: the measured C, the model's C, and the residuals in counting sigmas.

Three panels on one um grid: data C = I6/(I6+I7), the fitted model's expected C (same colour
scale), and (I6 - N p) / sqrt(N p (1-p)), which for a model that explains the map is white
noise of unit variance (shown on a fixed -4..4 scale so structure stands out). Boundaries of
the fit are drawn over the residuals.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from .figure_output import FORMATS, UM_PER_M, new_figure, save_figure
from .whole_map_results import WholeMapFit

__all__ = ["plot_whole_map_fit"]

_RESIDUAL_RANGE = 4.0


def plot_whole_map_fit(
    fit: WholeMapFit,
    i6: ArrayLike,
    i7: ArrayLike,
    pixel_size_m: float,
    path: str | Path,
    *,
    boundary_mask: ArrayLike | None = None,
    title: str = "Whole-map fit",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw data / model / normalised residuals of ``fit`` (um axes); return the files written."""
    i6 = np.asarray(i6, dtype=float)
    i7 = np.asarray(i7, dtype=float)
    counts = i6 + i7
    model = np.asarray(fit.expected_fraction, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        data = np.where(fit.used, i6 / counts, np.nan)
        residual = np.where(fit.used, (i6 - counts * model) / np.sqrt(counts * model * (1.0 - model)), np.nan)
    ny, nx = model.shape
    extent = (0.0, nx * pixel_size_m * UM_PER_M, ny * pixel_size_m * UM_PER_M, 0.0)
    low, high = np.nanpercentile(data, [1, 99])
    figure = new_figure(8.0, 3 * 8.0 * ny / nx + 2.0)
    panels = figure.subplots(3, 1, sharex=True)
    shown = panels[0].imshow(data, extent=extent, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
    figure.colorbar(shown, ax=panels[0], label="C data", shrink=0.9)
    shown = panels[1].imshow(model, extent=extent, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
    figure.colorbar(shown, ax=panels[1], label="C model", shrink=0.9)
    shown = panels[2].imshow(
        residual, extent=extent, cmap="RdBu_r", vmin=-_RESIDUAL_RANGE, vmax=_RESIDUAL_RANGE, interpolation="nearest"
    )
    figure.colorbar(shown, ax=panels[2], label="(I6 - N p) / sigma", shrink=0.9)
    if boundary_mask is not None:
        overlay = np.ma.masked_where(~np.asarray(boundary_mask, dtype=bool), np.ones(model.shape))
        panels[2].imshow(overlay, extent=extent, cmap="gray_r", vmin=0, vmax=1, alpha=0.3, interpolation="nearest")
    value, error = fit.d_gb_over_width * 1e2, fit.d_gb_over_width_err * 1e2  # m/s -> cm/s
    panels[0].set_title(f"{title}: D_gb/delta = {value:.3g} +/- {error:.2g} cm/s, reduced chi2 {fit.reduced_chi2:.3f}")
    for axes in panels:
        axes.set_ylabel("y (um)")
    panels[2].set_xlabel("x (um)")
    return save_figure(figure, path, formats)
