"""Diffusion models that tie the measurements together, SI units.

The closed-form laws (Arrhenius, series model, diffusion length) live in
``simslab.physics.diffusion_laws`` (shared with the twin) and are re-exported here; this
module adds the conductivity diffusion coefficient, the Haven ratio and the quench check.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike
from scipy.constants import Boltzmann, elementary_charge

from simslab.errors import ValidationError
from simslab.physics.diffusion_laws import arrhenius, diffusion_length, series_effective_diffusivity

from .input_checks import float_array, positive, same_shape
from .results import AnalysisResult

__all__ = [
    "series_effective_diffusivity",
    "diffusion_length",
    "nernst_einstein_diffusivity",
    "haven_ratio",
    "QuenchCheck",
    "quench_check",
    "quench_check_from_trace",
]

DEFAULT_QUENCH_FRACTION = 0.5
"""Diffusion over half a pixel during an image is where the image starts to smear."""


def nernst_einstein_diffusivity(
    sigma: ArrayLike, temperature_k: ArrayLike, carrier_density: ArrayLike, charge_number: int = 1
) -> np.ndarray:
    """Return the conductivity diffusion coefficient D_sigma = sigma kB T / (n (z e)^2) in m^2/s.

    sigma: ionic conductivity in S/m; temperature_k in K; carrier_density n in 1/m^3.
    """
    sigma = positive("nernst_einstein_diffusivity", "sigma", sigma, allow_zero=True)
    temperature_k = positive("nernst_einstein_diffusivity", "temperature_k", temperature_k)
    carrier_density = positive("nernst_einstein_diffusivity", "carrier_density", carrier_density)
    return sigma * Boltzmann * temperature_k / (carrier_density * (charge_number * elementary_charge) ** 2)


def haven_ratio(d_tracer: ArrayLike, d_sigma: ArrayLike) -> np.ndarray:
    """Return H_R = D* / D_sigma (tracer over conductivity diffusion coefficient, same units)."""
    d_tracer = positive("haven_ratio", "d_tracer", d_tracer, allow_zero=True)
    d_sigma = positive("haven_ratio", "d_sigma", d_sigma)
    return d_tracer / d_sigma


@dataclasses.dataclass(frozen=True)
class QuenchCheck(AnalysisResult):
    """Is the sample frozen during an image? sqrt(2 D t) against the pixel size.

    ``flagged`` when the diffusion length exceeds ``max_fraction`` of the pixel: then the map
    is smeared by diffusion while it was taken, and the image should be retaken colder.
    """

    diffusion_length_m: float
    pixel_size_m: float
    ratio: float
    max_fraction: float
    flagged: bool
    d_mean_m2_per_s: float
    duration_s: float
    method: str


def quench_check(
    d: float, duration_s: float, pixel_size_m: float, *, max_fraction: float = DEFAULT_QUENCH_FRACTION
) -> QuenchCheck:
    """Compare sqrt(2 D t) during an image with the pixel size.

    d: D_eff at the stage temperature in m^2/s; duration_s: the image's integration time;
    pixel_size_m: the map's pixel; flagged when the length exceeds max_fraction pixels.
    """
    d = float(positive("quench_check", "d", d, allow_zero=True))
    duration_s = float(positive("quench_check", "duration_s", duration_s))
    pixel_size_m = float(positive("quench_check", "pixel_size_m", pixel_size_m))
    length = float(diffusion_length(d, duration_s))
    ratio = length / pixel_size_m
    method = f"sqrt(2 D t) vs pixel, flagged above {max_fraction:g} pixel"
    return QuenchCheck(length, pixel_size_m, ratio, max_fraction, ratio > max_fraction, d, duration_s, method)


def quench_check_from_trace(
    time_s: ArrayLike,
    temperature_k: ArrayLike,
    prefactor: float,
    activation_ev: float,
    pixel_size_m: float,
    *,
    max_fraction: float = DEFAULT_QUENCH_FRACTION,
) -> QuenchCheck:
    """Quench check over the stage temperature recorded during an image.

    time_s, temperature_k: the stage trace during the image; D(T) = prefactor exp(-Ea / kB T)
    in m^2/s (e.g. the (l/delta) D_gb line, which bounds D_eff from above). The diffusion
    length is sqrt(2 * integral of D dt) (trapezoid over the trace).
    """
    time_s = float_array("quench_check_from_trace", "time_s", time_s, ndim=1, finite=True)
    temperature_k = positive("quench_check_from_trace", "temperature_k", temperature_k)
    same_shape("quench_check_from_trace", time_s=time_s, temperature_k=temperature_k)
    if time_s.size < 2 or np.any(np.diff(time_s) < 0) or time_s[-1] <= time_s[0]:
        raise ValidationError(
            "quench_check_from_trace", "time_s", "non-increasing trace", "increasing times, >= 2 samples"
        )
    duration = float(time_s[-1] - time_s[0])
    d = arrhenius(prefactor, activation_ev, temperature_k)
    mean_d = float(np.trapezoid(d, time_s) / duration)
    result = quench_check(mean_d, duration, pixel_size_m, max_fraction=max_fraction)
    return dataclasses.replace(result, method=result.method + "; D averaged over the recorded stage temperature")
