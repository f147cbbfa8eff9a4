"""The long-range 6Li profile through a campaign: erfc after the exchange, D_eff per step, Arrhenius.

Each map is averaged across the diffusion direction into a profile C(x), x from the immersed
edge. The post-exchange profile is fitted with the erfc solution (C0 held at the natural
fraction; with C0 free the window cannot tell C0 from D). Each later map is then explained
by evolving the earlier one through the recorded thermal history between them with zero flux
at both ends (``fit_closed_system_diffusivity``): the fit gives the step's diffusion dose.
The earlier profile is the measured one inside the window and, outside it, the model carried
along the chain (the erfc fit evolved by every fitted dose), so tracer beyond the 500 um
window is not lost. The doses of steps at different temperatures give Ea and D_eff(T)
together (``fit_arrhenius_from_doses``: ramps and transfers count at their recorded
temperatures); the series model then gives (l/delta) D_gb = 1 / (1/D_eff - 1/D_bulk) per step.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from simslab.errors import SimslabError

from .arrhenius_fit import ArrheniusFit, fit_arrhenius
from .closed_system import ClosedSystemFit, DoseArrheniusFit, _ClosedSample, equivalent_time_s
from .closed_system import fit_arrhenius_from_doses, fit_closed_system_diffusivity
from .diffusion_settings import PUBLISHED_GB_ACTIVATION_EV, DiffusionSettings
from .erfc_profile import ErfcFit, MapProfile, fit_erfc_profile, profile_from_map
from .isotope_map import isotope_fraction
from .read_campaign import CampaignRecord
from .results import AnalysisResult

__all__ = ["ExchangeFit", "StepDiffusivity", "LongRangeAnalysis", "analyze_long_range", "MODEL_CELLS"]

log = logging.getLogger(__name__)

MODEL_CELLS = 2000
"""Cells of the whole-sample model (5 um over 10 mm: the profiles vary over >= 100 um)."""
_SHOWN_M = 2e-3  # the models are kept over the first 2 mm (figures, fluxes)
_SAME_TEMPERATURE_K = 1.0  # a fit this close to a temperature measured D_eff at it


@dataclasses.dataclass(frozen=True)
class ExchangeFit(AnalysisResult):
    """The erfc fit of the post-exchange profile: D_eff (m^2/s) at the bath temperature (K)."""

    uid: str
    temperature_k: float
    immersed_s: float
    d_eff_m2_per_s: float
    d_eff_err_m2_per_s: float
    erfc: ErfcFit
    method: str


@dataclasses.dataclass(frozen=True)
class StepDiffusivity(AnalysisResult):
    """One step between two maps: its diffusion dose and D_eff at its temperature (SI).

    temperature_k: the step's nominal temperature, to which D_eff refers (the whole recorded
    history counts through t_eq); recorded_max_k: the hottest recorded temperature;
    gb_series_m2_per_s: (l/delta) D_gb from the series model with the given D_bulk(T).
    """

    uid: str
    label: str
    kind: str
    temperature_k: float
    recorded_max_k: float
    interval_s: float
    dose_m2: float
    dose_err_m2: float
    equivalent_time_s: float
    d_eff_m2_per_s: float
    d_eff_err_m2_per_s: float
    d_bulk_m2_per_s: float
    gb_series_m2_per_s: float
    gb_series_err_m2_per_s: float
    chi2_reduced: float
    method: str


@dataclasses.dataclass(frozen=True)
class LongRangeAnalysis(AnalysisResult):
    """Profiles of every map, the exchange fit, the steps and the Arrhenius fits (SI units).

    model_x_m, models: the whole-sample model over the first 2 mm at each map (the erfc fit,
    then the chain), for figures and for the macroscopic flux at each map.
    """

    profiles: tuple[MapProfile, ...]
    exchange: ExchangeFit | None
    steps: tuple[StepDiffusivity, ...]
    dose_arrhenius: DoseArrheniusFit | None
    d_eff_arrhenius: ArrheniusFit | None
    gb_arrhenius: ArrheniusFit | None
    model_x_m: np.ndarray
    models: tuple[np.ndarray, ...]
    origin_note: str
    method: str

    def d_eff_at(self, temperature_k: float) -> tuple[float, float, str] | None:
        """Return (D_eff, error, how) at ``temperature_k``: measured there if a fit was, else the Arrhenius line.

        A D_eff measured at the temperature (the exchange's erfc fit at the bath temperature, or a
        step held there) comes first: the series model's D_eff is not Arrhenius, so the line
        through 100-200 C anneals extrapolated to 22 C overestimates D_eff there by ~25 %
        (effective Ea 0.38 eV above 100 C, 0.41 eV between 22 and 100 C on the default twin).
        """
        if self.exchange is not None and abs(self.exchange.temperature_k - temperature_k) <= _SAME_TEMPERATURE_K:
            return self.exchange.d_eff_m2_per_s, self.exchange.d_eff_err_m2_per_s, "erfc fit after the exchange"
        held = [s for s in self.steps if abs(s.temperature_k - temperature_k) <= _SAME_TEMPERATURE_K]
        if held:
            step = min(held, key=lambda s: s.d_eff_err_m2_per_s / s.d_eff_m2_per_s)
            return step.d_eff_m2_per_s, step.d_eff_err_m2_per_s, f"closed-system fit of step {step.label!r}"
        if self.d_eff_arrhenius is not None:
            value, error = self.d_eff_arrhenius.predict(temperature_k)
            return float(value), float(error), "Arrhenius line through the steps' D_eff"
        if self.exchange is not None:
            return self.exchange.d_eff_m2_per_s, self.exchange.d_eff_err_m2_per_s, "erfc fit after the exchange"
        if self.steps:
            step = min(self.steps, key=lambda s: abs(s.temperature_k - temperature_k))
            return step.d_eff_m2_per_s, step.d_eff_err_m2_per_s, f"closed-system fit of step {step.label!r}"
        return None

    def flux_m_per_s(self, image_index: int, d_eff_m2_per_s: float, x_m: np.ndarray) -> np.ndarray:
        """Return the tracer flux -D_eff dC/dx of the model at a map (m/s), at positions x_m from the edge."""
        gradient = np.gradient(self.models[image_index], self.model_x_m)
        return -d_eff_m2_per_s * np.interp(x_m, self.model_x_m, gradient)


def analyze_long_range(record: CampaignRecord, settings: DiffusionSettings) -> LongRangeAnalysis | None:
    """Fit the long-range profiles of a campaign's maps (None when it has no map)."""
    images = record.images
    if not images or record.timeline is None:
        return None
    origins = [im.window_origin_m for im in images]
    profiles = [_profile(im, origin or 0.0) for im, origin in zip(images, origins)]
    sample = _ClosedSample(settings.sample_length_m, MODEL_CELLS)
    exchange, model, origin_note = _exchange(record, profiles, settings)
    if exchange is not None and origins[0] is None:  # place every map by the fitted edge
        shift = exchange.erfc.shift_m
        profiles = [dataclasses.replace(p, x_m=p.x_m - shift) for p in profiles]
    if model is None:
        model = np.interp(sample.centres_m, profiles[0].x_m, profiles[0].c)
    models = [model]
    fits: list[tuple[int, ClosedSystemFit, float]] = []
    for k in range(1, len(images)):
        earlier = _composite(sample.centres_m, models[-1], profiles[k - 1])
        steps = record.steps_before(images[k])
        time_s, temperature_k = record.timeline.trace(images[k - 1].end_s, images[k].integration_start_s)
        later = profiles[k]
        try:
            fit = fit_closed_system_diffusivity(
                sample.centres_m, earlier, later.x_m, later.c, time_s=time_s, temperature_k=temperature_k,
                sigma_final=later.c_err, sample_length_m=settings.sample_length_m, cells=MODEL_CELLS,
                reference_k=_step_temperature(steps, temperature_k),
            )
        except SimslabError as err:
            log.warning("no D_eff between maps %d and %d: %s", k - 1, k, err)
            models.append(earlier)
            continue
        fits.append((k, fit, _step_temperature(steps, temperature_k)))
        models.append(sample.evolve(earlier, fit.dose_m2))
    dose_fit = _dose_arrhenius(fits)
    activation = dose_fit.activation_energy_ev if dose_fit is not None else PUBLISHED_GB_ACTIVATION_EV
    activation_err = dose_fit.activation_energy_err_ev if dose_fit is not None else 0.0
    steps = tuple(_step(record, images[k], fit, t, activation, activation_err, settings) for k, fit, t in fits)
    shown = sample.centres_m <= _SHOWN_M
    return LongRangeAnalysis(
        profiles=tuple(profiles),
        exchange=exchange,
        steps=steps,
        dose_arrhenius=dose_fit,
        d_eff_arrhenius=_line(steps, lambda s: (s.d_eff_m2_per_s, s.d_eff_err_m2_per_s)),
        gb_arrhenius=_line(steps, lambda s: (s.gb_series_m2_per_s, s.gb_series_err_m2_per_s)),
        model_x_m=sample.centres_m[shown],
        models=tuple(m[shown] for m in models),
        origin_note=origin_note,
        method=(
            "map profiles (counting-weighted column means); erfc fit after the exchange with C0 held at the natural "
            f"fraction; closed-system fits between consecutive maps over the recorded history ({MODEL_CELLS} cells over "
            f"{settings.sample_length_m * 1e3:g} mm, outside the window the chained model); D_eff per step = dose / "
            "t_eq(Ea) with Ea fitted to all doses; (l/delta) D_gb = 1/(1/D_eff - 1/D_bulk)"
        ),
    )


def _profile(image, origin_m: float) -> MapProfile:
    fraction = isotope_fraction(image.i6, image.i7)
    return profile_from_map(fraction.fraction, fraction.sigma, image.pixel_size_m, offset_m=origin_m)


def _exchange(record: CampaignRecord, profiles: Sequence[MapProfile], settings: DiffusionSettings):
    """Return (ExchangeFit, model on the grid, note on the map's place) for the map right after an exchange."""
    first = record.images[0]
    steps = record.steps_before(first)
    sample_x = _ClosedSample(settings.sample_length_m, MODEL_CELLS).centres_m
    if not steps or steps[-1].kind != "exchange":
        return None, None, "the first map does not follow an exchange: no erfc fit, the chain starts from it"
    immersed_s = record.timeline.immersed_s(first.end_s)
    unknown = first.window_origin_m is None
    profile = profiles[0]
    erfc = fit_erfc_profile(profile.x_m, profile.c, immersed_s, c0=settings.natural_fraction, sigma=profile.c_err,
                            fit_shift=unknown)
    temperature_k = steps[-1].nominal_temperature_k or settings.reference_temperature_k
    method = erfc.method + f"; t = {immersed_s:.0f} s in the bath as recorded (sample_location)"
    note = (f"the window's place is {first.origin_source}" if not unknown else
            "the window's place is not recorded: the immersed edge was fitted (erfc shift) and every map placed by it")
    fit = ExchangeFit(first.uid, float(temperature_k), immersed_s, erfc.d_eff, erfc.d_eff_err, erfc, method)
    shifted = dataclasses.replace(erfc, shift_m=0.0) if unknown else erfc
    return fit, shifted.model(sample_x), note


def _composite(x_m: np.ndarray, model: np.ndarray, profile: MapProfile) -> np.ndarray:
    """Return the model with the measured profile put in over the window (finite points only)."""
    good = np.isfinite(profile.c)
    combined = model.copy()
    inside = (x_m >= profile.x_m[good][0]) & (x_m <= profile.x_m[good][-1])
    combined[inside] = np.interp(x_m[inside], profile.x_m[good], profile.c[good])
    return combined


def _step_temperature(steps, temperature_k: np.ndarray) -> float:
    """The temperature a step's D_eff refers to: its nominal one (the hottest of several), else the recorded maximum."""
    nominal = [s.nominal_temperature_k for s in steps if s.nominal_temperature_k]
    return float(max(nominal)) if nominal else float(np.max(temperature_k))


def _dose_arrhenius(fits: list[tuple[int, ClosedSystemFit, float]]) -> DoseArrheniusFit | None:
    temperatures = {round(t, 1) for _, _, t in fits}
    if len(fits) < 2 or len(temperatures) < 2:
        return None
    reference_k = 1.0 / float(np.mean([1.0 / t for _, _, t in fits]))
    return fit_arrhenius_from_doses([fit for _, fit, _ in fits], reference_k)


def _step(record, image, fit: ClosedSystemFit, temperature_k: float, activation_ev: float, activation_err_ev: float,
          settings: DiffusionSettings) -> StepDiffusivity:
    steps = record.steps_before(image)
    last = steps[-1] if steps else None
    t_eq = equivalent_time_s(fit.history_time_s, fit.history_temperature_k, activation_ev, temperature_k)
    d_eff = fit.dose_m2 / t_eq
    # Ea's error moves t_eq (ramps and transfers weigh differently): propagate it by a finite difference
    t_eq_shifted = equivalent_time_s(fit.history_time_s, fit.history_temperature_k, activation_ev + 0.01, temperature_k)
    d_ln_teq = (np.log(t_eq_shifted) - np.log(t_eq)) / 0.01 * activation_err_ev
    d_eff_err = d_eff * float(np.hypot(fit.dose_err_m2 / fit.dose_m2, d_ln_teq))
    d_bulk = float(settings.d_bulk_at(temperature_k))
    if d_eff < d_bulk:
        gb = 1.0 / (1.0 / d_eff - 1.0 / d_bulk)
        gb_err = gb**2 * float(np.hypot(d_eff_err / d_eff**2, settings.d_bulk_rel_err / d_bulk))
    else:
        gb = gb_err = float("nan")  # D_eff at D_bulk: the boundaries do not limit, the series model says nothing
    return StepDiffusivity(
        uid=last.uid if last else image.uid,
        label=last.label if last else f"before {image.label}",
        kind=last.kind if last else "",
        temperature_k=temperature_k,
        recorded_max_k=float(np.max(fit.history_temperature_k)),
        interval_s=float(fit.history_time_s[-1] - fit.history_time_s[0]),
        dose_m2=fit.dose_m2,
        dose_err_m2=fit.dose_err_m2,
        equivalent_time_s=t_eq,
        d_eff_m2_per_s=d_eff,
        d_eff_err_m2_per_s=d_eff_err,
        d_bulk_m2_per_s=d_bulk,
        gb_series_m2_per_s=gb,
        gb_series_err_m2_per_s=gb_err,
        chi2_reduced=fit.chi2_reduced,
        method=(fit.method.split("; D_eff =")[0] + f"; D_eff = dose / t_eq(Ea = {activation_ev:.3f} eV) at "
                f"{temperature_k:.2f} K; series model with D_bulk = {d_bulk:.3g} m^2/s (given)"),
    )


def _line(steps: Sequence[StepDiffusivity], values) -> ArrheniusFit | None:
    points = [(s.temperature_k, *values(s)) for s in steps]
    points = [(t, d, e) for t, d, e in points if np.isfinite(d) and d > 0 and np.isfinite(e) and e > 0]
    if len({round(t, 1) for t, _, _ in points}) < 2:
        return None
    temperature, d, err = (np.array(v) for v in zip(*points))
    return fit_arrhenius(temperature, d, err)
