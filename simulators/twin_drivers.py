"""Twin drivers: the driver protocols of ``devices/drivers/protocols.py`` as views onto the lab.

Each call holds the world's lock, brings the world to the clock's present, lets the fault
injector hit the call (InstrumentTimeout, a garbled reply, ConnectionLost), and then reads
or changes the world. Like the real drivers, a twin driver must be connected first, and
checks the instrument's own ranges (InstrumentError naming the range; the profile's limits
are the device's business). In-memory, so ``blocking = False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from simslab.devices.drivers.protocols import (
    AcquisitionRequest,
    AcquisitionResult,
    AcquisitionState,
    Driver,
    FurnaceStatus,
    PotentiostatMeasurement,
)
from simslab.errors import ConnectionLost, InstrumentError, SensorFault
from simslab.simulators.lab import SimulatedLab

__all__ = [
    "TwinTemperatureController",
    "TwinLevelMeter",
    "TwinFurnace",
    "TwinPotentiostat",
    "TwinSims",
    "TwinSampleHandler",
    "make_twin_drivers",
]

_STAGE_MAX_K = 500.0  # DT-670 diode curve limit
_RAMP_MIN_K_PER_S, _RAMP_MAX_K_PER_S = 0.1 / 60, 100.0 / 60  # Lake Shore RAMP: 0.1-100 K/min
_SOURCE_MAX_A, _SOURCE_MAX_V = 0.1, 20.0  # a 2450-class SMU's ranges used here


def make_twin_drivers(lab: SimulatedLab) -> dict[str, Driver]:
    """Return one twin driver per instrument of the lab, keyed as the session's devices."""
    return {
        "stage": TwinTemperatureController(lab),
        "level_meter": TwinLevelMeter(lab),
        "furnace": TwinFurnace(lab),
        "potentiostat": TwinPotentiostat(lab),
        "sims": TwinSims(lab),
        "sample_handler": TwinSampleHandler(lab),
    }


class _TwinDriver:
    """What every twin driver shares: connection, identity, and the way a call enters the world."""

    blocking = False
    device = ""
    model = ""

    def __init__(self, lab: SimulatedLab, name: str | None = None):
        self.lab = lab
        self.name = name or self.device
        self._connected = False

    def connect(self) -> None:
        """Open the (simulated) port; raise ConnectionLost while an injected outage lasts."""
        with self.lab.at_now() as now:
            self.lab.faults.reconnect(self.device, self.name, now)
            self._connected = True
            self._on_connect(now)

    def close(self) -> None:
        """Release the port; safe to call twice."""
        self._connected = False

    def identify(self) -> str:
        """Return the simulated instrument's identification string."""
        with self._call("*IDN?"):
            return f"simslab,twin-{self.model},seed-{self.lab.params.seed},1.0"

    def _on_connect(self, now: float) -> None:
        """Hook for drivers that note something at connect time."""

    @contextmanager
    def _call(self, command: str) -> Iterator[float]:
        """Enter the world for one command: yield the present time in epoch s."""
        with self.lab.at_now() as now:
            if not self._connected:
                raise ConnectionLost(self.name, command, None, "not connected (call connect() first)")
            self.lab.faults.check_call(self.device, self.name, command, now)
            yield now

    def _check_range(self, command: str, what: str, value: float, low: float, high: float, unit: str) -> None:
        if not (low <= value <= high):  # also refuses NaN
            problem = f"{what} {value:g} {unit} is outside the instrument's range {low:g} to {high:g} {unit}"
            raise InstrumentError(self.name, command, None, problem)


class TwinTemperatureController(_TwinDriver):
    """The cryo stage's Lake Shore-like controller in the twin."""

    device, model = "stage", "lakeshore336"

    def read_temperature_k(self) -> float:
        """Read the stage temperature in K; raise SensorFault while the sensor is broken."""
        with self._call("KRDG? A") as now:
            state = self.lab.stage.state_at(now)
            if state.sensor_fault:
                raise SensorFault(self.name, "KRDG? A", None, "sensor fault: the reading is invalid")
            return state.temperature_k

    def read_setpoint_k(self) -> float:
        """Read the loop setpoint in K (the ramping one while a ramp runs)."""
        with self._call("SETP? 1") as now:
            return self.lab.stage.state_at(now).ramp_setpoint_k

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the loop setpoint in K, 0-500; ramps if a ramp rate is set."""
        with self._call(f"SETP 1,{kelvin}") as now:
            self._check_range("SETP", "setpoint", kelvin, 0.0, _STAGE_MAX_K, "K")
            self.lab.stage.set_setpoint_k(now, kelvin)

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint ramp rate in K/s (0: off)."""
        with self._call("RAMP? 1") as now:
            return self.lab.stage.state_at(now).ramp_k_per_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the ramp rate in K/s: 0 (off) or 0.1-100 K/min."""
        with self._call(f"RAMP 1,{int(rate > 0)},{rate * 60:g}") as now:
            if rate != 0:
                self._check_range("RAMP", "ramp rate", rate, _RAMP_MIN_K_PER_S, _RAMP_MAX_K_PER_S, "K/s")
            self.lab.stage.set_ramp_k_per_s(now, rate)

    def is_ramping(self) -> bool:
        """Return True while the setpoint ramps."""
        with self._call("RAMPST? 1") as now:
            return self.lab.stage.is_ramping(self.lab.stage.state_at(now))

    def read_heater_fraction(self) -> float:
        """Read the heater output 0-1 of its range (0 with the heater off)."""
        with self._call("HTR? 1") as now:
            state = self.lab.stage.state_at(now)
            return state.heater_output if state.heater_range > 0 and not state.sensor_fault else 0.0

    def set_heater_range(self, level: int) -> None:
        """Set the heater range 0 (off) to 3 (high)."""
        with self._call(f"RANGE 1,{level}") as now:
            if level not in (0, 1, 2, 3):
                raise InstrumentError(self.name, f"RANGE 1,{level}", None, "heater range must be 0, 1, 2 or 3")
            self.lab.stage.set_heater_range(now, int(level))

    def read_heater_error(self) -> int:
        """Read the heater error code (0: none)."""
        with self._call("HTRST? 1") as now:
            return self.lab.stage.state_at(now).heater_error


class TwinLevelMeter(_TwinDriver):
    """The LN2 level meter on the stage's dewar."""

    device, model = "level_meter", "ln2-level"

    def read_level_fraction(self) -> float:
        """Read the LN2 level 0-1."""
        with self._call("LEVEL?") as now:
            return self.lab.stage.level_fraction(self.lab.stage.state_at(now))


class TwinFurnace(_TwinDriver):
    """The furnace's Eurotherm-like controller in the twin."""

    device, model = "furnace", "eurotherm2404"

    def read_temperature_k(self) -> float:
        """Read the process value in K; raise SensorFault on a broken thermocouple."""
        with self._call("read PV (tag 1)") as now:
            state = self.lab.furnace.state_at(now)
            if state.sensor_break:
                raise SensorFault(self.name, "read PV (tag 1)", None, "thermocouple broken: PV invalid")
            return state.temperature_k

    def read_setpoint_k(self) -> float:
        """Read the target setpoint in K."""
        with self._call("read SP (tag 2)") as now:
            return self.lab.furnace.state_at(now).target_setpoint_k

    def read_working_setpoint_k(self) -> float:
        """Read the working setpoint in K (ramps towards the target at the rate limit)."""
        with self._call("read WSP (tag 5)") as now:
            return self.lab.furnace.state_at(now).working_setpoint_k

    def set_setpoint_k(self, kelvin: float) -> None:
        """Set the target setpoint in K, ambient-ish to the hardware limit."""
        with self._call(f"write SP (tag 2) {kelvin}") as now:
            self._check_range("write SP", "setpoint", kelvin, 0.0, self.lab.params.furnace.max_temperature_k, "K")
            self.lab.furnace.set_setpoint_k(now, kelvin)

    def read_ramp_k_per_s(self) -> float:
        """Read the setpoint rate limit in K/s (0: off)."""
        with self._call("read rate (tag 35)") as now:
            return self.lab.furnace.state_at(now).ramp_k_per_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        """Set the setpoint rate limit in K/s, 0 (off) to 10."""
        with self._call(f"write rate (tag 35) {rate}") as now:
            self._check_range("write rate", "rate limit", rate, 0.0, 10.0, "K/s")
            self.lab.furnace.set_ramp_k_per_s(now, rate)

    def read_output_fraction(self) -> float:
        """Read the output power 0-1."""
        with self._call("read OP (tag 3)") as now:
            return self.lab.furnace.state_at(now).output

    def read_status(self) -> FurnaceStatus:
        """Read the status bits."""
        with self._call("read status (tag 75)") as now:
            return self.lab.furnace.status(self.lab.furnace.state_at(now))

    def switch_output_off(self) -> None:
        """Go to manual with zero output (the safe state)."""
        with self._call("write mode manual, OP 0") as now:
            self.lab.furnace.switch_output_off(now)

    def switch_to_automatic(self) -> None:
        """Return to automatic control."""
        with self._call("write mode auto") as now:
            self.lab.furnace.switch_to_automatic(now)

    def acknowledge_alarms(self) -> None:
        """Acknowledge latched alarms."""
        with self._call("write ack (tag 274)") as now:
            self.lab.furnace.acknowledge_alarms(now)


class TwinPotentiostat(_TwinDriver):
    """The potentiostat on the operando cell; charge counts from ``connect()``."""

    device, model = "potentiostat", "keithley2450"

    def _on_connect(self, now: float) -> None:
        self._charge_origin_c = self.lab.cell.state_at(now).passed_c

    def set_open_circuit(self) -> None:
        """Measure the open-circuit voltage at zero current."""
        with self._call(":SOUR:CURR:LEV 0") as now:
            self.lab.cell.set_mode(now, "ocv")

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        """Source ``current_a`` (A, + charges) with a voltage compliance (V)."""
        with self._call(f":SOUR:CURR:LEV {current_a};:SOUR:CURR:VLIM {voltage_limit_v}") as now:
            self._check_range(":SOUR:CURR:LEV", "current", current_a, -_SOURCE_MAX_A, _SOURCE_MAX_A, "A")
            self._check_range(":SOUR:CURR:VLIM", "voltage limit", voltage_limit_v, 1e-3, _SOURCE_MAX_V, "V")
            self.lab.cell.set_mode(now, "cc", current_a, voltage_limit_v)

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        """Hold ``voltage_v`` (V) with a current compliance (A)."""
        with self._call(f":SOUR:VOLT:LEV {voltage_v};:SOUR:VOLT:ILIM {current_limit_a}") as now:
            self._check_range(":SOUR:VOLT:LEV", "voltage", voltage_v, -_SOURCE_MAX_V, _SOURCE_MAX_V, "V")
            self._check_range(":SOUR:VOLT:ILIM", "current limit", current_limit_a, 1e-9, _SOURCE_MAX_A, "A")
            self.lab.cell.set_mode(now, "cv", voltage_v, current_limit_a)

    def read_measurement(self) -> PotentiostatMeasurement:
        """Read voltage (V), current (A) and the charge (C) passed since connect()."""
        with self._call(":READ?") as now:
            state = self.lab.cell.state_at(now)
            charge = state.passed_c - self._charge_origin_c
            return PotentiostatMeasurement(now, state.voltage_v, state.current_a, charge, state.compliance)

    def cell_off(self) -> None:
        """Disconnect the cell (output off)."""
        with self._call(":OUTP OFF") as now:
            self.lab.cell.set_mode(now, "off")


class TwinSims(_TwinDriver):
    """The ToF-SIMS in the twin: acquisitions run on the world's clock."""

    device, model = "sims", "tofsims5"

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        """Start the acquisition; return at once."""
        with self._call(f"start {request.output_name}"):
            self.lab.start_acquisition(request)

    def read_acquisition(self) -> AcquisitionState:
        """Return the state of the current or last acquisition."""
        with self._call("status"):
            return self.lab.acquisition_state()

    def fetch_result(self) -> AcquisitionResult:
        """Return the finished acquisition's data; raise InstrumentError if none."""
        with self._call("fetch"):
            return self.lab.fetch_result()

    def abort(self) -> None:
        """Stop the acquisition and blank the beams."""
        with self._call("abort"):
            self.lab.abort_acquisition()


class TwinSampleHandler(_TwinDriver):
    """Sample transfers in the twin: each takes ``transfer_s`` at room temperature."""

    device, model = "sample_handler", "operator"

    def read_location(self) -> str:
        """Return where the sample is (or 'in_transfer')."""
        with self._call("location?"):
            return self.lab.location

    def request_transfer(self, location: str, note: str = "") -> None:
        """Start moving the sample to ``location``; return at once."""
        with self._call(f"transfer to {location}"):
            self.lab.request_transfer(location, note)

    def transfer_complete(self) -> bool:
        """Return True once the last transfer has arrived."""
        with self._call("transfer done?"):
            return self.lab.transfer_complete()

