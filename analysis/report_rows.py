"""The results of a campaign as rows in field units: what the CLI's tables and the HTML report show.

One row per number: section, quantity, value and error in the unit the field uses (cm^2/s,
cm/s, um, C, uAh, degrees C, ions/cm^2), the SI path of the value in ``analyze --json``, and
the method. The conversions live here and in the figures only; everything else is SI.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from .campaign_results import CampaignAnalysis, DiffusionAnalysis, OperandoAnalysis
from .figure_output import CM2_PER_M2, UAH_PER_C, UM_PER_M

__all__ = ["Row", "summary_rows", "UNITS"]

UNITS = {
    "m2/s": ("cm^2/s", CM2_PER_M2),
    "m2": ("cm^2", CM2_PER_M2),
    "m/s": ("cm/s", 100.0),
    "m": ("um", UM_PER_M),
    "C": ("uAh", UAH_PER_C),
    "ions/m2": ("ions/cm^2", 1e-4),
    "eV": ("eV", 1.0),
    "": ("", 1.0),
    "s": ("h", 1.0 / 3600.0),
}
"""SI unit -> (field unit, factor)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One number: where it belongs, its value and error in field units, its JSON path and its method."""

    section: str
    quantity: str
    value: float | None
    error: float | None
    unit: str
    path: str
    method: str
    temperature_k: float | None = None

    def shown(self, digits: int = 3) -> tuple[str, str]:
        """Return (value, error) as text with ``digits`` significant figures ("-" when absent)."""
        return _number(self.value, digits), _number(self.error, 2)

    @property
    def temperature_c(self) -> str:
        return "" if self.temperature_k is None else f"{self.temperature_k - 273.15:.0f} C"


def summary_rows(analysis: CampaignAnalysis) -> list[Row]:
    """Return every headline number of a campaign analysis as rows (field units)."""
    rows: list[Row] = []
    if analysis.diffusion is not None:
        rows += list(_diffusion_rows(analysis.diffusion))
    for i, operando in enumerate(analysis.operando):
        rows += list(_operando_rows(operando, f"operando[{i}]"))
    if analysis.dose is not None:
        rows.append(_row("dose", "highest primary-ion dose", analysis.dose.max_dose_ions_per_m2, None, "ions/m2",
                         "dose.max_dose_ions_per_m2", analysis.dose.method))
        rows.append(_row("dose", "share of dosed area above the static limit (1e13 ions/cm^2)",
                         analysis.dose.fraction_over_limit, None, "", "dose.fraction_over_limit", analysis.dose.method))
    return rows


def _row(section, quantity, value, error, si_unit, path, method, temperature_k=None) -> Row:
    unit, factor = UNITS[si_unit]
    scaled = lambda v: None if v is None or not math.isfinite(v) else v * factor  # noqa: E731
    return Row(section, quantity, scaled(value), scaled(error), unit, path, method, temperature_k)


def _diffusion_rows(d: DiffusionAnalysis) -> Iterator[Row]:
    lr = d.long_range
    base = "diffusion.long_range"
    if lr is not None and lr.exchange is not None:
        ex = lr.exchange
        yield _row("long-range", "D_eff after the exchange (erfc)", ex.d_eff_m2_per_s, ex.d_eff_err_m2_per_s, "m2/s",
                   f"{base}.exchange.d_eff_m2_per_s", ex.method, ex.temperature_k)
        yield _row("long-range", "surface fraction Cs (erfc)", ex.erfc.c_s, ex.erfc.c_s_err, "",
                   f"{base}.exchange.erfc.c_s", ex.method)
    for i, step in enumerate(lr.steps if lr is not None else ()):
        path = f"{base}.steps[{i}]"
        yield _row("long-range", f"D_eff, {step.label}", step.d_eff_m2_per_s, step.d_eff_err_m2_per_s, "m2/s",
                   f"{path}.d_eff_m2_per_s", step.method, step.temperature_k)
        yield _row("long-range", f"diffusion dose, {step.label}", step.dose_m2, step.dose_err_m2, "m2",
                   f"{path}.dose_m2", "integral of D_eff dt over the recorded history between the two maps")
        yield _row("long-range", f"(l/delta) D_gb, {step.label}", step.gb_series_m2_per_s, step.gb_series_err_m2_per_s,
                   "m2/s", f"{path}.gb_series_m2_per_s", "series model: 1/(1/D_eff - 1/D_bulk), D_bulk given",
                   step.temperature_k)
    for name, fit, label in (("d_eff_arrhenius", lr.d_eff_arrhenius if lr else None, "D_eff"),
                             ("gb_arrhenius", lr.gb_arrhenius if lr else None, "(l/delta) D_gb")):
        if fit is not None:
            yield _row("Arrhenius", f"Ea of {label}", fit.activation_energy_ev, fit.activation_energy_err_ev, "eV",
                       f"{base}.{name}.activation_energy_ev", fit.method)
            yield _row("Arrhenius", f"prefactor of {label}", fit.prefactor, fit.prefactor_err, "m2/s",
                       f"{base}.{name}.prefactor", fit.method)
    if lr is not None and lr.dose_arrhenius is not None:
        fit = lr.dose_arrhenius
        yield _row("Arrhenius", "Ea of D_eff from the doses", fit.activation_energy_ev, fit.activation_energy_err_ev,
                   "eV", f"{base}.dose_arrhenius.activation_energy_ev", fit.method)
    for i, image in enumerate(d.images):
        path = f"diffusion.images[{i}]"
        label = f"{image.label} ({image.uid[:8]})"
        if image.quench is not None:
            yield _row("maps", f"quench: sqrt(2 D t) / pixel, {label}", image.quench.ratio, None, "",
                       f"{path}.quench.ratio", image.quench.method)
        dist = image.boundaries
        why = _no_boundary_reason(d, i) if dist.count_ok == 0 else ""
        yield _row("maps", f"D_gb/delta per boundary, median of {dist.count_ok} of {dist.count_total}, {label}{why}",
                   dist.median_m_per_s, None, "m/s", f"{path}.boundaries.median_m_per_s",
                   f"{image.boundaries_method}; boundaries {image.boundary_source}; steps relax within ~20 min at "
                   "22 C, so every map's steps are those of the reference temperature", image.reference_temperature_k)
        yield _row("maps", f"D_gb/delta per boundary, pooled, {label}", dist.pooled_m_per_s, dist.pooled_err_m_per_s,
                   "m/s", f"{path}.boundaries.pooled_m_per_s", dist.method, image.reference_temperature_k)
        if image.whole_map is not None:
            fit = image.whole_map
            yield _row("maps", f"D_gb/delta whole-map fit, {label}", fit.d_gb_over_width, fit.d_gb_over_width_err,
                       "m/s", f"{path}.whole_map.d_gb_over_width",
                       f"{fit.methods['d_gb_over_width']}; {image.whole_map_note}", fit.reference_temperature_k)
            yield _row("maps", f"whole-map reduced chi-square, {label}", fit.reduced_chi2, None, "",
                       f"{path}.whole_map.reduced_chi2", fit.methods["reduced_chi2"])
        if image.depth_check is not None:
            check = image.depth_check
            yield _row("maps", f"line scan minus map profile, {label}", check.mean_difference,
                       check.mean_difference_err, "", f"{path}.depth_check.mean_difference", check.method)
    if d.d_gb_over_width is not None:
        gb = d.d_gb_over_width
        yield _row("grain boundaries", "D_gb/delta of the campaign", gb.value_m_per_s, gb.err_m_per_s, "m/s",
                   "diffusion.d_gb_over_width.value_m_per_s", gb.method, gb.temperature_k)
        yield _row("grain boundaries", "D_gb (delta given)", gb.d_gb_m2_per_s, gb.d_gb_err_m2_per_s, "m2/s",
                   "diffusion.d_gb_over_width.d_gb_m2_per_s", gb.method, gb.temperature_k)
    if d.series_grain_size_m is not None:
        yield _row("grain boundaries", "boundary spacing l of the series model", d.series_grain_size_m,
                   d.series_grain_size_err_m, "m", "diffusion.series_grain_size_m",
                   "(l/delta) D_gb of the Arrhenius line over D_gb/delta of the campaign")
    if d.haven is not None:
        yield _row("Haven ratio", "H_R = D*/D_sigma", d.haven.haven_ratio, d.haven.haven_ratio_err, "",
                   "diffusion.haven.haven_ratio", d.haven.method, d.haven.temperature_k)


def _no_boundary_reason(d: DiffusionAnalysis, index: int) -> str:
    """Say why a map gave no per-boundary value: no steps found, steps J/k below the counting noise, or none fitted."""
    image, lr, gb = d.images[index], d.long_range, d.d_gb_over_width
    if image.boundaries.count_total == 0:
        return " (no boundary step was found in the map)"
    unjudged = " (no boundary fit was accepted)"  # without D_gb/delta nor flux, the expected steps are unknown
    if lr is None or gb is None or not image.mean_counts_per_pixel > 0:
        return unjudged
    d_eff = lr.d_eff_at(image.reference_temperature_k)
    if d_eff is None:
        return unjudged
    profile = lr.profiles[index]
    step = float(np.nanmax(np.abs(lr.flux_m_per_s(index, d_eff[0], profile.x_m)))) / gb.value_m_per_s
    c = float(np.nanmean(profile.c))
    noise = math.sqrt(c * (1 - c) / image.mean_counts_per_pixel)
    if step < 2 * noise:
        return (f" (steps J/(D_gb/delta) <= {step:.2g} expected, below 2x the counting noise {noise:.2g} per pixel: "
                "the profile is too flat for steps at boundaries)")
    return f" (steps up to {step:.2g} expected against {noise:.2g} noise per pixel, but no boundary fit was accepted)"


def _operando_rows(o: OperandoAnalysis, path: str) -> Iterator[Row]:
    caps = o.capacities
    for j, cycle in enumerate(caps.cycle.tolist()):
        p = f"{path}.capacities"
        yield _row("operando", f"charge capacity, cycle {cycle}", caps.charge_capacity_c[j], None, "C",
                   f"{p}.charge_capacity_c[{j}]", caps.method)
        yield _row("operando", f"discharge capacity, cycle {cycle}", caps.discharge_capacity_c[j], None, "C",
                   f"{p}.discharge_capacity_c[{j}]", caps.method)
        yield _row("operando", f"coulombic efficiency, cycle {cycle}", caps.coulombic_efficiency[j], None, "",
                   f"{p}.coulombic_efficiency[{j}]", caps.method)
        yield _row("operando", f"irreversible capacity, cycle {cycle}", caps.irreversible_capacity_c[j], None, "C",
                   f"{p}.irreversible_capacity_c[{j}]", caps.method)
    if o.reversibility is not None:
        yield _row("operando", f"{o.response_mass} pixels reversible ({o.response_region})",
                   o.reversibility.fraction_reversible, None, "", f"{path}.reversibility.fraction_reversible",
                   o.reversibility.method)
    if o.heterogeneity is not None:
        yield _row("operando", f"heterogeneity index of {o.response_mass} ({o.response_region})",
                   o.heterogeneity.index, None, "", f"{path}.heterogeneity.index", o.heterogeneity.method)
    yield _row("operando", "highest state of charge imaged", float(max(o.image_soc.soc)), None, "",
               f"{path}.image_soc.soc", o.image_soc.method)


def _number(value: float | None, digits: int) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"
