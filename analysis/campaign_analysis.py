"""Analyse a campaign, or one run, straight from the catalog: the entry points of ``simslab analyze``.

``analyze_campaign`` reads every finished run of a campaign (``read_campaign``) and returns a
:class:`CampaignAnalysis`: the diffusion part (long-range fits, maps, D_gb/delta, Arrhenius,
Haven ratio), each operando run, and the primary-ion dose of every imaged region.
``analyze_run`` does the same for one run in the context of its campaign (a cryo-SIMS map
needs the history before it). ``analyze`` takes either and decides which it was given.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any

from simslab.errors import CatalogError

from .campaign_results import CampaignAnalysis, OperandoAnalysis
from .diffusion_campaign import analyze_diffusion
from .diffusion_settings import DiffusionSettings
from .dose_map import DoseMap, ImagedArea, dose_map
from .operando_analysis import analyze_operando
from .read_campaign import CampaignRecord, read_campaign

__all__ = ["analyze", "analyze_campaign", "analyze_run", "analyze_record", "campaign_dose_map"]

log = logging.getLogger(__name__)

_REGION_GAP_M = 50e-6  # regions drawn side by side on the dose map, this far apart


def analyze(catalog: Any, key: str, settings: DiffusionSettings | None = None, **overrides: Any) -> CampaignAnalysis:
    """Analyse ``key``: a campaign id if the catalog has runs of it, else a run uid (or partial uid, or -1)."""
    if not key.lstrip("-").isdigit() and catalog.campaign_runs(key):
        return analyze_campaign(catalog, key, settings, **overrides)
    return analyze_run(catalog, key, settings, **overrides)


def analyze_campaign(catalog: Any, campaign_id: str, settings: DiffusionSettings | None = None,
                     **overrides: Any) -> CampaignAnalysis:
    """Analyse every finished run of a campaign; settings default to the sample's values (overrides: fields)."""
    started = time.perf_counter()
    line_scans = (settings.line_scans if settings is not None else overrides.get("line_scans", True))
    record = read_campaign(catalog, campaign_id, line_scans=line_scans)
    log.info("read campaign %s in %.1f s", campaign_id, time.perf_counter() - started)
    return analyze_record(record, settings or DiffusionSettings.from_sample(record.sample, **overrides),
                          started_s=started)


def analyze_run(catalog: Any, key: str | int, settings: DiffusionSettings | None = None,
                **overrides: Any) -> CampaignAnalysis:
    """Analyse one run: a cryo-SIMS map with the campaign's history before it, an operando run, or a step."""
    started = time.perf_counter()
    run = catalog.run(key)
    start = run.metadata.get("start") or {}
    uid, campaign_id = str(start.get("uid", "")), start.get("campaign_id")
    if not campaign_id:
        raise CatalogError(f"run {uid[:8]} belongs to no campaign: analyse it with the analysis functions directly")
    line_scans = (settings.line_scans if settings is not None else overrides.get("line_scans", True))
    full = read_campaign(catalog, campaign_id, line_scans=line_scans)
    index = next((i for i, step in enumerate(full.steps) if step.uid == uid), None)
    if index is None:
        raise CatalogError(f"run {uid[:8]} did not finish successfully: nothing to analyse")
    kept = full.steps[: index + 1]
    record = dataclasses.replace(
        full,
        steps=kept,
        images=tuple(i for i in full.images if any(s.uid == i.uid for s in kept)),
        operando=tuple(o for o in full.operando if o.uid == uid),
    )
    if full.steps[index].plan_name == "operando_cycling":
        record = dataclasses.replace(record, images=())
    return analyze_record(record, settings or DiffusionSettings.from_sample(full.sample, **overrides),
                          started_s=started)


def analyze_record(record: CampaignRecord, settings: DiffusionSettings, *, started_s: float | None = None) -> CampaignAnalysis:
    """Analyse what was read of a campaign."""
    started = time.perf_counter() if started_s is None else started_s
    diffusion = analyze_diffusion(record, settings)
    operando: list[OperandoAnalysis] = []
    for run in record.operando:
        try:
            operando.append(analyze_operando(run))
        except CatalogError as err:
            log.warning("operando run %s not analysed: %s", run.uid[:8], err)
    flags = tuple(f"{image.label} ({image.uid[:8]}): sqrt(2 D t) = {image.quench.ratio:.2f} pixel during the image"
                  for image in (diffusion.images if diffusion else ()) if image.quench and image.quench.flagged)
    return CampaignAnalysis(
        campaign_id=record.campaign_id,
        description=record.description,
        simulated=record.simulated,
        runs_analysed=tuple(f"{s.uid[:8]} step {s.index} {s.kind}" for s in record.steps),
        runs_skipped=record.skipped,
        diffusion=diffusion,
        operando=tuple(operando),
        dose=campaign_dose_map(record),
        quench_flags=flags,
        elapsed_s=time.perf_counter() - started,
        method="read from the catalog (recorded history, not the nominal steps), analysed with simslab.analysis",
        record=record,
    )


def campaign_dose_map(record: CampaignRecord) -> DoseMap | None:
    """Return the primary-ion dose of every imaged region, regions side by side (positions are not recorded).

    Each acquisition's raster is centred in its region: the cryo-SIMS maps and line scans in
    the tracer window, the operando images in their electrode windows.
    """
    rasters: dict[str, list[tuple[float, float, float]]] = {}
    for image in record.images:
        rasters.setdefault(image.region or "diffusion_window", []).append((*image.raster_m, image.primary_ions))
        if image.line_scan is not None:
            rasters[image.region or "diffusion_window"].append((*image.line_scan.raster_m, image.line_scan.primary_ions))
    for run in record.operando:
        for image in run.images:
            rasters.setdefault(image.region, []).append((*run.raster_m, image.primary_ions))
    if not rasters:
        return None
    areas, x0 = [], 0.0
    height = max(h for entries in rasters.values() for _, h, _ in entries)
    for entries in rasters.values():
        width = max(w for w, _, _ in entries)
        for w, h, ions in entries:
            areas.append(ImagedArea(x0 + 0.5 * (width - w), 0.5 * (height - h), w, h, ions))
        x0 += width + _REGION_GAP_M
    extent = (0.0, x0 - _REGION_GAP_M, 0.0, height)
    pixel = max(extent[1], extent[3]) / 400.0
    result = dose_map(areas, extent, pixel)
    names = ", ".join(rasters)
    return dataclasses.replace(result, method=result.method + f"; regions side by side ({names}), rasters centred "
                               "in each (their positions on the sample are not recorded)")
