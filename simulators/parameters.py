"""Physical parameters of the simulated lab: the ``twin:`` section of a profile.

Defaults are the published numbers of shared/physics.md, in SI units (m, s, K, A, eV, C).
They are defaults, never results: D_eff, step heights and capacities emerge from the models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ArrheniusLaw",
    "TabulatedLaw",
    "PolycrystalParameters",
    "DiffusionParameters",
    "ExchangeParameters",
    "SimsImagingParameters",
    "CryoStageParameters",
    "FurnaceParameters",
    "CellParameters",
    "FaultSpec",
    "PHYSICAL_FAULT_DEVICES",
    "TwinParameters",
]


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArrheniusLaw(_Parameters):
    """D(T) = prefactor_m2_per_s * exp(-activation_ev / (kB T))."""

    kind: Literal["arrhenius"] = "arrhenius"
    prefactor_m2_per_s: float = Field(gt=0)
    activation_ev: float = Field(ge=0, le=5)


class TabulatedLaw(_Parameters):
    """D(T) interpolated in log D versus 1/T through measured points (for non-Arrhenius data)."""

    kind: Literal["table"] = "table"
    temperature_k: list[float] = Field(min_length=2)
    d_m2_per_s: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _same_length(self) -> TabulatedLaw:
        if len(self.temperature_k) != len(self.d_m2_per_s):
            raise ValueError("temperature_k and d_m2_per_s must have the same length")
        if any(t <= 0 for t in self.temperature_k) or any(d <= 0 for d in self.d_m2_per_s):
            raise ValueError("temperatures and diffusivities must be positive")
        return self


class PolycrystalParameters(_Parameters):
    """The LLTO piece and the SIMS field of view on it.

    x runs from the immersed edge (x = 0, the liquid surface) along the sample; the imaging
    window's left edge sits ``window_offset_m`` from it.
    """

    material: str = "Li0.29La0.57TiO3"
    length_m: float = Field(10e-3, gt=0, description="along the diffusion direction")
    mean_grain_size_m: float = Field(16e-6, gt=0)
    grain_size_sigma_ln: float = Field(0.62, ge=0, le=2, description="log-normal width (16 +/- 11 um)")
    gb_width_m: float = Field(0.5e-9, gt=0)
    li_density_per_m3: float = Field(5.0e27, gt=0)
    natural_fraction: float = Field(0.0759, gt=0, lt=1, description="6Li fraction before exchange (C0)")
    window_offset_m: float = Field(50e-6, ge=0)
    window_size_m: tuple[float, float] = (500e-6, 200e-6)
    window_pixels: tuple[int, int] = (512, 206)


class DiffusionParameters(_Parameters):
    """Bulk and grain-boundary tracer diffusivities as laws of temperature.

    Defaults: D_bulk = 2.6e-12 m^2/s (2.6e-8 cm^2/s) at 22 C with 0.30 eV; D_gb from the
    published (l/delta) D_gb = 0.048 cm^2/s * exp(-0.43 eV / kB T) with l = 16 um, delta = 0.5 nm.
    """

    bulk: ArrheniusLaw | TabulatedLaw = Field(
        ArrheniusLaw(prefactor_m2_per_s=3.45e-7, activation_ev=0.30), discriminator="kind"
    )
    grain_boundary: ArrheniusLaw | TabulatedLaw = Field(
        ArrheniusLaw(prefactor_m2_per_s=1.5e-10, activation_ev=0.43), discriminator="kind"
    )


class ExchangeParameters(_Parameters):
    """The 6LiNO3 bath: surface 6Li fraction held at the immersed edge, and bath temperature."""

    surface_fraction: float = Field(0.95, gt=0, le=1)
    temperature_k: float = Field(295.15, gt=0)


class SimsImagingParameters(_Parameters):
    """Secondary-ion formation: I = Ip * Y * alpha+ * theta * eta, per mass.

    ``useful_yield`` is Y * alpha+ * eta in secondary ions per primary ion for the element's
    ions from a surface of that element's reference matrix; the cell model modulates it
    (matrix effect). ``psf_sigma_m`` is the primary beam's Gaussian spot.
    """

    useful_yield: dict[str, float] = Field(
        default_factory=lambda: {"Li": 1.0e-2, "Ni": 2.0e-3, "Co": 1.0e-3, "Ti": 3.0e-3}
    )
    psf_sigma_m: float = Field(0.4e-6, ge=0)
    sputter_rate_m_per_s: float = Field(1.0e-9, gt=0, description="Cs 2 kV, 100 x 100 um raster")
    background_counts_per_pixel: float = Field(0.0, ge=0, description="per mass channel and pixel of an image")
    mass_resolving_power: float = Field(3000.0, gt=0, description="m / FWHM of a spectrum peak")
    spectrum_channel_u: float = Field(0.002, gt=0, le=0.1, description="width of a spectrum channel")


class CryoStageParameters(_Parameters):
    """LN2-cooled stage: first-order thermal response to LN2 cooling and a heater."""

    room_temperature_k: float = Field(295.15, gt=0)
    ln2_sink_temperature_k: float = Field(95.0, gt=0, description="where the stage goes with the heater off")
    time_constant_s: float = Field(900.0, gt=0)
    heater_max_k: float = Field(400.0, gt=0, description="steady temperature at full heater with LN2 on")
    dewar_hours_full: float = Field(18.0, gt=0, description="how long a full dewar lasts while cooling")
    refill_s: float = Field(1800.0, gt=0, description="how long an LN2 refill takes after a run-out")
    pid_gain: float = Field(0.05, gt=0, description="heater fraction per K of error")
    pid_integral_s: float = Field(300.0, gt=0)


class FurnaceParameters(_Parameters):
    """Tube furnace: thermal lag, PID control with overshoot, maximum heating rate.

    The furnace loses heat to ambient with ``time_constant_s``; at full power it heats at
    ``max_heating_k_per_s`` from ambient, so full power holds ambient + rate * time constant
    (1795 K by default, above the 1100 C thermal etch). The loop's closed-loop response time is
    ``response_time_s``; ``overshoot_fraction`` is the overshoot of a small setpoint step
    without a rate limit by design (the model's 5 s held-output steps make it 3.7 % for 3 %; a
    rate-limited ramp overshoots less).
    """

    ambient_temperature_k: float = Field(295.15, gt=0)
    time_constant_s: float = Field(3000.0, gt=0, description="cooling time constant with the output off")
    max_temperature_k: float = Field(1473.15, gt=0, description="hardware limit: heater cut above it")
    max_heating_k_per_s: float = Field(0.5, gt=0, description="heating rate at full power from ambient")
    overshoot_fraction: float = Field(0.03, ge=0, le=0.5)
    response_time_s: float = Field(60.0, gt=0, description="1 / natural frequency of the closed loop")


class CellParameters(_Parameters):
    """Operando NCA | composite electrolyte | LTO cell (anode-limited).

    Capacities are per electrode area: 0.32 and 0.13 mAh/cm^2 are 1.152e4 and 4.68e3 C/m^2.
    The irreversible loss is not a parameter: it emerges from the LLTO touching the anode,
    ``reducible_llto_c_per_m2`` of it, reduced below ``llto_reduction_v`` vs Li while the cell
    charges at a rate set by ``llto_reduction_resistance_ohm``; reduced LLTO cuts off LTO
    next to it (``lto_isolation_per_reduced`` C of LTO capacity per C reduced, Li inside
    included). Defaults give 27.8 / 24.1 uAh (13.6 % loss) in cycle 1 and 25.6 / 22.9 uAh in
    cycle 2 at 6 uA (CC to 2.7 V, 1 h CV, CC to 1.5 V); published 29 / 25 (14 %) and 25 / 22.
    """

    area_m2: float = Field(2.0e-5, gt=0, description="0.2 cm^2")
    cathode_capacity_c_per_m2: float = Field(1.152e4, gt=0, description="0.32 mAh/cm^2")
    anode_capacity_c_per_m2: float = Field(4.68e3, gt=0, description="0.13 mAh/cm^2")
    reducible_llto_c_per_m2: float = Field(1.8e3, ge=0, description="reducible LLTO touching the anode, 10 uAh")
    llto_reduction_v: float = Field(1.5, gt=0, description="vs Li; LLTO at the anode reduces below it")
    llto_reduction_resistance_ohm: float = Field(2.0e5, gt=0)
    lto_isolation_per_reduced: float = Field(0.75, ge=0, le=5)
    ohmic_resistance_ohm: float = Field(5.0e3, ge=0)
    charge_transfer_resistance_ohm: float = Field(2.0e4, ge=0, description="split evenly between the electrodes")
    lto_plateau_v: float = Field(1.55, gt=0, description="vs Li")
    temperature_k: float = Field(295.15, gt=0)
    contact_fault_resistance_ohm: float = Field(1.0e6, gt=0, description="added by an injected compliance fault")
    ni_yield_ratio_charged: float = Field(10.0, ge=1, description="Ni+ and Co+ yield, delithiated over lithiated NCA")
    ti_yield_ratio_reduced: float = Field(0.3, gt=0, le=1, description="Ti+ yield, fully reduced over Ti4+")
    window_size_m: tuple[float, float] = (80e-6, 30e-6)
    window_pixels: tuple[int, int] = (40, 15)
    fractured_particle_fraction: float = Field(0.4, ge=0, le=1)
    isolated_particle_fraction: float = Field(0.1, ge=0, le=1)


class FaultSpec(_Parameters):
    """One injected fault: at a virtual time after the session starts, or with a probability.

    ``at_s``: seconds after session start; ``probability``: per driver call (timeouts,
    garbled replies, lost connections) or per hour of virtual time (physical faults);
    ``duration_s``: how long a physical fault lasts before it recovers (None: until reset).
    """

    kind: Literal[
        "instrument_timeout",
        "garbled_reply",
        "lost_connection",
        "thermocouple_break",
        "heater_fail",
        "ln2_runout",
        "compliance",
        "sims_abort",
    ]
    device: Literal["stage", "level_meter", "furnace", "potentiostat", "sims", "sample_handler"]
    at_s: float | None = Field(None, ge=0)
    probability: float | None = Field(None, ge=0, le=1)
    duration_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _when(self) -> FaultSpec:
        if (self.at_s is None) == (self.probability is None):
            raise ValueError("give exactly one of at_s or probability")
        physical_device = PHYSICAL_FAULT_DEVICES.get(self.kind)
        if physical_device is not None and self.device != physical_device:
            raise ValueError(f"a {self.kind} fault belongs to device {physical_device!r}, not {self.device!r}")
        return self


PHYSICAL_FAULT_DEVICES = {
    "thermocouple_break": "furnace",
    "heater_fail": "furnace",
    "ln2_runout": "stage",
    "compliance": "potentiostat",
    "sims_abort": "sims",
}
"""Faults of the simulated physics (timed per hour of virtual time) and the device each hits;
the other kinds are driver-level faults (timed per driver call)."""


class TwinParameters(_Parameters):
    """Everything the simulated lab needs; ``seed`` fixes every random draw."""

    seed: int = Field(0, ge=0)
    sample: PolycrystalParameters = PolycrystalParameters()
    diffusion: DiffusionParameters = DiffusionParameters()
    exchange: ExchangeParameters = ExchangeParameters()
    sims: SimsImagingParameters = SimsImagingParameters()
    stage: CryoStageParameters = CryoStageParameters()
    furnace: FurnaceParameters = FurnaceParameters()
    cell: CellParameters = CellParameters()
    transfer_s: float = Field(600.0, ge=0, description="a sample transfer, spent at room temperature")
    room_temperature_k: float = Field(295.15, gt=0)
    faults: list[FaultSpec] = Field(default_factory=list)
