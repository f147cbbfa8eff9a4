"""Small stateful fakes of the driver protocols, on a clock, with fault injection.

Each fake records every write (``writes``: method name and arguments, in order) so a test can
assert that a refused request sent nothing, and raises a queued fault from any call
(``fail_with``), as a real driver would raise the simslab errors. The thermal fakes relax
first-order towards a setpoint that ramps at the set rate, on the clock's time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simslab.devices.drivers.protocols import (
    AcquisitionRequest,
    AcquisitionResult,
    AcquisitionState,
    FurnaceStatus,
    PotentiostatMeasurement,
)
from simslab.errors import InstrumentError, SensorFault


@dataclass
class FakeBase:
    """What every fake shares: a clock, a write log and fault injection."""

    clock: object
    name: str = "fake"
    blocking: bool = False
    writes: list[tuple] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    fail_with: Exception | None = None
    fail_on: set[str] = field(default_factory=set)
    fail_times: int | None = None
    connected: bool = False

    def inject(self, error: Exception, methods: set[str] | None = None, times: int | None = None) -> None:
        """Make calls (of ``methods``, default all) raise ``error``, ``times`` times (None: until cleared)."""
        self.fail_with, self.fail_on, self.fail_times = error, set(methods or ()), times

    def _call(self, method: str, *args) -> None:
        self.calls.append(method)
        if self.fail_with is not None and (not self.fail_on or method in self.fail_on):
            error = self.fail_with
            if self.fail_times is not None:
                self.fail_times -= 1
                if self.fail_times <= 0:
                    self.fail_with = None
            raise error

    def _write(self, method: str, *args) -> None:
        self._call(method, *args)
        self.writes.append((method, *args))

    def connect(self) -> None:
        self._call("connect")
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def identify(self) -> str:
        return f"{self.name},fake"


@dataclass
class ThermalModel:
    """First-order thermal response to a setpoint ramping at ``ramp_k_per_s`` (0: jump)."""

    temperature_k: float
    target_k: float
    working_k: float
    ramp_k_per_s: float = 0.0
    time_constant_s: float = 60.0
    updated_s: float = 0.0

    def advance(self, now_s: float) -> None:
        dt = now_s - self.updated_s
        if dt <= 0:
            return
        self.updated_s = now_s
        if self.ramp_k_per_s > 0:
            step = self.ramp_k_per_s * dt
            gap = self.target_k - self.working_k
            self.working_k = self.target_k if abs(gap) <= step else self.working_k + math.copysign(step, gap)
        else:
            self.working_k = self.target_k
        self.temperature_k += (self.working_k - self.temperature_k) * (1 - math.exp(-dt / self.time_constant_s))


@dataclass
class FakeTemperatureController(FakeBase):
    """A cryo-stage controller: heater output follows the error, error code settable."""

    start_k: float = 295.15
    time_constant_s: float = 60.0
    heater_error: int = 0
    heater_fraction_override: float | None = None
    sensor_fault: bool = False

    def __post_init__(self) -> None:
        now = self.clock.now()
        self.model = ThermalModel(self.start_k, self.start_k, self.start_k, 0.0, self.time_constant_s, now)
        self.heater_range = 3

    def _model(self) -> ThermalModel:
        self.model.advance(self.clock.now())
        return self.model

    def read_temperature_k(self) -> float:
        self._call("read_temperature_k")
        if self.sensor_fault:
            raise SensorFault(self.name, "KRDG? A", "+0.000", "sensor reports a fault")
        return self._model().temperature_k

    def read_setpoint_k(self) -> float:
        self._call("read_setpoint_k")
        return self._model().working_k

    def set_setpoint_k(self, kelvin: float) -> None:
        self._write("set_setpoint_k", kelvin)
        model = self._model()
        model.target_k = kelvin

    def read_ramp_k_per_s(self) -> float:
        self._call("read_ramp_k_per_s")
        return self.model.ramp_k_per_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        self._write("set_ramp_k_per_s", rate)
        self._model().ramp_k_per_s = rate

    def is_ramping(self) -> bool:
        self._call("is_ramping")
        model = self._model()
        return model.working_k != model.target_k

    def read_heater_fraction(self) -> float:
        self._call("read_heater_fraction")
        if self.heater_fraction_override is not None:
            return self.heater_fraction_override
        model = self._model()
        return min(max(0.3 + 0.05 * (model.working_k - model.temperature_k), 0.0), 1.0)

    def set_heater_range(self, level: int) -> None:
        self._write("set_heater_range", level)
        self.heater_range = level

    def read_heater_error(self) -> int:
        self._call("read_heater_error")
        return self.heater_error


@dataclass
class FakeLevelMeter(FakeBase):
    level_fraction: float = 0.8

    def read_level_fraction(self) -> float:
        self._call("read_level_fraction")
        return self.level_fraction


@dataclass
class FakeFurnace(FakeBase):
    """A furnace controller; ``overshoot_k`` adds to the reached temperature (to test the trip)."""

    start_k: float = 295.15
    time_constant_s: float = 60.0
    overshoot_k: float = 0.0
    sensor_break: bool = False
    automatic: bool = True

    def __post_init__(self) -> None:
        now = self.clock.now()
        self.model = ThermalModel(self.start_k, self.start_k, self.start_k, 0.0, self.time_constant_s, now)
        self.ambient_k = self.start_k

    def _model(self) -> ThermalModel:
        model = self.model
        if not self.automatic:  # output off: cool towards ambient
            model.target_k = model.working_k = self.ambient_k - self.overshoot_k
        model.advance(self.clock.now())
        return model

    def read_temperature_k(self) -> float:
        self._call("read_temperature_k")
        if self.sensor_break:
            raise SensorFault(self.name, "read register 1", "status 0x20", "thermocouple broken (sensor break)")
        return self._model().temperature_k + self.overshoot_k

    def read_setpoint_k(self) -> float:
        self._call("read_setpoint_k")
        return self.model.target_k

    def read_working_setpoint_k(self) -> float:
        self._call("read_working_setpoint_k")
        return self._model().working_k

    def set_setpoint_k(self, kelvin: float) -> None:
        self._write("set_setpoint_k", kelvin)
        self._model().target_k = kelvin

    def read_ramp_k_per_s(self) -> float:
        self._call("read_ramp_k_per_s")
        return self.model.ramp_k_per_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        self._write("set_ramp_k_per_s", rate)
        self._model().ramp_k_per_s = rate

    def read_output_fraction(self) -> float:
        self._call("read_output_fraction")
        if not self.automatic:
            return 0.0
        model = self._model()
        return min(max(0.2 + 0.02 * (model.working_k - model.temperature_k), 0.0), 1.0)

    def read_status(self) -> FurnaceStatus:
        self._call("read_status")
        model = self._model()
        return FurnaceStatus(
            alarm=self.sensor_break,
            sensor_break=self.sensor_break,
            manual=not self.automatic,
            ramp_complete=model.working_k == model.target_k,
        )

    def switch_output_off(self) -> None:
        self._write("switch_output_off")
        self._model()
        self.automatic = False

    def switch_to_automatic(self) -> None:
        self._write("switch_to_automatic")
        self._model()
        self.automatic = True
        self.model.target_k = self.model.working_k = self.model.temperature_k

    def acknowledge_alarms(self) -> None:
        self._write("acknowledge_alarms")


@dataclass
class FakeCell(FakeBase):
    """A cell as a voltage linear in charge: V = ocv_v + charge_c / capacitance_f + R * I."""

    ocv_v: float = 2.0
    capacitance_f: float = 10.0
    resistance_ohm: float = 1000.0
    mode: str = "off"
    current_a: float = 0.0
    voltage_setpoint_v: float = 0.0
    charge_c: float = 0.0

    def __post_init__(self) -> None:
        self.updated_s = self.clock.now()

    def _advance(self) -> None:
        now = self.clock.now()
        dt, self.updated_s = now - self.updated_s, now
        if self.mode == "cv":
            # current decays as the cell charges towards the held voltage
            self.current_a = (self.voltage_setpoint_v - self._emf()) / self.resistance_ohm
            tau = self.resistance_ohm * self.capacitance_f
            delta_q = (self.voltage_setpoint_v - self._emf()) * self.capacitance_f * (1 - math.exp(-dt / tau))
            self.charge_c += delta_q
            self.current_a = (self.voltage_setpoint_v - self._emf()) / self.resistance_ohm
        elif self.mode == "cc":
            self.charge_c += self.current_a * dt

    def _emf(self) -> float:
        return self.ocv_v + self.charge_c / self.capacitance_f

    def set_open_circuit(self) -> None:
        self._write("set_open_circuit")
        self._advance()
        self.mode, self.current_a = "ocv", 0.0

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        self._write("apply_current", current_a, voltage_limit_v)
        self._advance()
        self.mode, self.current_a = "cc", current_a

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        self._write("apply_voltage", voltage_v, current_limit_a)
        self._advance()
        self.mode, self.voltage_setpoint_v = "cv", voltage_v

    def read_measurement(self) -> PotentiostatMeasurement:
        self._call("read_measurement")
        self._advance()
        current = self.current_a if self.mode in ("cc", "cv") else 0.0
        voltage = self._emf() + self.resistance_ohm * current
        return PotentiostatMeasurement(self.clock.now(), voltage, current, self.charge_c)

    def cell_off(self) -> None:
        self._write("cell_off")
        self._advance()
        self.mode, self.current_a = "off", 0.0


@dataclass
class FakeSims(FakeBase):
    """A SIMS that counts a known pattern per mass over the integration time."""

    result_state: str = "done"
    request: AcquisitionRequest | None = None
    started_s: float = 0.0
    aborted: bool = False
    seed: int = 0

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        self._write("start_acquisition", request)
        self.request, self.started_s, self.aborted = request, self.clock.now(), False

    def _duration_s(self) -> float:
        assert self.request is not None
        return self.request.integration_s + self.request.sputter_time_s * self.request.sputter_cycles

    def read_acquisition(self) -> AcquisitionState:
        self._call("read_acquisition")
        if self.request is None:
            return AcquisitionState("idle")
        elapsed = self.clock.now() - self.started_s
        if self.aborted:
            return AcquisitionState("aborted", elapsed, "aborted by the operator")
        if elapsed < self._duration_s():
            return AcquisitionState("running", elapsed)
        message = "" if self.result_state == "done" else "beam fault"
        return AcquisitionState(self.result_state, self._duration_s(), message)

    def fetch_result(self) -> AcquisitionResult:
        self._call("fetch_result")
        request = self.request
        if request is None or self.read_acquisition().state != "done":
            raise InstrumentError(self.name, "fetch_result", None, "no finished acquisition")
        rng = np.random.default_rng(self.seed)
        nx, ny = request.pixels
        shape = {"image": (ny, nx), "line_scan": (nx,), "depth_profile": (request.sputter_cycles,)}.get(
            request.kind, (100,)
        )
        counts = {
            m.label: rng.poisson(50 * (i + 1), size=shape).astype(np.uint32) for i, m in enumerate(request.masses)
        }
        primary_ions = request.primary.current_a * request.integration_s / 1.602176634e-19
        depth = np.arange(request.sputter_cycles) * 1e-9 if request.kind == "depth_profile" else None
        axis = np.linspace(1, 100, 100) if request.kind == "spectrum" else None
        return AcquisitionResult(counts, primary_ions, self.started_s, self.clock.now(), depth, axis)

    def abort(self) -> None:
        self._write("abort")
        self.aborted = True


@dataclass
class FakeSampleHandler(FakeBase):
    """Transfers take ``transfer_s`` on the clock."""

    location: str = "storage"
    transfer_s: float = 60.0
    pending: tuple[str, float] | None = None

    def read_location(self) -> str:
        self._call("read_location")
        self._advance()
        return "in_transfer" if self.pending else self.location

    def request_transfer(self, location: str, note: str = "") -> None:
        self._write("request_transfer", location, note)
        self.pending = (location, self.clock.now() + self.transfer_s)

    def transfer_complete(self) -> bool:
        self._call("transfer_complete")
        self._advance()
        return self.pending is None

    def _advance(self) -> None:
        if self.pending and self.clock.now() >= self.pending[1]:
            self.location, self.pending = self.pending[0], None
