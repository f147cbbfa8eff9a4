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


class FurnaceSettings(_Settings):
    """The annealing furnace (Eurotherm controller)."""

    driver: FurnaceDriverSettings = TwinDriverSettings()
    limits: TemperatureLimits = TemperatureLimits(min_k=293.15, max_k=673.15, max_ramp_k_per_s=0.2)
    over_temperature_k: float = Field(
        683.15, gt=0, description="software trip, below the hardware's: output off above it"
    )
    settle: SettleCriteria = SettleCriteria(tolerance_k=2.0, dwell_s=300.0)
    monitor_period_s: float = Field(60.0, gt=0)

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


class SimsSettings(_Settings):
    """The ToF-SIMS acquisition."""

    driver: SimsDriverSettings = TwinDriverSettings()
    dose_budget_ions_per_m2: float = Field(1.2e18, gt=0, description="per sample region; 1.2e14 ions/cm^2")
    poll_s: float = Field(10.0, gt=0, description="how often a running acquisition is checked")


class SampleHandlerSettings(_Settings):
    """Sample transfers between storage, exchange bath, cryo stage and furnace."""

    driver: SampleHandlerDriverSettings = TwinDriverSettings()
    poll_s: float = Field(5.0, gt=0)
    timeout_s: float | None = Field(None, gt=0)
