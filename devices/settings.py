"""Per-device settings from the profile: driver, safety limits, settle criteria, safe state.

SI units throughout (kelvin, seconds, volts, amperes, ions per square metre); the profile
file uses the same units, with the field name saying which.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .drivers.settings import (
    FurnaceDriverSettings,
    LevelMeterSettings,
    PotentiostatDriverSettings,
    SampleHandlerDriverSettings,
    SimsDriverSettings,
    StageDriverSettings,
    TwinDriverSettings,
)

__all__ = [
    "TemperatureLimits",
    "SettleCriteria",
    "CryoStageSettings",
    "FurnaceSettings",
    "PotentiostatLimits",
    "PotentiostatSettings",
    "BeamSettings",
    "MassSettings",
    "SimsAcquisitionDefaults",
    "SimsSettings",
    "SampleHandlerSettings",
]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemperatureLimits(_Settings):
    """Allowed setpoints in K and the fastest allowed ramp in K/s."""

    min_k: float = Field(gt=0)
    max_k: float = Field(gt=0)
    max_ramp_k_per_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureLimits:
        if self.min_k >= self.max_k:
            raise ValueError(f"min_k ({self.min_k}) must be below max_k ({self.max_k})")
        return self


class SettleCriteria(_Settings):
    """A temperature is settled when |T - setpoint| <= tolerance_k for dwell_s without a break."""

    tolerance_k: float = Field(0.5, gt=0, le=50)
    dwell_s: float = Field(120.0, ge=0)
    poll_s: float = Field(5.0, gt=0, le=600)
    timeout_s: float = Field(4 * 3600.0, gt=0, description="give up settling after this long")


class CryoStageSettings(_Settings):
    """The LN2-cooled SIMS stage (Lake Shore controller, optional LN2 level meter)."""

    driver: StageDriverSettings = TwinDriverSettings()
    level_meter: LevelMeterSettings | None = LevelMeterSettings()
    limits: TemperatureLimits = TemperatureLimits(min_k=100.0, max_k=400.0, max_ramp_k_per_s=0.5)
    settle: SettleCriteria = SettleCriteria()
    imaging_temperature_k: float = Field(163.15, gt=0, description="-110 C")
    imaging_tolerance_k: float = Field(2.0, gt=0, description="SIMS is refused outside this window")
    min_ln2_level_fraction: float = Field(0.05, ge=0, le=1, description="below this the stage counts as running dry")
    safe_state: Literal["hold", "warm"] = "hold"
    warm_temperature_k: float = Field(295.15, gt=0)
    monitor_period_s: float = Field(60.0, gt=0, description="longest gap between monitored readings")
    monitor_deadband_k: float = Field(
        0.01, ge=0, le=1.0, description="a monitored temperature is recorded when it moved by more than this"
    )
    level_deadband_fraction: float = Field(
        0.01, ge=0, le=0.1, description="the monitored LN2 level is recorded when it moved by more than this"
    )


class FurnaceSettings(_Settings):
    """The annealing furnace (Eurotherm controller)."""

    driver: FurnaceDriverSettings = TwinDriverSettings()
    limits: TemperatureLimits = TemperatureLimits(min_k=293.15, max_k=673.15, max_ramp_k_per_s=0.2)
    over_temperature_k: float = Field(
        683.15, gt=0, description="software trip, below the hardware's: output off above it"
    )
    settle: SettleCriteria = SettleCriteria(tolerance_k=2.0, dwell_s=300.0)
    monitor_period_s: float = Field(60.0, gt=0, description="longest gap between monitored readings")
    monitor_deadband_k: float = Field(
        0.05, ge=0, le=1.0, description="a monitored temperature is recorded when it moved by more than this"
    )
    watchdog_period_s: float = Field(
        10.0, gt=0, le=600, description="how often the over-temperature trip checks while the output is on"
    )

    @model_validator(mode="after")
    def _trip_above_limit(self) -> FurnaceSettings:
        if self.over_temperature_k <= self.limits.max_k:
            raise ValueError(
                f"over_temperature_k ({self.over_temperature_k}) must be above limits.max_k ({self.limits.max_k})"
            )
        return self


class PotentiostatLimits(_Settings):
    """The cell's safety window in V and the largest current in A."""

    min_voltage_v: float = 1.0
    max_voltage_v: float = 3.0
    max_current_a: float = Field(1e-3, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> PotentiostatLimits:
        if self.min_voltage_v >= self.max_voltage_v:
            raise ValueError(f"min_voltage_v ({self.min_voltage_v}) must be below max_voltage_v ({self.max_voltage_v})")
        return self


class PotentiostatSettings(_Settings):
    """The potentiostat on the operando cell."""

    driver: PotentiostatDriverSettings = TwinDriverSettings()
    limits: PotentiostatLimits = PotentiostatLimits()
    stream_period_s: float = Field(10.0, gt=0, description="period of the V, I, charge stream")


class BeamSettings(_Settings):
    """An ion beam: species as written (Bi+, Cs+, Ar1500+), energy in eV, current in A, raster (x, y) in m."""

    species: str = Field(min_length=1)
    energy_ev: float = Field(gt=0, le=1e6)
    current_a: float = Field(gt=0, le=1e-3)
    raster_m: tuple[float, float]

    @model_validator(mode="after")
    def _raster_positive(self) -> BeamSettings:
        if not all(0 < side <= 0.1 for side in self.raster_m):
            raise ValueError(f"raster_m {self.raster_m} must be two sides in (0, 0.1] m")
        return self


class MassSettings(_Settings):
    """A secondary-ion mass channel: label as written (6Li+) and m/z in u."""

    label: str = Field(min_length=1)
    mass_u: float = Field(gt=0, le=10000)


class SimsAcquisitionDefaults(_Settings):
    """The acquisition settings a ToF-SIMS device starts with (published cryo-SIMS values).

    The sputter and cleaning currents are typical values for such beams, not published ones;
    a beam is used only when its cycles or time are above zero.
    """

    kind: Literal["image", "line_scan", "depth_profile", "spectrum"] = "image"
    region: str = Field("diffusion_window", min_length=1)
    primary: BeamSettings = BeamSettings(species="Bi+", energy_ev=30e3, current_a=0.5e-12, raster_m=(500e-6, 200e-6))
    pixels: tuple[int, int] = (512, 206)
    integration_s: float = Field(5 * 3600.0, gt=0)
    masses: tuple[MassSettings, ...] = (
        MassSettings(label="6Li+", mass_u=6.01512),
        MassSettings(label="7Li+", mass_u=7.01600),
    )
    sputter: BeamSettings = BeamSettings(species="Cs+", energy_ev=2e3, current_a=50e-9, raster_m=(100e-6, 100e-6))
    sputter_cycles: int = Field(0, ge=0)
    sputter_time_s: float = Field(0.0, ge=0)
    cleaning: BeamSettings = BeamSettings(species="Ar1500+", energy_ev=10e3, current_a=1e-9, raster_m=(700e-6, 700e-6))
    cleaning_time_s: float = Field(0.0, ge=0)
    flood_gun: bool = True

    @model_validator(mode="after")
    def _pixels_positive(self) -> SimsAcquisitionDefaults:
        if not all(1 <= n <= 65536 for n in self.pixels):
            raise ValueError(f"pixels {self.pixels} must be two counts in 1-65536")
        if not self.masses:
            raise ValueError("masses must list at least one mass channel")
        return self


class SimsSettings(_Settings):
    """The ToF-SIMS acquisition."""

    driver: SimsDriverSettings = TwinDriverSettings()
    dose_budget_ions_per_m2: float = Field(1.2e18, gt=0, description="per sample region; 1.2e14 ions/cm^2")
    poll_s: float = Field(10.0, gt=0, description="how often a running acquisition is checked")
    timeout_grace_s: float = Field(
        3600.0, gt=0, description="an acquisition fails if not done this long after its expected duration"
    )
    acquisition: SimsAcquisitionDefaults = SimsAcquisitionDefaults()


class SampleHandlerSettings(_Settings):
    """Sample transfers between storage, exchange bath, cryo stage and furnace."""

    driver: SampleHandlerDriverSettings = TwinDriverSettings()
    poll_s: float = Field(5.0, gt=0)
    timeout_s: float | None = Field(None, gt=0)
