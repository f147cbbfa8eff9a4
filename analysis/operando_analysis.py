"""An operando run: capacity per step and cycle, the state of charge of each image, the windows over time.

Charge is the potentiostat's counter (C, > 0 on charge). SoC = (window-mean charge - charge at
the first charge's start) / capacity, with the protocol's ``capacity_c`` when given, else the
first cycle's charge capacity. Each window's regions of interest are the whole window and its
particles: pixels where the window's marker mass (the non-Li mass with the most counts in its
first image: 58Ni+ on the cathode, 48Ti+ on the anode) exceeds half its 95th percentile.
Intensities are counts per pixel per primary ion, so a drifting beam does not pass for
chemistry. Reversibility and heterogeneity are judged on the cathode's 58Ni+ (the published
matrix-effect marker): pristine (first image), charged (highest SoC), discharged (after it,
lowest SoC).
"""

from __future__ import annotations

import logging

import numpy as np

from simslab.errors import SimslabError

from .campaign_results import OperandoAnalysis, WindowSeries
from .operando_cycling import charge_over_windows, cycling_capacities, image_state_of_charge
from .operando_imaging import heterogeneity_index, pixel_reversibility, roi_trajectories
from .read_operando import OperandoImage, OperandoRecord
from .read_streams import metadata_number

__all__ = ["analyze_operando", "particle_mask", "response_states", "RESPONSE_MASS"]

log = logging.getLogger(__name__)

RESPONSE_MASS = "58Ni+"
_LITHIUM = ("6Li+", "7Li+")


def analyze_operando(record: OperandoRecord) -> OperandoAnalysis:
    """Analyse one operando run (SimslabError if it has no cell step or no image)."""
    if not record.steps:
        raise SimslabError(f"operando run {record.uid[:8]}: no cell step could be rebuilt from its records")
    capacities = cycling_capacities(record.time_s, record.steps, charge_c=record.charge_c)
    if capacities.cycle.size == 0:
        raise SimslabError(f"operando run {record.uid[:8]}: no charge or discharge step, only rest")
    given = metadata_number(record.cycling.get("capacity_c"))
    capacity, capacity_source = (given, "the protocol's capacity_c") if given else (
        float(capacities.charge_capacity_c[0]), "the first cycle's charge capacity")
    charges = [s for s in record.steps if s.kind == "cc_charge"]
    reference = float(np.interp(charges[0].start_s, record.time_s, record.charge_c)) if charges else 0.0
    images = record.images
    if not images:
        raise SimslabError(f"operando run {record.uid[:8]} has no image")
    windows = charge_over_windows(record.time_s, [i.start_s for i in images], [i.end_s for i in images],
                                  charge_c=record.charge_c)
    soc = image_state_of_charge([i.charge_start_c for i in images], [i.charge_end_c for i in images],
                                capacity_c=capacity, reference_charge_c=reference, charge_mean_c=windows.mean_c)
    series = tuple(_window(record, region, soc.soc) for region in record.regions)
    region = "cathode" if "cathode" in record.regions else record.regions[-1]
    reversibility, heterogeneity, mass = _response(record.images_of(region), soc.soc[_indices(record, region)])
    return OperandoAnalysis(
        uid=record.uid, label=record.label, cell_id=str(record.cell.get("id", "")), steps_source=record.steps_source,
        capacities=capacities, capacity_for_soc_c=capacity, capacity_source=capacity_source,
        image_regions=tuple(i.region for i in images), image_reasons=tuple(i.reason for i in images),
        image_soc=soc, windows=series, reversibility=reversibility, heterogeneity=heterogeneity,
        response_region=region, response_mass=mass, refused_images=record.refused_images,
        method=(f"capacities between the step ends ({record.steps_source}); SoC from the charge counter over each "
                f"image's window, capacity = {capacity_source}; intensities per primary ion"),
        record=record,
    )


def particle_mask(first: OperandoImage) -> tuple[np.ndarray, str]:
    """Return the window's particle pixels and their marker mass (see the module docstring)."""
    others = {m: c for m, c in first.counts.items() if m not in _LITHIUM}
    if not others:
        return np.ones(next(iter(first.counts.values())).shape, dtype=bool), ""
    marker = max(others, key=lambda m: float(others[m].mean()))
    counts = others[marker]
    threshold = 0.5 * float(np.percentile(counts, 95))
    mask = counts > threshold
    return (mask if mask.any() else np.ones(counts.shape, dtype=bool)), marker


def response_states(soc: np.ndarray) -> dict[str, int]:
    """Return the image index (within one window) of the pristine, charged and discharged states.

    Pristine: the first image; charged: the highest SoC; discharged: the lowest SoC after it.
    Without a charged state inside the series: pristine and the last image only.
    """
    if soc.size < 2:
        return {}
    charged = int(np.argmax(soc))
    if charged in (0, soc.size - 1):
        return {"pristine": 0, "last": int(soc.size - 1)}
    return {"pristine": 0, "charged": charged, "discharged": charged + 1 + int(np.argmin(soc[charged + 1:]))}


def _indices(record: OperandoRecord, region: str) -> np.ndarray:
    return np.array([i for i, image in enumerate(record.images) if image.region == region])


def _window(record: OperandoRecord, region: str, soc_all: np.ndarray) -> WindowSeries:
    images = record.images_of(region)
    mask, marker = particle_mask(images[0])
    regions = {"window": np.ones(mask.shape, dtype=bool)}
    if marker and not mask.all():
        regions[f"particles ({marker}-rich)"] = mask
    counts = {m: np.stack([image.counts[m] for image in images]) for m in record.masses}
    trajectories = roi_trajectories(counts, regions, exposure=[image.primary_ions for image in images])
    time_s = np.array([image.middle_s for image in images]) - record.time_s[0]
    return WindowSeries(
        region=region, trajectories=trajectories, time_s=time_s, soc=soc_all[_indices(record, region)],
        roi_method=(f"particles: {marker} counts of the first image above half their 95th percentile"
                    if marker else "whole window only"),
        method=trajectories.method + "; time from the run's first trace sample to each image's middle",
    )


def _response(images: list[OperandoImage], soc: np.ndarray):
    """Return (reversibility, heterogeneity, mass) of one window over its first cycle's images."""
    if len(images) < 3:
        return None, None, ""
    mass = RESPONSE_MASS if RESPONSE_MASS in images[0].counts else particle_mask(images[0])[1]
    if not mass:
        return None, None, ""
    states = response_states(soc)
    if "charged" not in states:
        return None, None, mass
    charged = states["charged"]
    picked = [images[states[name]] for name in ("pristine", "charged", "discharged")]
    exposures = tuple(float(image.primary_ions) for image in picked)
    reversibility = pixel_reversibility(*(image.counts[mass] for image in picked), exposures=exposures)
    mask, _ = particle_mask(images[0])
    try:
        heterogeneity = heterogeneity_index(images[0].counts[mass] / exposures[0] * exposures[1],
                                            images[charged].counts[mass], region=mask)
    except SimslabError as err:
        log.warning("no heterogeneity index: %s", err)
        heterogeneity = None
    return reversibility, heterogeneity, mass
