"""Closed loop: a simulated diffusion campaign, analysed from the catalog alone, gives back the twin's truth.

One campaign (59 h exchange, cryo-SIMS, anneals at 100, 150 and 200 C each followed by cryo-SIMS) runs
on the simulated lab into a fresh embedded catalog; the catalog is then opened anew and analysed with
``simslab.analysis`` only. The truth comes from the twin's parameters: D_bulk(T) and D_gb/delta(T)
(Arrhenius laws of the profile) and the series model with the boundary spacing l the twin uses for
its long-range profile (measured once on its seeded microstructure, ~22 um for 16 um grains).

The window is 512 x 200 um like the published one, at 2 um pixels (256 x 100): the map's profile is a
column mean over ~30 x 12 grains, so one realisation of the microstructure moves it by a few % only
(on a 128 x 48 um window, 3 grains across, a single straight boundary takes most of the drop and
D_eff came out 30 % low: the field of view, not the analysis). Counting statistics are the
published ones per pixel: the 5 h map's ~5000 Li counts per pixel (integration scaled with the
pixel count at the published 0.5 pA).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from simslab.analysis.campaign_analysis import analyze
from simslab.campaign import validate_campaign
from simslab.catalog import Catalog
from simslab.physics.diffusion_laws import BOLTZMANN_EV_PER_K, series_effective_diffusivity
from simslab.profile import EmbeddedCatalogSettings
from simslab.runner import CampaignRunner
from tests.plans.sessions import build_session

ANNEALS_K_S = ((373.15, 7200.0), (423.15, 7200.0), (473.15, 13680.0))  # 100 C 2 h, 150 C 2 h, 200 C 3.8 h
PIXELS = (256, 100)
PIXEL_M = 2e-6
PUBLISHED_PIXELS = 512 * 206
PUBLISHED_INTEGRATION_S = 5 * 3600.0
SEED = 1  # the sim profile's seed

D_EFF_TOLERANCE = 0.15  # issue 6
EA_TOLERANCE_EV = 0.05  # issue 6
GB_TOLERANCE = 0.20  # issue 6


@dataclasses.dataclass(frozen=True)
class ClosedLoop:
    analysis: object
    d_bulk: dict[float, float]  # m^2/s by temperature (K)
    gb_conductance: dict[float, float]  # D_gb/delta, m/s
    d_eff: dict[float, float]  # series model, m^2/s
    spacing_m: float


@pytest.fixture(scope="module")
def closed_loop(tmp_path_factory) -> ClosedLoop:
    data = tmp_path_factory.mktemp("closed-loop") / "simslab-data"
    raster_m = [PIXELS[0] * PIXEL_M, PIXELS[1] * PIXEL_M]
    integration_s = PUBLISHED_INTEGRATION_S * PIXELS[0] * PIXELS[1] / PUBLISHED_PIXELS  # published counts per pixel
    spec = {
        "campaign_id": "closed-loop",
        "sample": {"id": "LLTO-CL", "material": "Li0.29La0.57TiO3", "grain_size_m": 16e-6},
        "exchange": {"duration_s": 212400.0},
        "imaging": {"image": {"pixels": list(PIXELS), "integration_s": integration_s, "primary": {"raster_m": raster_m}},
                    "line_scan": None},
        "steps": [{"kind": "anneal", "temperature_k": t, "duration_s": d} for t, d in ANNEALS_K_S],
        "dose_budget_ions_per_m2": 1e21,
    }
    twin = {"seed": SEED, "sample": {"window_size_m": raster_m, "window_pixels": list(PIXELS)}}
    session = build_session({"twin": twin, "catalog": {"kind": "embedded", "directory": str(data)}}, with_catalog=True)
    try:
        sample = session.lab.sample
        temperatures = [295.15, *(t for t, _ in ANNEALS_K_S)]
        laws = {t: sample.diffusivities(t) for t in temperatures}
        spacing_m = sample.series_grain_size_m
        runner = CampaignRunner(session, validate_campaign(copy.deepcopy(spec), session.profile, "closed loop"))
        outcomes = runner.run()
        assert all(o.exit_status == "success" for o in outcomes)
        campaign_id = runner.campaign.campaign_id
    finally:
        session.close()
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=data))  # the catalog alone, opened anew
    try:
        analysis = analyze(catalog, campaign_id, whole_map="none")
    finally:
        catalog.close()
    d_bulk = {t: v[0] for t, v in laws.items()}
    gb = {t: v[1] for t, v in laws.items()}
    d_eff = {t: float(series_effective_diffusivity(d_bulk[t], gb[t], spacing_m)) for t in temperatures}
    return ClosedLoop(analysis, d_bulk, gb, d_eff, spacing_m)


def test_d_eff_of_each_anneal_is_the_series_model_of_the_twin(closed_loop, record_property):
    steps = closed_loop.analysis.diffusion.long_range.steps
    assert [round(s.temperature_k, 2) for s in steps] == [t for t, _ in ANNEALS_K_S]
    for step in steps:
        truth = closed_loop.d_eff[round(step.temperature_k, 2)]
        deviation = step.d_eff_m2_per_s / truth - 1
        record_property(f"d_eff_deviation_{step.temperature_k - 273.15:.0f}C", round(deviation, 4))
        # measured -4 .. +1 %: the window's microstructure (a few % per realisation), counting noise 0.1-0.6 %
        assert abs(deviation) < D_EFF_TOLERANCE, f"{step.label}: D_eff {step.d_eff_m2_per_s:.3g} vs {truth:.3g} m^2/s"


def test_exchange_d_eff_is_the_series_model_at_the_bath_temperature(closed_loop, record_property):
    exchange = closed_loop.analysis.diffusion.long_range.exchange
    deviation = exchange.d_eff_m2_per_s / closed_loop.d_eff[295.15] - 1
    record_property("d_eff_deviation_exchange_22C", round(deviation, 4))
    assert abs(deviation) < D_EFF_TOLERANCE  # measured -9 %: the erfc fit of a 500 um window of a 350 um profile


def test_activation_energy_of_d_eff_is_the_twins_effective_one(closed_loop, record_property):
    temperatures = np.array([t for t, _ in ANNEALS_K_S])
    truth = np.array([closed_loop.d_eff[t] for t in temperatures])
    # the series model is not Arrhenius: its effective Ea over the same temperatures, by the same straight line
    effective_ev = -np.polyfit(1.0 / (BOLTZMANN_EV_PER_K * temperatures), np.log(truth), 1)[0]
    fitted = closed_loop.analysis.diffusion.long_range.d_eff_arrhenius.activation_energy_ev
    record_property("ea_fitted_ev", round(fitted, 4))
    record_property("ea_truth_ev", round(float(effective_ev), 4))
    assert abs(fitted - effective_ev) < EA_TOLERANCE_EV  # measured 0.006 eV apart


def test_d_gb_over_width_from_the_map_is_the_twins_at_the_temperature_it_refers_to(closed_loop, record_property):
    """The per-boundary value of the map after the exchange, at the reference temperature (22 C).

    Steps at boundaries relax within ~20 min at 22 C (1 / (l^2/D_bulk + l/k)), shorter than the
    room-temperature time before every map: each map's steps are those of 22 C whatever came before.
    """
    first = closed_loop.analysis.diffusion.images[0]
    temperature_k = first.reference_temperature_k
    truth = closed_loop.gb_conductance[round(temperature_k, 2)]
    assert first.boundaries.pooled_count >= 3
    pooled = first.boundaries.pooled_m_per_s / truth - 1
    median = first.boundaries.median_m_per_s / truth - 1
    record_property("gb_pooled_deviation", round(pooled, 4))
    record_property("gb_median_deviation", round(median, 4))
    assert abs(pooled) < GB_TOLERANCE  # measured +3 % (8 of 12 boundaries found in C)
    assert abs(median) < GB_TOLERANCE  # measured -5 %
    estimate = closed_loop.analysis.diffusion.d_gb_over_width
    assert estimate is not None and estimate.temperature_k == pytest.approx(temperature_k)
    assert abs(estimate.value_m_per_s / truth - 1) < GB_TOLERANCE


def test_every_map_without_a_per_boundary_value_says_why(closed_loop):
    from simslab.analysis.report_rows import summary_rows

    rows = [r for r in summary_rows(closed_loop.analysis) if r.quantity.startswith("D_gb/delta per boundary, median")]
    assert len(rows) == 4  # one per map
    assert any(row.value is None or not np.isfinite(row.value) for row in rows)  # the 200 C map has none
    for row in rows:
        if row.value is None or not np.isfinite(row.value):
            # after the anneals the long-range profile is too flat for steps above the counting noise
            assert "too flat" in row.quantity or "no boundary" in row.quantity, row.quantity
