"""Explicit RK4 steps for non-stiff window segments: same diffusion as the implicit solver."""

from __future__ import annotations

import numpy as np

from simslab.physics.finite_volume import GrainDiffusion2D
from simslab.simulators.parameters import DiffusionParameters, ExchangeParameters, PolycrystalParameters
from simslab.simulators.tracer_sample import TracerSample
from simslab.simulators.window_stepping import MAX_EXPLICIT_STEPS, evolve_explicit, explicit_step_count

COLD_K, ROOM_K = 163.15, 295.15
SMALL = PolycrystalParameters(window_pixels=(96, 48), window_size_m=(96e-6, 48e-6), window_offset_m=30e-6)


def _model_and_field() -> tuple[TracerSample, GrainDiffusion2D, np.ndarray]:
    sample = TracerSample(SMALL, DiffusionParameters(), ExchangeParameters(), np.random.default_rng(5))
    grains = sample.grains
    normal_x, normal_y = grains.boundary_normals_rad
    model = GrainDiffusion2D(grains.labels, grains.pixel_size_m, normal_x_rad=normal_x, normal_y_rad=normal_y)
    rng = np.random.default_rng(3)
    field = 0.07 + 0.5 * rng.random(grains.shape)  # pixel-scale structure: the fastest modes are present
    return sample, model, field


def test_cold_image_segment_matches_a_fine_implicit_reference() -> None:
    # 20 min at -110 C: D_bulk t / h^2 ~ 0.25, the cold image of the demo's cryo-SIMS runs
    sample, model, field = _model_and_field()
    d_bulk, gb, _ = sample.diffusivities(COLD_K)
    duration = 1300.0
    edges = lambda t: {"left": 0.9 - 1e-4 * t / duration, "right": 0.08}  # noqa: E731 - edges drifting slowly
    operator = model.operator(d_bulk, gb)
    steps = explicit_step_count(operator, duration, 3)
    assert steps <= MAX_EXPLICIT_STEPS  # a cold segment takes the explicit path
    explicit = evolve_explicit(model, operator, field, duration, steps, d_bulk, edges)
    reference = model.evolve(field, duration, 400, d_bulk, gb, edges)  # TR-BDF2, dt 400x finer than the segment
    coarse = model.evolve(field, duration, 3, d_bulk, gb, edges)  # what the window used before: 3 implicit steps
    change = np.max(np.abs(reference - field))
    # RK4 at dt * |lambda|max <= 1: its error on the fastest pixel mode is ~1e-3 of that mode;
    # 1 % of the segment's change bounds it with margin, and it must beat the 3 implicit steps
    assert np.max(np.abs(explicit - reference)) < 0.01 * change
    assert np.max(np.abs(explicit - reference)) < np.max(np.abs(coarse - reference))


def test_explicit_steps_conserve_a_closed_window() -> None:
    sample, _, field = _model_and_field()
    closed = GrainDiffusion2D(sample.grains.labels, sample.grains.pixel_size_m, dirichlet_edges=())
    d_bulk, gb, _ = sample.diffusivities(COLD_K)
    operator = closed.operator(d_bulk, gb)
    after = evolve_explicit(closed, operator, field, 3600.0, explicit_step_count(operator, 3600.0, 3), d_bulk,
                            lambda t: {})
    # A's columns sum to zero with all edges closed: RK4 keeps the total to rounding (1e-12 relative)
    assert abs(closed.total(after) / closed.total(field) - 1) < 1e-12


def test_warm_segments_stay_implicit() -> None:
    # an hour at room temperature is stiff (D_bulk t / h^2 >> 1): the step count exceeds the explicit cap
    sample, model, _ = _model_and_field()
    d_bulk, gb, _ = sample.diffusivities(ROOM_K)
    assert explicit_step_count(model.operator(d_bulk, gb), 3600.0, 3) > MAX_EXPLICIT_STEPS
