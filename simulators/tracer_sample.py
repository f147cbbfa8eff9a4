"""The LLTO tracer sample: the long-range 6Li profile and the grain-resolved SIMS window.

Two coupled models of one piece (shared/physics.md section 1):

- The **long-range profile** C(x) along the sample (x = 0 the immersed edge, x = L the far
  end), an effective medium with the series-model D_eff(T) from D_bulk(T), D_gb(T)/delta and
  the microstructure's boundary spacing (:func:`effective_boundary_spacing`). Zero flux at
  x = L; at x = 0, C is held at the bath's 6Li fraction while immersed, zero flux otherwise.
  Solved exactly for every call (a tridiagonal solve per step, steps on the dose clock).
- The **window** (512 x 206 pixels of ~1 um by default) resolves the grains: bulk D_bulk
  inside, thin boundaries of conductance D_gb/delta between. Its left and right edges take
  the 1D profile's values at window_offset_m and window_offset_m + width at every moment, so
  the window sits where it should in the long-range profile; top and bottom are zero flux.
  The window is advanced lazily, when read (:mod:`simslab.simulators.tracer_window`).

Everything starts at the natural fraction. ``advance`` holds the temperature constant over
the call: the caller sub-steps thermal transients.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from simslab.physics.diffusion_1d import Diffusion1D, DoseClock, geometric_faces
from simslab.physics.diffusion_laws import series_effective_diffusivity
from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.simulators.diffusivity_laws import diffusivity
from simslab.simulators.parameters import DiffusionParameters, ExchangeParameters, PolycrystalParameters
from simslab.simulators.polycrystal import Polycrystal, effective_boundary_spacing, generate_polycrystal
from simslab.simulators.tracer_window import WindowHistory
from simslab.simulators.window_stepping import MAX_EXPLICIT_STEPS, evolve_explicit, explicit_step_count

__all__ = ["TracerSample"]

log = logging.getLogger(__name__)

_FINEST_CELL_M = 0.2e-6
_COARSEST_CELL_M = 10e-6
_CELL_GROWTH = 1.03
_WINDOW_STEPS = (3, 10)  # TR-BDF2 steps per window segment: at least, at most
_EDGE_CHANGE_PER_STEP = 0.02  # at most this change of the edge values per window step (if steps allow)
_MAX_TEMPERATURE_K = 2000.0


class TracerSample:
    """One tracer-exchanged polycrystal on a simulated clock (SI units throughout)."""

    def __init__(self, sample: PolycrystalParameters, diffusion: DiffusionParameters,
                 exchange: ExchangeParameters, rng: np.random.Generator):
        self.sample = sample
        self.diffusion = diffusion
        self.exchange = exchange
        self.grains: Polycrystal = generate_polycrystal(sample, rng)
        self._setup_models()
        self._line = np.full(self._profile_model.cells, sample.natural_fraction)
        self._window = np.full(self.grains.shape, sample.natural_fraction)
        self._immersed = False
        self._elapsed_s = 0.0
        self._history = WindowHistory(self._edges())

    # --- what the world calls --------------------------------------------------------------

    def advance(self, duration_s: float, temperature_k: float, immersed: bool) -> None:
        """Let ``duration_s`` s pass at ``temperature_k`` K; immersed: x = 0 held at the bath's fraction.

        Not immersed, the sample is closed (no flux at either end): its 6Li is conserved.
        """
        if not duration_s >= 0:
            raise ValueError(f"duration_s must be >= 0 s, got {duration_s}")
        if not 0 < temperature_k <= _MAX_TEMPERATURE_K:
            raise ValueError(f"temperature_k must be in (0, {_MAX_TEMPERATURE_K}] K, got {temperature_k}")
        immersed = bool(immersed)
        if immersed != self._immersed:
            self._dose_clock.restart()  # a new boundary condition: a new sharp feature at x = 0
            self._immersed = immersed
        if duration_s == 0:
            return
        d_bulk, gb_conductance, d_eff = self.diffusivities(temperature_k)
        surface = self.exchange.surface_fraction if immersed else None
        steps = self._dose_clock.steps(duration_s, d_eff)
        left, right = np.empty(len(steps)), np.empty(len(steps))
        for i, dt in enumerate(steps):
            self._line = self._profile_model.step(self._line, dt, d_eff, surface)
            left[i], right[i] = self._edges()
        self._history.add(duration_s, d_bulk, gb_conductance, d_eff, np.cumsum(steps) * d_eff, left, right)
        self._elapsed_s += duration_s

    def diffusivities(self, temperature_k: float) -> tuple[float, float, float]:
        """Return (D_bulk m^2/s, D_gb/delta m/s, D_eff m^2/s of the long-range profile) at T."""
        d_bulk = diffusivity(self.diffusion.bulk, temperature_k)
        gb_conductance = diffusivity(self.diffusion.grain_boundary, temperature_k) / self.sample.gb_width_m
        d_eff = float(series_effective_diffusivity(d_bulk, gb_conductance, self.series_grain_size_m))
        return d_bulk, gb_conductance, d_eff

    @property
    def series_grain_size_m(self) -> float:
        """The boundary spacing l (m) of the series model for this microstructure.

        Measured once, on first use, by a steady solve of the window with boundaries limiting
        (:func:`effective_boundary_spacing`): ~1.4x the mean intercept (a random 2D
        tessellation conducts better than a brick stack of its intercept), ~22 um by default.
        """
        if self._series_grain_size_m is None:
            self._series_grain_size_m = effective_boundary_spacing(self.grains)
        return self._series_grain_size_m

    @property
    def window_fraction(self) -> np.ndarray:
        """(ny, nx) 6Li fraction C on the window grid, now (a copy)."""
        self._flush_window()
        return self._window.copy()

    @property
    def pixel_size_m(self) -> float:
        """Side of a window pixel in m (window width / nx, ~0.98 um by default)."""
        return self.grains.pixel_size_m

    @property
    def window_origin_m(self) -> float:
        """x of the window's left edge in the sample, m (from the immersed edge)."""
        return self.sample.window_offset_m

    @property
    def elapsed_s(self) -> float:
        """Seconds advanced since the sample was made."""
        return self._elapsed_s

    def profile(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (x_m, C) of the long-range profile: cell centres from the immersed edge."""
        return self._profile_model.centres_m.copy(), self._line.copy()

    def total_tracer(self) -> float:
        """Return the 6Li in the long-range profile per unit cross-section, atoms/m^2.

        Conserved to rounding while the sample is not immersed.
        """
        return self.sample.li_density_per_m3 * self._profile_model.total(self._line)

    def window_tracer(self) -> float:
        """Return the 6Li in the window per unit depth, atoms/m (its pixels' C times n h^2)."""
        self._flush_window()
        return self.sample.li_density_per_m3 * float(self._window.sum()) * self.pixel_size_m**2

    def snapshot(self) -> dict[str, np.ndarray | float]:
        """Return the complete state as arrays and floats (the pending window history included)."""
        state: dict[str, np.ndarray | float] = {
            "line": self._line.copy(),
            "window": self._window.copy(),
            "immersed": float(self._immersed),
            "elapsed_s": self._elapsed_s,
            "dose_clock_m2": self._dose_clock.dose_m2,
            "seeds_m": self.grains.seeds_m.copy(),
            "weights_m2": self.grains.weights_m2.copy(),
        }
        state.update({f"history_{key}": value for key, value in self._history.state().items()})
        return state

    def restore(self, state: dict[str, np.ndarray | float]) -> None:
        """Put back a :meth:`snapshot` exactly (rebuilds the grains if they differ)."""
        seeds = np.asarray(state["seeds_m"])
        weights = np.asarray(state["weights_m2"])
        if not (np.array_equal(seeds, self.grains.seeds_m) and np.array_equal(weights, self.grains.weights_m2)):
            self.grains = Polycrystal.from_seeds(seeds, weights, self.grains.shape, self.grains.pixel_size_m)
            self._setup_models()
        self._line = np.array(state["line"], dtype=float)
        self._window = np.array(state["window"], dtype=float)
        self._immersed = bool(state["immersed"])
        self._elapsed_s = float(state["elapsed_s"])
        self._dose_clock.dose_m2 = float(state["dose_clock_m2"])
        self._history = WindowHistory.from_state({key[len("history_"):]: value for key, value in state.items() if key.startswith("history_")})

    # --- internals -------------------------------------------------------------------------

    def _setup_models(self) -> None:
        normal_x, normal_y = self.grains.boundary_normals_rad
        self._window_model = GrainDiffusion2D(self.grains.labels, self.pixel_size_m, normal_x_rad=normal_x, normal_y_rad=normal_y)
        self._series_grain_size_m: float | None = None
        faces = geometric_faces(self.sample.length_m, _FINEST_CELL_M, _COARSEST_CELL_M, _CELL_GROWTH)
        self._profile_model = Diffusion1D(faces)
        self._dose_clock = DoseClock(_FINEST_CELL_M**2)
        width = self.grains.shape[1] * self.pixel_size_m
        self._edge_x_m = (self.sample.window_offset_m, self.sample.window_offset_m + width)
        if self._edge_x_m[1] >= self.sample.length_m:
            raise ValueError(f"window_offset_m + window width ({self._edge_x_m[1]} m) must lie inside length_m ({self.sample.length_m} m)")

    def _edges(self) -> tuple[float, float]:
        x, c = self._profile_model.centres_m, self._line
        return float(np.interp(self._edge_x_m[0], x, c)), float(np.interp(self._edge_x_m[1], x, c))

    def _flush_window(self) -> None:
        if self._history.empty:
            return
        history = self._history
        width = self.grains.shape[1] * self.pixel_size_m
        segments = history.segments(self.series_grain_size_m)
        log.debug("window: %d pending call runs evolved as %d segments", len(history.state()["runs"]), len(segments))
        for segment in segments:
            # resolve the window's own relaxation and the drive from its edges; faster grain-scale
            # modes are damped by the L-stable steps to their quasi-steady state
            relaxation_s = width**2 / (math.pi**2 * segment.d_eff)
            drive = history.edge_variation(segment.dose_start_m2, segment.dose_end_m2) / _EDGE_CHANGE_PER_STEP
            steps = int(np.clip(math.ceil(max(segment.duration_s / relaxation_s, drive)), *_WINDOW_STEPS))
            dose_rate = (segment.dose_end_m2 - segment.dose_start_m2) / segment.duration_s

            def edge_values(t_s: float, start: float = segment.dose_start_m2, rate: float = dose_rate) -> dict[str, float]:
                left, right = history.edge_values(start + rate * t_s)
                return {"left": left, "right": right}

            # a segment where nothing moves far (a cold image) is not stiff: explicit steps
            # integrate it without the factorisation an implicit step costs
            operator = self._window_model.operator(segment.d_bulk, segment.gb_conductance)
            explicit_steps = explicit_step_count(operator, segment.duration_s, steps)
            if explicit_steps <= MAX_EXPLICIT_STEPS:
                self._window = evolve_explicit(self._window_model, operator, self._window, segment.duration_s,
                                               explicit_steps, segment.d_bulk, edge_values)
                continue
            self._window = self._window_model.evolve(
                self._window, segment.duration_s, steps, segment.d_bulk, segment.gb_conductance, edge_values
            )
        self._history = WindowHistory(history.end_edges)
