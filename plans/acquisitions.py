"""ToF-SIMS acquisition settings: the published defaults, and how they map onto the detector.

An acquisition is described by :class:`Acquisition` (the devices' ``SimsAcquisitionDefaults``:
kind, region, primary beam, pixels, integration time, masses, sputter and cleaning beams), in
SI units. The defaults below are the published settings (physics.md); where physics.md gives
none (sputter and cleaning currents, the operando primary current) the choice is stated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simslab.devices.settings import BeamSettings, MassSettings
from simslab.devices.settings import SimsAcquisitionDefaults as Acquisition

__all__ = [
    "Acquisition",
    "BeamSettings",
    "MassSettings",
    "TRACER_REGION",
    "MASSES_U",
    "masses",
    "CLEANING_BEAM",
    "CLEANING_TIME_S",
    "CRYO_IMAGE",
    "CRYO_LINE_SCAN",
    "CRYO_DEPTH_PROFILE",
    "OPERANDO_IMAGE",
    "configuration",
    "acquisition_duration_s",
    "expected_dose_ions_per_m2",
]

ELEMENTARY_CHARGE_C = 1.602176634e-19

TRACER_REGION = "diffusion_window"
"""The region name of the tracer sample's imaged field (the twin's name for it)."""

MASSES_U = {"6Li+": 6.01512, "7Li+": 7.01600, "48Ti+": 47.94794, "58Ni+": 57.93534, "59Co+": 58.93319}
"""m/z in u of the secondary ions the two experiments record."""


def masses(*labels: str) -> tuple[MassSettings, ...]:
    """Return mass channels for labels listed in MASSES_U (KeyError names the unknown one)."""
    return tuple(MassSettings(label=label, mass_u=MASSES_U[label]) for label in labels)


BI_30KV_0P5PA = dict(species="Bi+", energy_ev=30e3, current_a=0.5e-12)
CS_2KV = dict(species="Cs+", energy_ev=2e3, current_a=50e-9)  # the current is a typical value, not published
CLEANING_BEAM = BeamSettings(species="Ar1500+", energy_ev=10e3, current_a=1e-9, raster_m=(700e-6, 700e-6))
"""Ar gas-cluster beam, 10 kV over 700 x 700 um (published); the current is a typical value."""
CLEANING_TIME_S = 120.0
"""Cleaning before each cryo map: a choice (not published), short against the 5 h map."""

CRYO_IMAGE = Acquisition(
    kind="image", region=TRACER_REGION, primary=BeamSettings(**BI_30KV_0P5PA, raster_m=(500e-6, 200e-6)),
    pixels=(512, 206), integration_s=5 * 3600.0, masses=masses("6Li+", "7Li+"),
    cleaning=CLEANING_BEAM, cleaning_time_s=CLEANING_TIME_S,
)
"""The published cryo map: Bi+ 30 kV 0.5 pA over 500 x 200 um at 512 x 206 pixels, 5 h, 6Li+ and 7Li+."""

CRYO_LINE_SCAN = Acquisition(
    kind="line_scan", region=TRACER_REGION, primary=BeamSettings(**BI_30KV_0P5PA, raster_m=(500e-6, 50e-6)),
    pixels=(500, 1), integration_s=1800.0, masses=masses("6Li+", "7Li+"),
    sputter=BeamSettings(**CS_2KV, raster_m=(600e-6, 100e-6)), sputter_cycles=1, sputter_time_s=500.0,
)
"""A line along the diffusion direction ~500 nm below the surface (Cs 2 kV sputter first), 1 um
steps over 500 um: compared with the map it checks that the profile is uniform in depth."""

CRYO_DEPTH_PROFILE = Acquisition(
    kind="depth_profile", region=TRACER_REGION, primary=BeamSettings(**BI_30KV_0P5PA, raster_m=(50e-6, 50e-6)),
    pixels=(64, 64), integration_s=500.0, masses=masses("6Li+", "7Li+"),
    sputter=BeamSettings(**CS_2KV, raster_m=(100e-6, 100e-6)), sputter_cycles=50, sputter_time_s=10.0,
)
"""The published depth geometry: Cs 2 kV over 100 x 100 um, Bi+ analysis of 50 x 50 um, 50 cycles to ~500 nm."""

OPERANDO_IMAGE = Acquisition(
    kind="image", region="cathode",
    primary=BeamSettings(species="Bi+", energy_ev=30e3, current_a=0.04e-12, raster_m=(80e-6, 30e-6)),
    pixels=(40, 15), integration_s=800.0, masses=masses("6Li+", "7Li+", "58Ni+", "59Co+", "48Ti+"),
)
"""One electrode window: 80 x 30 um at 2 um pixels, 800 s (1600 s per set of both windows), five
masses. The primary current is a choice: at 0.04 pA an image costs 0.83e13 ions/cm^2, so 14 image
sets fit the published 1.2e14 ions/cm^2 per region (at 0.5 pA one image would use it all)."""


def configuration(acquisition: Acquisition) -> dict[str, Any]:
    """Return the simslab ToF-SIMS configuration (``bps.configure`` keywords) of an acquisition."""
    a = acquisition
    return {
        "kind": a.kind,
        "region": a.region,
        "raster_x": a.primary.raster_m[0],
        "raster_y": a.primary.raster_m[1],
        "pixels_x": a.pixels[0],
        "pixels_y": a.pixels[1],
        "primary_species": a.primary.species,
        "primary_energy": a.primary.energy_ev,
        "primary_current": a.primary.current_a,
        "integration_time": a.integration_s,
        "mass_labels": [m.label for m in a.masses],
        "masses_u": np.array([m.mass_u for m in a.masses]),
        **_beam("sputter", a.sputter),
        "sputter_cycles": a.sputter_cycles,
        "sputter_time": a.sputter_time_s,
        **_beam("cleaning", a.cleaning),
        "cleaning_time": a.cleaning_time_s,
        "flood_gun": a.flood_gun,
    }


def acquisition_duration_s(acquisition: Acquisition) -> float:
    """Return how long an acquisition takes in s: cleaning, analysis, and the sputter periods."""
    a = acquisition
    return a.cleaning_time_s + a.integration_s + a.sputter_cycles * a.sputter_time_s


def expected_dose_ions_per_m2(acquisition: Acquisition) -> float:
    """Return the primary-ion dose an acquisition puts on its region: I t / (e * raster area), ions/m^2."""
    primary = acquisition.primary
    area_m2 = primary.raster_m[0] * primary.raster_m[1]
    return primary.current_a * acquisition.integration_s / ELEMENTARY_CHARGE_C / area_m2


def _beam(prefix: str, beam: BeamSettings) -> dict[str, Any]:
    return {
        f"{prefix}_species": beam.species,
        f"{prefix}_energy": beam.energy_ev,
        f"{prefix}_current": beam.current_a,
        f"{prefix}_raster_x": beam.raster_m[0],
        f"{prefix}_raster_y": beam.raster_m[1],
    }
