"""Driver protocols: what a device needs from an instrument, in SI units.

A driver is a small class for one instrument with plain methods. The real drivers in this
package speak the instruments' command sets; the twin drivers in ``simulators/`` read and
change the simulated lab. Devices depend on these protocols only, so one device class serves
both.

Conventions for every driver:

- SI units in and out: kelvin, seconds, volts, amperes, coulombs, metres, electronvolts for
  beam energies. Conversions to the instrument's units live inside the driver.
- ``blocking`` is True for drivers doing real I/O: devices run their calls off the event loop,
  one at a time per port. Twin drivers are in-memory and set it False (called inline).
- Every I/O has a timeout. Failures raise :class:`simslab.errors.InstrumentError` (or
  ``InstrumentTimeout``, ``ConnectionLost``, ``SensorFault``) naming the instrument, the
  command and the reply.
- ``connect()`` opens the port and checks the instrument answers; ``close()`` releases it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Driver",
    "TemperatureControllerDriver",
    "LevelMeterDriver",
    "FurnaceDriver",
    "FurnaceStatus",
    "PotentiostatDriver",
    "PotentiostatMeasurement",
    "SimsDriver",
    "AcquisitionRequest",
    "AcquisitionState",
    "AcquisitionResult",
    "MassChannel",
    "Beam",
    "SampleHandlerDriver",
    "SAMPLE_LOCATIONS",
]


@runtime_checkable
class Driver(Protocol):
    """What every driver offers."""

    name: str
    blocking: bool

    def connect(self) -> None:
        """Open the port and check that the instrument answers."""
        ...

    def close(self) -> None:
        """Release the port; safe to call twice."""
        ...

    def identify(self) -> str:
        """Return the instrument's identification string (model, serial, firmware)."""
        ...


# --- Cryo stage: a temperature controller (Lake Shore 335/336) ---------------------------


@runtime_checkable
class TemperatureControllerDriver(Driver, Protocol):
    """A PID temperature controller on the LN2-cooled sample stage (one loop, one input)."""

    def read_temperature_k(self) -> float:
        """Read the control input in kelvin; raise SensorFault if the sensor reports a fault."""
        ...

    def read_setpoint_k(self) -> float:
        """Read the loop setpoint in kelvin (the ramping setpoint while a ramp runs)."""
        ...

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the loop setpoint in kelvin; the controller ramps to it if a ramp rate is on."""
        ...

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint ramp rate in K/s; 0 means ramping is off."""
        ...

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the setpoint ramp rate in K/s; 0 switches ramping off."""
        ...

    def is_ramping(self) -> bool:
        """Return True while the setpoint is still ramping."""
        ...

    def read_heater_fraction(self) -> float:
        """Read the heater output as a fraction 0-1 of its range."""
        ...

    def set_heater_range(self, level: int) -> None:
        """Set the heater range: 0 off, 1 low, 2 medium, 3 high."""
        ...

    def read_heater_error(self) -> int:
        """Read the heater error code; 0 means no error."""
        ...


@runtime_checkable
class LevelMeterDriver(Driver, Protocol):
    """A cryogen level meter on the LN2 dewar (optional beside the stage controller)."""

    def read_level_fraction(self) -> float:
        """Read the LN2 level as a fraction 0-1 of the dewar."""
        ...


# --- Annealing furnace: a Eurotherm controller --------------------------------------------


@dataclass(frozen=True)
class FurnaceStatus:
    """Status bits of a furnace controller."""

    alarm: bool = False
    sensor_break: bool = False
    heater_fail: bool = False
    manual: bool = False
    ramp_complete: bool = True


@runtime_checkable
class FurnaceDriver(Driver, Protocol):
    """A furnace's PID controller (Eurotherm 2400/3200 class)."""

    def read_temperature_k(self) -> float:
        """Read the process value in kelvin; raise SensorFault on a broken thermocouple."""
        ...

    def read_setpoint_k(self) -> float:
        """Read the target setpoint in kelvin."""
        ...

    def read_working_setpoint_k(self) -> float:
        """Read the working setpoint in kelvin (differs from the target while ramping)."""
        ...

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the target setpoint in kelvin."""
        ...

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint rate limit in K/s; 0 means no limit."""
        ...

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the setpoint rate limit in K/s; 0 switches it off."""
        ...

    def read_output_fraction(self) -> float:
        """Read the heater output power as a fraction 0-1."""
        ...

    def read_status(self) -> FurnaceStatus:
        """Read the controller's status bits."""
        ...

    def switch_output_off(self) -> None:
        """Put the controller in manual mode with zero output (the safe state)."""
        ...

    def switch_to_automatic(self) -> None:
        """Return the controller to automatic (closed-loop) control."""
        ...

    def acknowledge_alarms(self) -> None:
        """Acknowledge latched alarms."""
        ...


# --- Potentiostat / galvanostat -------------------------------------------------------------


@dataclass(frozen=True)
class PotentiostatMeasurement:
    """One reading of the cell.

    ``time_s`` is the driver's time of the reading (epoch s, on the session clock);
    ``charge_c`` is the charge passed since ``connect()`` (positive = charge direction),
    integrated by the instrument or by the driver between readings.
    """

    time_s: float
    voltage_v: float
    current_a: float
    charge_c: float
    compliance: bool = False


@runtime_checkable
class PotentiostatDriver(Driver, Protocol):
    """A potentiostat or SMU used as galvanostat on a battery cell.

    Positive current charges the cell. Cut-offs and the CC->CV switch are timed by the host.
    """

    def set_open_circuit(self) -> None:
        """Connect the cell with zero current and measure its open-circuit voltage."""
        ...

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Source a constant current in A with a voltage compliance in V."""
        ...

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold a constant voltage in V with a current compliance in A."""
        ...

    def read_measurement(self) -> PotentiostatMeasurement:
        """Read voltage, current and charge passed."""
        ...

    def cell_off(self) -> None:
        """Disconnect the cell (output off): the safe state."""
        ...


# --- ToF-SIMS acquisition --------------------------------------------------------------------


@dataclass(frozen=True)
class MassChannel:
    """A secondary-ion mass channel: label as the scientist writes it, and m/z in u."""

    label: str
    mass_u: float


@dataclass(frozen=True)
class Beam:
    """An ion beam: species, energy in eV, current in A, raster (x, y) in m."""

    species: str
    energy_ev: float
    current_a: float
    raster_m: tuple[float, float]


@dataclass(frozen=True)
class AcquisitionRequest:
    """Everything needed to run one ToF-SIMS acquisition and to record how it was taken.

    kind: image (pixels nx x ny over raster_m), line_scan (pixels n x 1 along raster_m[0]),
    depth_profile (``sputter_cycles`` alternating sputter and analysis frames),
    spectrum (sum over the raster).
    """

    kind: Literal["image", "line_scan", "depth_profile", "spectrum"]
    region: str
    masses: tuple[MassChannel, ...]
    primary: Beam
    pixels: tuple[int, int]
    integration_s: float
    output_name: str
    sputter: Beam | None = None
    sputter_cycles: int = 0
    sputter_time_s: float = 0.0
    cleaning: Beam | None = None
    cleaning_time_s: float = 0.0
    flood_gun: bool = True

    @property
    def raster_m(self) -> tuple[float, float]:
        """The analysed field of view (x, y) in m: the primary beam's raster."""
        return self.primary.raster_m


@dataclass(frozen=True)
class AcquisitionState:
    """Where an acquisition stands."""

    state: Literal["idle", "running", "done", "aborted", "failed"]
    elapsed_s: float = 0.0
    message: str = ""


@dataclass
class AcquisitionResult:
    """The data of one finished acquisition.

    counts: per mass label, uint32 counts. Shapes: image (ny, nx); line_scan (n,);
    depth_profile (cycles,) or (cycles, ny, nx); spectrum (channels,) with ``mass_axis_u``.
    depth_m: depth of each depth-profile cycle in m; primary_ions: primary ions delivered.
    """

    counts: dict[str, np.ndarray]
    primary_ions: float
    started_s: float
    finished_s: float
    depth_m: np.ndarray | None = None
    mass_axis_u: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)


@runtime_checkable
class SimsDriver(Driver, Protocol):
    """The ToF-SIMS acquisition: start, follow, fetch, abort."""

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        """Start the acquisition; return at once."""
        ...

    def read_acquisition(self) -> AcquisitionState:
        """Return the state of the current or last acquisition."""
        ...

    def fetch_result(self) -> AcquisitionResult:
        """Return the data of the finished acquisition; raise InstrumentError if none."""
        ...

    def abort(self) -> None:
        """Stop the acquisition and blank the beams (the safe state)."""
        ...


# --- Sample handling: transfers and the isotope-exchange bath --------------------------------

SAMPLE_LOCATIONS = ("storage", "exchange_bath", "cryo_stage", "furnace")
"""Where the tracer sample can be: in Ar storage at room temperature, dipped in the exchange
bath, on the SIMS cryo stage, or in the annealing furnace."""


@runtime_checkable
class SampleHandlerDriver(Driver, Protocol):
    """Moves the sample between locations (an operator in the lab, the twin in simulation)."""

    def read_location(self) -> str:
        """Return where the sample is now (one of SAMPLE_LOCATIONS, or 'in_transfer')."""
        ...

    def request_transfer(self, location: str, note: str = "") -> None:
        """Ask for the sample to be moved to ``location``; return at once."""
        ...

    def transfer_complete(self) -> bool:
        """Return True once the last requested transfer is done (operator confirmed)."""
        ...
