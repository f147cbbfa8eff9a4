"""What a tracer sample went through before an image, and where the image sits on it.

A :class:`DiffusionHistory` is the run's recorded thermal and exchange history as segments of
(duration_s, temperature_k, immersed), starting with the sample at its natural fraction
(before the first exchange) and ending with the image, plus the window's place on the
long-range profile (its left edge's distance from the immersed edge). A catalog reader fills
it from a run's stage and furnace temperature streams and its exchange steps.

Temperature and identifiability: a map holds one frozen state, so a diffusivity it yields
refers to one temperature. Every value here (D_gb/delta, D_bulk, D_eff) is the value at
``reference_temperature_k``; at other temperatures of the history it is scaled with a given
activation energy: D(T) = D(T_ref) exp(-Ea / kB (1/T - 1/T_ref)). For an isothermal history
(exchange and storage at one temperature, a cold image) the activation energies drop out;
otherwise the result depends on them and the fit says which it used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from simslab.errors import ValidationError
from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K

__all__ = ["HistorySegment", "DiffusionHistory", "temperature_factor"]

_SOURCE = "DiffusionHistory"


@dataclasses.dataclass(frozen=True)
class HistorySegment:
    """A stretch at one temperature: seconds, kelvin, and whether the edge x = 0 sat in the 6Li bath."""

    duration_s: float
    temperature_k: float
    immersed: bool = False


@dataclasses.dataclass(frozen=True)
class DiffusionHistory:
    """The sample's history before an image and the window's position (SI units).

    segments: in time order, from the untouched sample to the end of the image;
    window_origin_m: distance of the window's left edge (column 0) from the immersed edge;
    sample_length_m: along the diffusion direction; natural_fraction: C0 before exchange;
    surface_fraction: the bath's 6Li fraction held at x = 0 while immersed;
    reference_temperature_k: the temperature every fitted diffusivity refers to.
    """

    segments: tuple[HistorySegment, ...]
    window_origin_m: float
    sample_length_m: float = 10e-3
    natural_fraction: float = 0.0759
    surface_fraction: float = 0.95
    reference_temperature_k: float = 295.15

    def __post_init__(self) -> None:
        segments = tuple(self.segments)
        object.__setattr__(self, "segments", segments)
        if not segments:
            raise ValidationError(_SOURCE, "segments", "[]", "at least one segment")
        for i, segment in enumerate(segments):
            if not segment.duration_s >= 0:
                raise ValidationError(_SOURCE, f"segments[{i}].duration_s", segment.duration_s, ">= 0 s")
            if not 0 < segment.temperature_k <= 2000:
                raise ValidationError(_SOURCE, f"segments[{i}].temperature_k", segment.temperature_k, "0-2000 K")
        if not any(s.immersed and s.duration_s > 0 for s in segments):
            raise ValidationError(_SOURCE, "segments", "no immersed segment", "an exchange (immersed) segment")
        if not 0 < self.sample_length_m <= 1:
            raise ValidationError(_SOURCE, "sample_length_m", self.sample_length_m, "0-1 m")
        if not 0 <= self.window_origin_m < self.sample_length_m:
            allowed = f"0 to sample_length_m ({self.sample_length_m} m)"
            raise ValidationError(_SOURCE, "window_origin_m", self.window_origin_m, allowed)
        for name in ("natural_fraction", "surface_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValidationError(_SOURCE, name, getattr(self, name), "0-1")
        if not 0 < self.reference_temperature_k <= 2000:
            raise ValidationError(_SOURCE, "reference_temperature_k", self.reference_temperature_k, "0-2000 K")

    @classmethod
    def from_steps(cls, steps: Sequence[tuple[float, float, bool]], window_origin_m: float, **fields) -> DiffusionHistory:
        """Build a history from (duration_s, temperature_k, immersed) tuples."""
        return cls(tuple(HistorySegment(float(d), float(t), bool(i)) for d, t, i in steps), window_origin_m, **fields)

    @property
    def duration_s(self) -> float:
        """Total length of the history in s."""
        return float(sum(s.duration_s for s in self.segments))

    @property
    def isothermal(self) -> bool:
        """True when every segment that lets the bulk move sits at the reference temperature.

        "Lets the bulk move": hotter than 200 K (at -110 C and below, the published quench).
        """
        warm = [s.temperature_k for s in self.segments if s.temperature_k > 200.0 and s.duration_s > 0]
        return all(abs(t - self.reference_temperature_k) < 0.5 for t in warm)

    def temperatures_k(self) -> np.ndarray:
        """Return each segment's temperature in K."""
        return np.array([s.temperature_k for s in self.segments])

    def durations_s(self) -> np.ndarray:
        """Return each segment's duration in s."""
        return np.array([s.duration_s for s in self.segments])


def temperature_factor(activation_ev: float, temperature_k: np.ndarray | float, reference_k: float) -> np.ndarray:
    """Return D(T) / D(T_ref) = exp(-Ea / kB (1/T - 1/T_ref)) for an activation energy in eV."""
    inverse = 1.0 / np.asarray(temperature_k, dtype=float) - 1.0 / reference_k
    return np.exp(-activation_ev / BOLTZMANN_EV_PER_K * inverse)
