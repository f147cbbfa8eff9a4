"""Figures of operando imaging: charge-discharge curve with the imaging points, the mass x state
image grid, region-of-interest trajectories and the dose map.

Every function takes arrays or results in SI units and a path, writes PNG and SVG beside it
and returns the paths written. Charge is shown in uAh, time in h, lengths in um.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.colors import LogNorm
from numpy.typing import ArrayLike

from simslab.errors import ValidationError

from .dose_map import DoseMap
from .figure_output import FORMATS, UAH_PER_C, UM_PER_M, new_figure, save_figure
from .operando_imaging import RoiTrajectories

__all__ = ["plot_charge_discharge", "plot_image_grid", "plot_roi_trajectories", "plot_dose_map"]

_S_PER_H = 3600.0


def plot_charge_discharge(
    time_s: ArrayLike,
    voltage_v: ArrayLike,
    charge_c: ArrayLike,
    path: str | Path,
    *,
    image_start_s: ArrayLike | None = None,
    image_end_s: ArrayLike | None = None,
    title: str = "Charge-discharge",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw V against charge (uAh) and V against time (h); each image's window is marked.

    image_start_s/image_end_s: the window each image integrated over: a bar along the curve
    from start to end and a dot at its middle.
    """
    t, v, q = (np.asarray(a, dtype=float) for a in (time_s, voltage_v, charge_c))
    figure = new_figure(10.0, 4.5)
    by_charge, by_time = figure.subplots(1, 2)
    by_charge.plot(q * UAH_PER_C, v, "-", lw=1.0, color="0.3")
    by_time.plot(t / _S_PER_H, v, "-", lw=1.0, color="0.3")
    if image_start_s is not None and image_end_s is not None:
        starts, ends = np.atleast_1d(image_start_s).astype(float), np.atleast_1d(image_end_s).astype(float)
        for i, (t0, t1) in enumerate(zip(starts, ends)):
            window = np.linspace(t0, t1, 20)
            colour = f"C{i % 10}"
            by_charge.plot(
                np.interp(window, t, q) * UAH_PER_C, np.interp(window, t, v), "-", lw=4, alpha=0.5, color=colour
            )
            by_time.plot(window / _S_PER_H, np.interp(window, t, v), "-", lw=4, alpha=0.5, color=colour)
            middle = 0.5 * (t0 + t1)
            by_charge.plot(np.interp(middle, t, q) * UAH_PER_C, np.interp(middle, t, v), "o", color=colour, ms=5)
            by_time.plot(middle / _S_PER_H, np.interp(middle, t, v), "o", color=colour, ms=5, label=f"image {i + 1}")
        by_time.legend(fontsize="x-small", ncol=2)
    by_charge.set(xlabel="charge (uAh)", ylabel="cell voltage (V)", title=title)
    by_time.set(xlabel="time (h)", ylabel="cell voltage (V)")
    return save_figure(figure, path, formats)


def plot_image_grid(
    images: Mapping[str, Sequence[ArrayLike]],
    states: Sequence[str],
    pixel_size_m: tuple[float, float],
    path: str | Path,
    *,
    title: str = "",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw a grid of images: one row per mass, one column per state (e.g. pristine, charged, discharged).

    Each row shares one colour scale, so a change between states reads as a change of colour.
    """
    masses = list(images)
    if not masses or any(len(images[m]) != len(states) for m in masses):
        raise ValidationError(
            "plot_image_grid", "images", {m: len(images[m]) for m in masses}, f"one image per state ({len(states)})"
        )
    figure = new_figure(2.6 * len(states) + 1.0, 2.0 * len(masses) + 0.6)
    axes = np.atleast_2d(figure.subplots(len(masses), len(states), squeeze=False))
    for row, mass in enumerate(masses):
        stack = [np.asarray(a, dtype=float) for a in images[mass]]
        low, high = np.nanpercentile(np.concatenate([s.ravel() for s in stack]), [1, 99])
        ny, nx = stack[0].shape
        extent = (0.0, nx * pixel_size_m[0] * UM_PER_M, ny * pixel_size_m[1] * UM_PER_M, 0.0)
        for column, (state, image) in enumerate(zip(states, stack)):
            shown = axes[row, column].imshow(
                image, extent=extent, vmin=low, vmax=high, cmap="magma", interpolation="nearest"
            )
            axes[row, column].set_title(f"{mass} {state}", fontsize="small")
            axes[row, column].tick_params(labelsize="x-small")
        figure.colorbar(shown, ax=axes[row, :].tolist(), label="counts", shrink=0.9)
    for column in range(len(states)):
        axes[-1, column].set_xlabel("x (um)", fontsize="small")
    for row in range(len(masses)):
        axes[row, 0].set_ylabel("y (um)", fontsize="small")
    if title:
        figure.suptitle(title)
    return save_figure(figure, path, formats)


def plot_roi_trajectories(
    trajectories: RoiTrajectories,
    x: ArrayLike,
    path: str | Path,
    *,
    x_kind: Literal["time", "soc"] = "time",
    title: str = "Region-of-interest intensities",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw each region's intensity per mass against image time or state of charge.

    x: image times in s (shown in h) for x_kind "time", or states of charge as fractions
    (shown in %) for "soc".
    """
    x = np.asarray(x, dtype=float)
    shown_x, label = (x / _S_PER_H, "time (h)") if x_kind == "time" else (100.0 * x, "state of charge (%)")
    figure = new_figure(5.0 * len(trajectories.regions), 4.0)
    axes = np.atleast_1d(figure.subplots(1, len(trajectories.regions), squeeze=False)[0])
    for ax, region in zip(axes, trajectories.regions):
        for mass in trajectories.masses:
            value, error = trajectories.series(region, mass)
            ax.errorbar(shown_x, value, yerr=error, fmt="o-", ms=3, label=mass)
        ylabel = "intensity / first image" if trajectories.relative else "counts per pixel"
        ax.set(xlabel=label, ylabel=ylabel, title=f"{title}: {region}")
        ax.legend(fontsize="small")
    return save_figure(figure, path, formats)


def plot_dose_map(
    dose: DoseMap,
    path: str | Path,
    *,
    title: str = "Primary-ion dose",
    formats: Sequence[str] = FORMATS,
) -> list[Path]:
    """Draw the accumulated dose in ions/cm^2 (log colour) with the static limit on the colour bar."""
    figure = new_figure()
    axes = figure.add_subplot()
    per_cm2 = dose.dose_ions_per_m2 * 1e-4
    positive = per_cm2[per_cm2 > 0]
    low = positive.min() if positive.size else 1.0
    extent = (dose.x_m[0] * UM_PER_M, dose.x_m[-1] * UM_PER_M, dose.y_m[-1] * UM_PER_M, dose.y_m[0] * UM_PER_M)
    image = axes.imshow(
        np.where(per_cm2 > 0, per_cm2, np.nan), extent=extent, norm=LogNorm(vmin=low, vmax=max(low * 10, per_cm2.max()))
    )
    bar = figure.colorbar(image, ax=axes, label="dose (ions/cm^2)")
    bar.ax.axhline(dose.static_limit_ions_per_m2 * 1e-4, color="red", lw=2)
    axes.set(xlabel="x (um)", ylabel="y (um)", title=title)
    return save_figure(figure, path, formats)
