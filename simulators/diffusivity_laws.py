"""Evaluate the twin's diffusivity laws (profile parameters) at a temperature, in m^2/s."""

from __future__ import annotations

from simslab.physics.diffusion_laws import arrhenius, tabulated_arrhenius
from simslab.simulators.parameters import ArrheniusLaw, TabulatedLaw

__all__ = ["diffusivity"]


def diffusivity(law: ArrheniusLaw | TabulatedLaw, temperature_k: float) -> float:
    """Return D(T) in m^2/s: Arrhenius, or log D interpolated in 1/T through a table."""
    if not temperature_k > 0:
        raise ValueError(f"temperature_k must be > 0 K, got {temperature_k}")
    if isinstance(law, ArrheniusLaw):
        return float(arrhenius(law.prefactor_m2_per_s, law.activation_ev, temperature_k))
    if isinstance(law, TabulatedLaw):
        return float(tabulated_arrhenius(law.temperature_k, law.d_m2_per_s, temperature_k))
    raise TypeError(f"unknown diffusivity law {type(law).__name__}")
