"""The figures of a campaign report, each written as PNG and SVG with a caption.

Diffusion: every C map with its boundaries, the profiles with their fits, the Arrhenius plot
(D_eff, D_bulk, (l/delta) D_gb against 1000/T), the whole-map fit beside the distribution of
per-boundary values. Operando: the charge-discharge curve with the imaging windows, the
mass x state image grid and the region-of-interest trajectories (time and SoC) of each window.
And the primary-ion dose of every imaged region.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .campaign_results import CampaignAnalysis, DiffusionAnalysis, OperandoAnalysis
from .figure_output import PlotSeries, new_figure, save_figure
from .figures_diffusion import ArrheniusSeries, plot_arrhenius, plot_fraction_map, plot_profiles
from .figures_operando import plot_charge_discharge, plot_dose_map, plot_image_grid, plot_roi_trajectories
from .figures_whole_map import plot_whole_map_fit
from .grain_boundary_results import GrainBoundaryAnalysis
from .operando_analysis import response_states

__all__ = ["ReportFigure", "write_figures", "plot_boundary_distribution"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReportFigure:
    """A figure of the report: a name (file stem), a caption, and the files written (PNG first)."""

    name: str
    caption: str
    paths: tuple[Path, ...]

    @property
    def png(self) -> Path:
        return next(p for p in self.paths if p.suffix == ".png")


def write_figures(analysis: CampaignAnalysis, directory: Path) -> list[ReportFigure]:
    """Write every figure of ``analysis`` into ``directory`` (PNG and SVG); return them in report order."""
    directory.mkdir(parents=True, exist_ok=True)
    figures: list[ReportFigure] = []
    if analysis.diffusion is not None:
        figures.extend(_diffusion_figures(analysis.diffusion, directory))
    for index, operando in enumerate(analysis.operando):
        figures.extend(_operando_figures(operando, index, directory))
    if analysis.dose is not None:
        paths = plot_dose_map(analysis.dose, directory / "dose_map", title="Primary-ion dose per region")
        figures.append(ReportFigure("dose_map", "Accumulated primary-ion dose per imaged region (red line on the "
                                    "colour bar: the static limit, 1e13 ions/cm^2). " + analysis.dose.method,
                                    tuple(paths)))
    return figures


def plot_boundary_distribution(boundaries: GrainBoundaryAnalysis, path: Path, *, whole_map_m_per_s: float | None = None,
                               title: str = "Per-boundary D_gb/delta") -> list[Path]:
    """Draw the distribution of per-boundary D_gb/delta (cm/s, log bins) with the whole-map value marked."""
    figure = new_figure(5.5, 4.0)
    axes = figure.add_subplot()
    values = boundaries.d_gb_over_width_m_per_s[boundaries.ok] * 100.0
    if values.size:
        bins = np.logspace(np.log10(values.min()) - 0.1, np.log10(values.max()) + 0.1, 25)
        axes.hist(values, bins=bins, color="tab:blue", alpha=0.7, label=f"{values.size} boundaries")
        axes.axvline(boundaries.distribution.median_m_per_s * 100.0, color="tab:blue", ls="--", label="median")
        axes.set_xscale("log")
    else:
        axes.text(0.5, 0.5, "no boundary with a significant step", ha="center", va="center", transform=axes.transAxes)
    if whole_map_m_per_s is not None:
        axes.axvline(whole_map_m_per_s * 100.0, color="tab:red", lw=2, label="whole-map fit")
    axes.set(xlabel="D_gb/delta (cm/s)", ylabel="boundaries", title=title)
    if values.size or whole_map_m_per_s is not None:
        axes.legend(fontsize="small")
    return save_figure(figure, path)


def _diffusion_figures(d: DiffusionAnalysis, directory: Path) -> Iterator[ReportFigure]:
    lr = d.long_range
    for i, (image, data) in enumerate(zip(d.images, d.figure_data)):
        fraction = data.fraction
        paths = plot_fraction_map(fraction.fraction, fraction.pixel_size_m, directory / f"map_{i}",
                                  analysis=data.boundaries, title=f"6Li fraction: {image.label}")
        yield ReportFigure(f"map_{i}", f"C = I6/(I6+I7), {image.label} (run {image.uid[:8]}), "
                           f"{fraction.bin_factor}x{fraction.bin_factor} binning; boundaries {image.boundary_source}; "
                           "red dots: boundaries with a significant step.", tuple(paths))
    if lr is not None:
        data = [PlotSeries(image.label, p.x_m, p.c, p.c_err) for image, p in zip(d.images, lr.profiles)]
        models = [PlotSeries("model at " + ("erfc fit" if k == 0 and lr.exchange else f"map {k}"), lr.model_x_m, m)
                  for k, m in enumerate(lr.models)]
        paths = plot_profiles(data, directory / "profiles", models=models)
        yield ReportFigure("profiles", "Profiles across the window (points) and the long-range model at each map "
                           "(lines): the erfc fit after the exchange, then the closed-system chain. " + lr.origin_note,
                           tuple(paths))
        series = _arrhenius_series(d)
        if series:
            paths = plot_arrhenius(series, directory / "arrhenius", title="Arrhenius plot")
            yield ReportFigure("arrhenius", "D_eff per step (closed-system fits), D_bulk (given, NMR), "
                               "(l/delta) D_gb from the series model, against 1000/T.", tuple(paths))
    for i, (image, data) in enumerate(zip(d.images, d.figure_data)):
        fit = image.whole_map
        if fit is not None and data.fit_i6 is not None:
            paths = plot_whole_map_fit(fit, data.fit_i6, data.fit_i7, data.fit_pixel_m, directory / f"whole_map_{i}",
                                       boundary_mask=data.fit_mask, title=f"Whole-map fit ({image.label})")
            yield ReportFigure(f"whole_map_{i}", f"Whole-map fit of {image.label}: data, model, normalised residuals. "
                               f"{image.whole_map_note}.", tuple(paths))
        if data.boundaries.count:
            paths = plot_boundary_distribution(data.boundaries, directory / f"boundaries_{i}",
                                               whole_map_m_per_s=fit.d_gb_over_width if fit is not None else None,
                                               title=f"Per-boundary D_gb/delta ({image.label})")
            yield ReportFigure(f"boundaries_{i}", f"Per-boundary D_gb/delta of {image.label} "
                               f"({image.boundaries.count_ok} of {image.boundaries.count_total} boundaries), the "
                               "whole-map value in red.", tuple(paths))


def _arrhenius_series(d: DiffusionAnalysis) -> list[ArrheniusSeries]:
    lr = d.long_range
    if lr is None or not lr.steps:
        return []
    t = np.array([s.temperature_k for s in lr.steps])
    series = [ArrheniusSeries("D_eff (steps)", t, np.array([s.d_eff_m2_per_s for s in lr.steps]),
                              np.array([s.d_eff_err_m2_per_s for s in lr.steps]), lr.d_eff_arrhenius),
              ArrheniusSeries("D_bulk (given)", t, np.array([s.d_bulk_m2_per_s for s in lr.steps]))]
    gb = np.array([s.gb_series_m2_per_s for s in lr.steps])
    good = np.isfinite(gb)
    if good.any():
        series.append(ArrheniusSeries("(l/delta) D_gb (series model)", t[good], gb[good],
                                      np.array([s.gb_series_err_m2_per_s for s in lr.steps])[good], lr.gb_arrhenius))
    if lr.exchange is not None:
        series.append(ArrheniusSeries("D_eff (erfc, exchange)", np.array([lr.exchange.temperature_k]),
                                      np.array([lr.exchange.d_eff_m2_per_s]), np.array([lr.exchange.d_eff_err_m2_per_s])))
    return series


def _operando_figures(o: OperandoAnalysis, index: int, directory: Path) -> Iterator[ReportFigure]:
    record = o.record
    if record is None:
        return
    t0 = record.time_s[0]
    paths = plot_charge_discharge(record.time_s - t0, record.voltage_v, record.charge_c,
                                  directory / f"charge_discharge_{index}",
                                  image_start_s=[i.start_s - t0 for i in record.images],
                                  image_end_s=[i.end_s - t0 for i in record.images], title=f"Cell {o.cell_id}")
    yield ReportFigure(f"charge_discharge_{index}", f"Cell voltage against charge and time ({o.label}); bars: the "
                       "window each image integrated over, dots: its middle.", tuple(paths))
    for window in o.windows:
        images = record.images_of(window.region)
        states = response_states(window.soc)
        if states:
            names = list(states)
            grid = {m: [images[states[name]].counts[m] for name in names] for m in record.masses}
            paths = plot_image_grid(grid, names, record.pixel_size_m, directory / f"image_grid_{index}_{window.region}",
                                    title=f"{window.region} window")
            yield ReportFigure(f"image_grid_{index}_{window.region}", f"Counts per mass (rows) at the pristine, "
                               f"charged and discharged states (columns), {window.region} window; one colour scale "
                               "per mass.", tuple(paths))
        for kind, x in (("time", window.time_s), ("soc", window.soc)):
            stem = f"roi_{index}_{window.region}_{kind}"
            paths = plot_roi_trajectories(window.trajectories, x, directory / stem, x_kind=kind,
                                          title=f"{window.region}")
            yield ReportFigure(stem, f"Counts per pixel per primary ion in the {window.region} window's regions "
                               f"against {'time' if kind == 'time' else 'state of charge'}; {window.roi_method}.",
                               tuple(paths))
