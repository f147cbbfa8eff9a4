"""The forward model of the whole-map fit: expected C on the image grid from the diffusivities.

Given the boundaries (:class:`~.whole_map_geometry.BoundaryMap`), the pixel size, the history
(:class:`~.whole_map_history.DiffusionHistory`) and the diffusivities at the reference
temperature (:class:`MapDiffusivities`), :class:`WholeMapModel` computes:

1. per segment, D_bulk(T), k(T) = D_gb/delta per class, and the long-range D_eff(T) from its
   reference value by the series model (1/D_eff = 1/D_bulk + 1/(l k): the boundary term
   scales like k(T)); the shared solvers are in ``simslab.physics``;
2. where the grain-scale structure froze in: the trailing segments in which the bulk moves
   less than ``TAIL_DOSE_PX2`` pixel^2 in total (the cold image) form the *tail*; before it,
   the structure's relaxation (activity t / (l^2/D_bulk + l/k)) weighs each segment's
   k/D_bulk as it survives to the end (the twin's sample does the same) -> r = k h / D_bulk;
3. the window's own conductance at that r, per column face (one steady 2D solve);
4. the long-range profile and the window's macroscopic profile through the history, each
   column face conducting at temperature T by the series form through its value at r;
5. the quasi-static 2D field at r with that profile, corrected to first order for the
   structure's lag behind its falling drive (large grains behind slow boundaries), then the
   tail evolved in full (2D transient: the bulk still smooths the pixels beside frozen
   boundaries), then the beam's Gaussian point-spread function.

Values that do not depend on the fitted parameters (the long-range edge history for a given
D_eff, the tail split) are computed once and cached.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from simslab.errors import ValidationError
from simslab.physics.map_forward_model import QuasiStaticWindow, Relaxation
from simslab.physics.window_profile import EdgeHistory, LongRangeWindow, ProfileStretch, uniform_face_rates

from .whole_map_geometry import BoundaryMap
from .whole_map_history import DiffusionHistory, temperature_factor

__all__ = ["MapDiffusivities", "FrozenState", "WholeMapModel", "TAIL_DOSE_PX2", "MIN_ACTIVITY"]

log = logging.getLogger(__name__)

TAIL_DOSE_PX2 = 20.0
"""Trailing segments moving the bulk less than this (in pixel^2, D_bulk t / h^2) are evolved in full."""
MIN_ACTIVITY = 3.0
"""The grain-scale structure must have relaxed this many times before the tail for the model to hold."""
_LAG_FROM = 0.9  # the structure's rate of change is taken over the last 10 % of the time before the tail


@dataclasses.dataclass(frozen=True)
class MapDiffusivities:
    """Diffusivities at the history's reference temperature: D_gb/delta per class (m/s), D_bulk, D_eff (m^2/s)."""

    d_gb_over_width_m_per_s: tuple[float, ...]
    d_bulk_m2_per_s: float
    d_eff_m2_per_s: float


@dataclasses.dataclass(frozen=True)
class FrozenState:
    """How the model treated the history: where the structure froze and at which conductance.

    ratio: k h / D_bulk per class where the structure froze; conductance: d_r = D_w / D_bulk;
    activity: grain-scale relaxations before the tail; tail_segments: segments evolved in
    full after it; tail_dose_px2: the bulk's dose over the tail in pixel^2.
    """

    ratio: tuple[float, ...]
    conductance: float
    activity: float
    tail_segments: int
    tail_dose_px2: float


class WholeMapModel:
    """Expected C of one map as a function of the diffusivities (see the module docstring)."""

    def __init__(
        self,
        boundaries: BoundaryMap,
        pixel_size_m: float,
        history: DiffusionHistory,
        *,
        d_bulk_guess_m2_per_s: float,
        k_guess_m_per_s: float,
        bulk_activation_ev: float,
        gb_activation_ev: float,
        psf_sigma_m: float = 0.0,
    ):
        self.boundaries = boundaries
        self.pixel_size_m = float(pixel_size_m)
        self.history = history
        self.bulk_activation_ev = float(bulk_activation_ev)
        self.gb_activation_ev = float(gb_activation_ev)
        self.psf_sigma_px = float(psf_sigma_m) / self.pixel_size_m
        self.shape = boundaries.shape
        self.window = QuasiStaticWindow(
            boundaries.labels,
            normal_x_rad=boundaries.normal_x_rad,
            normal_y_rad=boundaries.normal_y_rad,
            boundary_class_x=boundaries.class_x,
            boundary_class_y=boundaries.class_y,
            column_smoothing_px=boundaries.mean_spacing_m(self.pixel_size_m) / self.pixel_size_m,
        )
        self.long_range = LongRangeWindow(
            history.sample_length_m, history.window_origin_m, self.pixel_size_m, self.shape[1],
            history.natural_fraction, history.surface_fraction,
        )
        reference = history.reference_temperature_k
        temperatures = history.temperatures_k()
        self._durations = history.durations_s()
        self._bulk_factor = temperature_factor(self.bulk_activation_ev, temperatures, reference)
        self._gb_factor = temperature_factor(self.gb_activation_ev, temperatures, reference)
        self._immersed = [s.immersed for s in history.segments]
        self._spacing_m = boundaries.mean_spacing_m(self.pixel_size_m)
        self._weights = boundaries.face_counts / max(boundaries.face_counts.sum(), 1)
        self.tail_start = self._tail_start(d_bulk_guess_m2_per_s)
        self._tail = self._tail_relaxation(d_bulk_guess_m2_per_s, k_guess_m_per_s)
        self._edges: tuple[tuple, EdgeHistory] | None = None

    @property
    def classes(self) -> int:
        return self.boundaries.classes

    def expected(self, values: MapDiffusivities) -> np.ndarray:
        """Return the expected C (ny, nx) on the image grid, after the beam's blur."""
        return self.blur(self.field(values))

    def blur(self, field: np.ndarray) -> np.ndarray:
        """Return ``field`` seen through the beam's Gaussian spot (the image's own blur)."""
        if self.psf_sigma_px > 0.05:
            return gaussian_filter(field, self.psf_sigma_px, mode="nearest")
        return field

    def corrections(self, values: MapDiffusivities, modes: int) -> np.ndarray:
        """Return (ny, nx, 2 + modes) responses of the image to small changes of the window's profile.

        0 and 1: the left and right edge values raised by 1 (steady response, exact);
        2..: the macroscopic profile raised by sin(m pi x / W), m = 1..modes, with its
        grain-scale response to first order (the corrector of phi: where phi steps, a change
        of the macroscopic gradient steps in proportion). Linear parameters: the fit solves
        for their amplitudes at every evaluation.
        """
        ratio = self._frozen_ratio(values)
        phi = self.window.edge_response(ratio)
        # phi's macroscopic profile: its column means smoothed over a few grains (the column
        # means themselves step at boundaries that run across the map)
        smoothing_px = 3.0 * self._spacing_m / self.pixel_size_m
        macro = gaussian_filter1d(phi.mean(axis=0), smoothing_px, mode="nearest")
        slope = np.gradient(macro)
        slope = np.where(slope < -1e-9, slope, -1e-9)
        x = (np.arange(self.shape[1]) + 0.5) / self.shape[1]
        seen = self.blur(phi)  # the blur of (smooth f(x)) * phi is f(x) * blur(phi) to O(sigma^2 f')
        out = np.empty(self.shape + (2 + modes,))
        out[..., 0] = seen
        out[..., 1] = 1.0 - seen
        for m in range(1, modes + 1):
            mode = np.sin(m * np.pi * x)
            mode_slope = m * np.pi / self.shape[1] * np.cos(m * np.pi * x)
            out[..., 1 + m] = mode + mode_slope * (seen - macro) / slope
        return out

    def field(self, values: MapDiffusivities) -> np.ndarray:
        """Return the model's C (ny, nx) before the blur."""
        k_ref = self._check(values)
        d_bulk = values.d_bulk_m2_per_s * self._bulk_factor
        rho = self._gb_factor / self._bulk_factor  # k/D_bulk at T over its reference value
        frozen = slice(0, self.tail_start)
        rho_frozen, _ = self._freeze(values)
        ratio = k_ref * self.pixel_size_m / values.d_bulk_m2_per_s * rho_frozen
        # each column face's conductance at other temperatures: the series form through its
        # value at the freeze (the boundary part scales like k / D_bulk)
        g_frozen = self.window.column_conductances(ratio)
        bulk_part = 1.0 / uniform_face_rates(1.0, self.shape[1])
        boundary_part = np.maximum(1.0 / g_frozen - bulk_part, 0.0)
        g = 1.0 / (bulk_part + np.outer(rho_frozen / rho[frozen], boundary_part))
        face_rates = g * (d_bulk[frozen] / self.pixel_size_m**2)[:, None]
        edges = self._edge_history(self._long_range_d_eff(values, d_bulk)[frozen])
        snapshot, interval = self._lag_interval(edges, d_bulk)
        before, profile = self.long_range.window_profiles(edges, face_rates, [snapshot, edges.step_s.size])
        field = self.window.field(ratio, profile)
        if interval > 0:
            field = field + self.window.lag(ratio, profile, before, interval)
        if self._tail is not None:
            field = self._tail.apply(field, profile.left, profile.right)
        return field

    def frozen_state(self, values: MapDiffusivities) -> FrozenState:
        """Return how the model treats the history for these values (one solve at most)."""
        ratio = self._frozen_ratio(values)
        activity = self._freeze(values)[1]
        tail_dose = 0.0 if self._tail is None else self._tail.dose_px2
        tail_segments = len(self._durations) - self.tail_start
        return FrozenState(tuple(ratio.tolist()), self.window.conductance(ratio), activity, tail_segments, tail_dose)

    # --- internals ---------------------------------------------------------------------------

    def _check(self, values: MapDiffusivities) -> np.ndarray:
        k_ref = np.asarray(values.d_gb_over_width_m_per_s, dtype=float).ravel()
        if k_ref.shape != (self.classes,) or np.any(~(k_ref > 0)) or np.any(~np.isfinite(k_ref)):
            raise ValidationError("WholeMapModel", "d_gb_over_width_m_per_s", k_ref, f"{self.classes} values > 0 m/s")
        if not 0 < values.d_eff_m2_per_s < values.d_bulk_m2_per_s:
            raise ValidationError(
                "WholeMapModel", "d_eff_m2_per_s", values.d_eff_m2_per_s,
                f"> 0 and below d_bulk_m2_per_s ({values.d_bulk_m2_per_s:.3g}): boundaries only slow the tracer",
            )
        return k_ref

    def _frozen_ratio(self, values: MapDiffusivities) -> np.ndarray:
        k_ref = self._check(values)
        return k_ref * self.pixel_size_m / values.d_bulk_m2_per_s * self._freeze(values)[0]

    def _freeze(self, values: MapDiffusivities) -> tuple[float, float]:
        """Return (k/D_bulk where the structure froze over its reference value, activity before the tail)."""
        k_ref = np.asarray(values.d_gb_over_width_m_per_s, dtype=float)
        d_bulk = values.d_bulk_m2_per_s * self._bulk_factor
        weights, activity = self._survival(d_bulk, np.outer(self._gb_factor, k_ref))
        if activity < MIN_ACTIVITY:
            raise ValidationError(
                "WholeMapModel", "history", f"grain-scale activity {activity:.2g} before the image",
                f">= {MIN_ACTIVITY:g}: the structure never relaxed, the quasi-static model does not apply",
            )
        rho = self._gb_factor[: self.tail_start] / self._bulk_factor[: self.tail_start]
        return float(np.exp(np.dot(weights, np.log(rho)) / weights.sum())), activity

    def _tail_start(self, d_bulk_guess: float) -> int:
        """Index of the first tail segment (fixed once, so the fit's likelihood stays smooth)."""
        dose_px2 = d_bulk_guess * self._bulk_factor * self._durations / self.pixel_size_m**2
        trailing = np.cumsum(dose_px2[::-1])[::-1]  # dose from each segment to the end
        inside = np.flatnonzero(trailing <= TAIL_DOSE_PX2)
        start = int(inside[0]) if inside.size else len(self._durations)
        # the tail must follow the last exchange: the long-range boundary is not modelled in it
        last_immersed = max(i for i, immersed in enumerate(self._immersed) if immersed)
        return max(start, last_immersed + 1)

    def _lag_interval(self, edges: EdgeHistory, d_bulk: np.ndarray) -> tuple[int, float]:
        """Return the step after which the structure's rate of change is measured, and the interval
        to the end in units of h^2 / D_bulk (the last ~10 % of the time before the tail)."""
        snapshot = edges.steps_until(_LAG_FROM)
        steps = slice(snapshot, edges.step_s.size)
        dose_px2 = float(np.sum(edges.step_s[steps] * d_bulk[edges.stretch[steps]])) / self.pixel_size_m**2
        return snapshot, dose_px2

    def _tail_relaxation(self, d_bulk_guess: float, k_guess: float) -> Relaxation | None:
        """The tail's evolution, prepared once at the starting values.

        In the tail the boundaries pass at most r x dose << 1 pixel of tracer (r = k h / D_bulk
        at the tail's temperature), so the fitted values would not change it.
        """
        if self.tail_start >= len(self._durations):
            return None
        h = self.pixel_size_m
        stretches = [
            (self._durations[i], d_bulk_guess * self._bulk_factor[i] / h**2,
             np.full(max(self.classes, 1), k_guess * h / d_bulk_guess * self._gb_factor[i] / self._bulk_factor[i]))
            for i in range(self.tail_start, len(self._durations))
        ]
        return self.window.relaxation(stretches)

    def _survival(self, d_bulk: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, float]:
        """Return each pre-tail segment's weight in the frozen structure, and their total activity."""
        frozen = slice(0, self.tail_start)
        k_mean = np.exp(np.log(k[frozen]) @ self._weights) if self._weights.sum() > 0 else k[frozen, 0]
        l = self._spacing_m
        activity = self._durations[frozen] / (l**2 / d_bulk[frozen] + l / k_mean)
        after = np.concatenate([np.cumsum(activity[::-1])[::-1][1:], [0.0]])
        weights = -np.expm1(-activity) * np.exp(-after)
        return weights, float(activity.sum())

    def _long_range_d_eff(self, values: MapDiffusivities, d_bulk: np.ndarray) -> np.ndarray:
        boundary_term = 1.0 / values.d_eff_m2_per_s - 1.0 / values.d_bulk_m2_per_s
        return 1.0 / (1.0 / d_bulk + boundary_term / self._gb_factor)

    def _edge_history(self, d_eff: np.ndarray) -> EdgeHistory:
        """The long-range profile's edge values through the segments before the tail (cached per D_eff)."""
        key = tuple(d_eff.tolist())
        if self._edges is None or self._edges[0] != key:
            stretches = [
                ProfileStretch(self._durations[i], d_eff[i], self._immersed[i]) for i in range(d_eff.size)
            ]
            self._edges = (key, self.long_range.edge_history(stretches))
        return self._edges[1]

