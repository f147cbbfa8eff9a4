"""Campaign files: what a scientist asks for, validated against the profile before anything moves.

A campaign (YAML, SI units, the field name saying which) names the sample, the isotope
exchange, the cryo-SIMS imaging settings, the steps (anneal, storage, operando) and the
primary-ion dose budget. :func:`load_campaign` reads and checks it: values out of their own
range, and values the profile's instruments cannot do (an anneal above the furnace limit, a
CV voltage outside the cell's safety window, an unknown device name, more planned dose than
the budget), are all reported at once with the file, field path and allowed range.
:func:`plan_steps` expands it into the runs it makes, each with a duration estimate:
exchange -> cryo-SIMS, then per diffusion step the step -> cryo-SIMS, and one run per
operando step. Acquisition sections are partial: what a file gives is merged over the
published defaults of ``simslab.plans``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simslab.errors import ValidationError, ValidationErrors
from simslab.plans.acquisitions import (
    CRYO_DEPTH_PROFILE,
    CRYO_IMAGE,
    CRYO_LINE_SCAN,
    OPERANDO_IMAGE,
    TRACER_REGION,
    Acquisition,
    acquisition_duration_s,
    expected_dose_ions_per_m2,
)
from simslab.plans.exchange import DEFAULT_SOLUTION, PRECOOL_S
from simslab.plans.operando_schedule import CyclingProtocol, ImageSchedule
from simslab.profile import Profile, deep_merge, load_yaml, validation_errors

__all__ = [
    "Campaign",
    "SampleSpec",
    "ExchangeSpec",
    "CryoImagingSpec",
    "AnnealStep",
    "StorageStep",
    "OperandoStep",
    "OperandoImagingSpec",
    "PlannedStep",
    "load_campaign",
    "validate_campaign",
    "check_against_profile",
    "plan_steps",
    "planned_dose_ions_per_m2",
    "MONITORABLE",
]

MONITORABLE = {"stage": "temperature", "furnace": "temperature", "potentiostat": "voltage",
               "sample_handler": "location"}
"""Devices a campaign may name under ``monitor:``, and the signal of each that is recorded."""
ROOM_TEMPERATURE_K = 295.15
TRANSFER_ESTIMATE_S = 600.0
"""A transfer takes about 10 min (the simulated lab uses its ``twin.transfer_s``)."""
THERMAL_LAG_S = 600.0
"""Allowance for the furnace's overshoot to die out after its ramp (estimates only)."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleSpec(BaseModel):
    """The sample (or cell): id and material, plus any further descriptive keys (kept in the metadata)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: str = Field(min_length=1)
    material: str = Field(min_length=1)
    grain_size_m: float | None = Field(None, gt=0, description="mean grain size")
    grain_size_sd_m: float | None = Field(None, ge=0)
    size_m: tuple[float, float, float] | None = None
    description: str = ""


class ExchangeSpec(_Spec):
    """The isotope exchange: time in the bath (s), the solution and its temperature (K)."""

    duration_s: float = Field(gt=0)
    solution: str = DEFAULT_SOLUTION
    temperature_k: float = Field(ROOM_TEMPERATURE_K, gt=0)
    end_time: datetime | None = Field(None, description="lab: end at this time instead (timezone-aware)")
    precool_s: float = Field(PRECOOL_S, ge=0, description="the stage starts cooling this long before the end")


def _merged(default: Acquisition, given: Any) -> Any:
    """Merge a partial acquisition given in a file over its published default."""
    if isinstance(given, dict):
        return deep_merge(default.model_dump(), given)
    return given


class CryoImagingSpec(_Spec):
    """Cryo-SIMS after every diffusion step: map, line scan, optional depth profile (partial over the defaults).

    temperature_k: imaging temperature (default: the profile's stage setting, -110 C).
    depth_profile: ``true`` for the published one, a mapping to change it, null for none.
    """

    region: str = Field(TRACER_REGION, min_length=1)
    temperature_k: float | None = Field(None, gt=0)
    image: Acquisition = CRYO_IMAGE
    line_scan: Acquisition | None = CRYO_LINE_SCAN
    depth_profile: Acquisition | None = None
    unload_temperature_k: float = Field(ROOM_TEMPERATURE_K, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        region = data.get("region", TRACER_REGION)
        for key, default, taken_by_default in (("image", CRYO_IMAGE, True), ("line_scan", CRYO_LINE_SCAN, True),
                                               ("depth_profile", CRYO_DEPTH_PROFILE, False)):
            given = data.get(key, {} if taken_by_default else None)
            if given is True:
                given = {}
            if isinstance(given, dict):  # every acquisition images the campaign's region
                data[key] = {**_merged(default, given), "region": region}
        return data

    def acquisitions(self) -> dict[str, Acquisition]:
        """Return the acquisitions taken, by stream name."""
        found = {"image": self.image, "line_scan": self.line_scan, "depth_profile": self.depth_profile}
        return {k: a for k, a in found.items() if a is not None}


class AnnealStep(_Spec):
    """Anneal at ``temperature_k`` (K) for ``duration_s`` s at temperature, then cryo-SIMS."""

    kind: Literal["anneal"]
    temperature_k: float = Field(gt=0)
    duration_s: float = Field(gt=0)
    ramp_k_per_s: float | None = Field(None, gt=0, description="default: the furnace's limit")
    cool_to_k: float = Field(323.15, gt=0)
    label: str = ""


class StorageStep(_Spec):
    """Store for ``duration_s`` s in ``atmosphere`` at the nominal ``temperature_k`` (K), then cryo-SIMS."""

    kind: Literal["storage"]
    duration_s: float = Field(gt=0)
    temperature_k: float = Field(ROOM_TEMPERATURE_K, gt=0)
    atmosphere: str = "Ar"
    label: str = ""


class OperandoImagingSpec(_Spec):
    """Operando images: the windows, one window's acquisition (partial over the default), the schedule."""

    regions: tuple[str, ...] = Field(("anode", "cathode"), min_length=1)
    image: Acquisition = OPERANDO_IMAGE
    schedule: ImageSchedule = ImageSchedule(every_s=3600.0)
    dose_budget_ions_per_m2: float | None = Field(None, gt=0, description="default: the campaign's")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and "image" in data:
            data = {**data, "image": _merged(OPERANDO_IMAGE, data["image"])}
        return data

    @model_validator(mode="after")
    def _distinct(self) -> OperandoImagingSpec:
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"regions {list(self.regions)} must be distinct")
        return self


class OperandoStep(_Spec):
    """Cycle a cell while imaging its electrodes; ``cell`` describes the cell (the run's sample)."""

    kind: Literal["operando"]
    cell: SampleSpec
    cycling: CyclingProtocol = CyclingProtocol()
    imaging: OperandoImagingSpec = OperandoImagingSpec()
    label: str = ""

    @model_validator(mode="after")
    def _capacity_for_soc(self) -> OperandoStep:
        if self.imaging.schedule.at_state_of_charge and not self.cycling.capacity_c:
            raise ValueError("imaging.schedule.at_state_of_charge needs cycling.capacity_c")
        return self


Step = Annotated[AnnealStep | StorageStep | OperandoStep, Field(discriminator="kind")]


class Campaign(_Spec):
    """A whole campaign: see the module docstring and ``campaigns/*.yaml``."""

    campaign_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    description: str = ""
    sample: SampleSpec | None = None
    exchange: ExchangeSpec | None = None
    imaging: CryoImagingSpec = CryoImagingSpec()
    steps: list[Step] = []
    dose_budget_ions_per_m2: float = Field(1.2e18, gt=0, description="per region; 1.2e14 ions/cm^2")
    monitor: list[str] = Field([], description="devices also monitored during cryo-SIMS runs (MONITORABLE)")

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        if self.exchange is None and not self.steps:
            raise ValueError("a campaign needs an exchange or at least one step")
        diffusion = self.exchange is not None or any(s.kind != "operando" for s in self.steps)
        if diffusion and self.sample is None:
            raise ValueError("sample is required for an exchange, anneal or storage")
        return self

    def spec(self) -> dict[str, Any]:
        """Return the campaign as plain data (what start documents store, and what a resume reads back)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class PlannedStep:
    """One run of the campaign: its index, kind, a label, the spec it comes from and its duration estimate (s)."""

    index: int
    kind: str
    label: str
    estimated_duration_s: float
    spec_index: int | None = None
    after: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def metadata(self, count: int) -> dict[str, Any]:
        """Return the ``step`` block of the run's start document."""
        return {"index": self.index, "kind": self.kind, "count": count, "label": self.label,
                "spec_index": self.spec_index, "after": self.after, **self.details}


def load_campaign(path: str | Path, profile: Profile) -> Campaign:
    """Read, validate and check a campaign file against ``profile``; raise ValidationError(s)."""
    path = Path(path)
    return validate_campaign(load_yaml(path), profile, str(path))


def validate_campaign(data: dict[str, Any], profile: Profile, source: str) -> Campaign:
    """Validate campaign data (a file's or a start document's) and check it against ``profile``."""
    try:
        campaign = Campaign.model_validate(data)
    except pydantic.ValidationError as err:
        raise validation_errors(source, err, data) from None
    check_against_profile(campaign, profile, source)
    return campaign


def check_against_profile(campaign: Campaign, profile: Profile, source: str) -> None:
    """Raise ValidationErrors listing every value the profile's instruments cannot do."""
    devices, found = profile.devices, []

    def within(field_path: str, value: float | None, low: float, high: float, unit: str, what: str) -> None:
        if value is not None and not low <= value <= high:
            found.append(ValidationError(source, field_path, value, f"{low:g} to {high:g} {unit} ({what} of profile "
                                                                     f"{profile.name})"))

    stage, furnace, cell = devices.stage.limits, devices.furnace.limits, devices.potentiostat.limits
    within("imaging.temperature_k", campaign.imaging.temperature_k, stage.min_k, stage.max_k, "K", "stage limits")
    within("imaging.unload_temperature_k", campaign.imaging.unload_temperature_k, stage.min_k, stage.max_k, "K",
           "stage limits")
    for i, step in enumerate(campaign.steps):
        at = f"steps[{i}]"
        if isinstance(step, AnnealStep):
            within(f"{at}.temperature_k", step.temperature_k, furnace.min_k, furnace.max_k, "K", "furnace limits")
            within(f"{at}.cool_to_k", step.cool_to_k, furnace.min_k, furnace.max_k, "K", "furnace limits")
            within(f"{at}.ramp_k_per_s", step.ramp_k_per_s, 0.0, furnace.max_ramp_k_per_s, "K/s", "furnace ramp limit")
        elif isinstance(step, OperandoStep):
            c = step.cycling
            for name in ("max_voltage_v", "min_voltage_v"):
                within(f"{at}.cycling.{name}", getattr(c, name), cell.min_voltage_v, cell.max_voltage_v, "V",
                       "the cell's safety window")
            for name in ("charge_current_a", "discharge_current_a", "cv_cutoff_current_a"):
                within(f"{at}.cycling.{name}", getattr(c, name), 0.0, cell.max_current_a, "A",
                       "potentiostat current limit")
    for i, name in enumerate(campaign.monitor):
        if name not in MONITORABLE:
            found.append(ValidationError(source, f"monitor[{i}]", name, f"one of {', '.join(MONITORABLE)}"))
    planned = planned_dose_ions_per_m2(campaign)
    region = campaign.imaging.region
    if planned.get(region, 0.0) > campaign.dose_budget_ions_per_m2:
        found.append(ValidationError(
            source, "dose_budget_ions_per_m2", campaign.dose_budget_ions_per_m2,
            f">= {planned[region]:.3g} ions/m^2, the dose the campaign's cryo-SIMS puts on region {region!r} "
            "(or fewer, shorter or weaker acquisitions)"))
    if found:
        raise ValidationErrors(found)


def planned_dose_ions_per_m2(campaign: Campaign) -> dict[str, float]:
    """Return the dose per region (ions/m^2) the cryo-SIMS runs of the campaign will put on it."""
    runs = sum(1 for s in plan_steps(campaign) if s.kind == "cryo_sims")
    per_run = sum(expected_dose_ions_per_m2(a) for a in campaign.imaging.acquisitions().values())
    return {campaign.imaging.region: runs * per_run} if runs else {}


def plan_steps(campaign: Campaign, profile: Profile | None = None) -> list[PlannedStep]:
    """Return the campaign's runs in order, with duration estimates (profile: its ramps and settle times)."""
    estimate = _Estimates(campaign, profile)
    steps: list[PlannedStep] = []

    def add(kind: str, label: str, estimate_s: float, spec_index: int | None = None, after: str | None = None,
            **details: Any) -> None:
        steps.append(PlannedStep(len(steps), kind, label, estimate_s, spec_index, after, details))

    def cryo(after: str) -> None:
        add("cryo_sims", f"cryo-SIMS after the {after}", estimate.cryo_sims(), after=after)

    if campaign.exchange is not None:
        ex = campaign.exchange
        add("exchange", f"isotope exchange {_duration(ex.duration_s)}", estimate.exchange(ex),
            duration_s=ex.duration_s, temperature_k=ex.temperature_k, solution=ex.solution)
        cryo("exchange")
    for i, step in enumerate(campaign.steps):
        if isinstance(step, AnnealStep):
            label = step.label or f"anneal {step.temperature_k - 273.15:.0f} C for {_duration(step.duration_s)}"
            add("anneal", label, estimate.anneal(step), i, temperature_k=step.temperature_k,
                duration_s=step.duration_s)
            cryo("anneal")
        elif isinstance(step, StorageStep):
            label = step.label or f"storage {_duration(step.duration_s)} at {step.temperature_k - 273.15:.0f} C"
            add("storage", label, estimate.storage(step), i, temperature_k=step.temperature_k,
                duration_s=step.duration_s)
            cryo("storage")
        else:
            cycling = step.cycling
            label = step.label or f"operando, {cycling.cycles} cycle(s) at {cycling.charge_current_a * 1e6:g} uA"
            add("operando", label, estimate.operando(step), i, cycles=step.cycling.cycles)
    return steps


class _Estimates:
    """Duration estimates in s from the spec and, when given, the profile.

    Temperatures approach their setpoint as first-order systems: a change of dT takes the
    longer of the ramp (dT / rate) and tau * ln(dT / tolerance), plus the settle dwell. The
    time constants are the twin's in simulation, else typical values (stage 15 min, furnace
    50 min).
    """

    def __init__(self, campaign: Campaign, profile: Profile | None):
        self.campaign = campaign
        simulated = profile is not None and profile.simulated
        self.transfer_s = profile.twin.transfer_s if simulated else TRANSFER_ESTIMATE_S
        self.stage_tau_s = profile.twin.stage.time_constant_s if simulated else 900.0
        self.furnace_tau_s = profile.twin.furnace.time_constant_s if simulated else 3000.0
        devices = (profile or Profile(name="estimates")).devices
        self.stage, self.furnace = devices.stage, devices.furnace
        self.imaging_k = campaign.imaging.temperature_k or devices.stage.imaging_temperature_k

    @staticmethod
    def _change(delta_k: float, ramp: float, tau_s: float, settle: Any) -> float:
        delta_k = abs(delta_k)
        approach = tau_s * math.log(max(delta_k / settle.tolerance_k, 1.0))
        return max(delta_k / ramp, approach) + settle.dwell_s

    def _stage_change(self, delta_k: float) -> float:
        return self._change(delta_k, self.stage.limits.max_ramp_k_per_s, self.stage_tau_s, self.stage.settle)

    def cryo_sims(self) -> float:
        imaging = sum(acquisition_duration_s(a) for a in self.campaign.imaging.acquisitions().values())
        warm = self._stage_change(self.campaign.imaging.unload_temperature_k - self.imaging_k)
        return self.stage.settle.dwell_s + imaging + warm + self.transfer_s

    def exchange(self, ex: ExchangeSpec) -> float:
        return ex.duration_s + 2 * self.transfer_s

    def anneal(self, step: AnnealStep) -> float:
        ramp = step.ramp_k_per_s or self.furnace.limits.max_ramp_k_per_s
        settle = self.furnace.settle
        heat = (step.temperature_k - ROOM_TEMPERATURE_K) / ramp + settle.dwell_s + THERMAL_LAG_S
        above_room = max(step.cool_to_k - ROOM_TEMPERATURE_K, settle.tolerance_k)
        natural_s = self.furnace_tau_s * math.log(max((step.temperature_k - ROOM_TEMPERATURE_K) / above_room, 1.0))
        cool = max((step.temperature_k - step.cool_to_k) / ramp, natural_s) + settle.dwell_s
        return 2 * self.transfer_s + heat + step.duration_s + cool

    def storage(self, step: StorageStep) -> float:
        return step.duration_s + 2 * self.transfer_s

    def operando(self, step: OperandoStep) -> float:
        """Cycling time plus the image sets taken with the cell at rest (at the start and each step's end)."""
        schedule, phases = step.imaging.schedule, step.cycling.phases()
        resting_sets = int(schedule.at_start) + (len(phases) if schedule.at_step_end else 0)
        set_s = len(step.imaging.regions) * acquisition_duration_s(step.imaging.image)
        return step.cycling.estimated_duration_s() + resting_sets * set_s


def _duration(seconds: float) -> str:
    """Say a duration as the field does: 45 min, 3.8 h, 59 h, 16 d, 6 weeks."""
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 4 * 86400:
        return re.sub(r"\.0 h$", " h", f"{seconds / 3600:.1f} h")
    days = seconds / 86400
    if days >= 14 and days % 7 < 0.05:
        return f"{days / 7:.0f} weeks"
    return f"{days:.0f} d"
