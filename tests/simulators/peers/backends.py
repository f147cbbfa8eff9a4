"""Small stateful backends for the protocol peers' tests (stand-ins for the twin's drivers).

Each implements one driver protocol in SI units with just enough behaviour to show that a
peer forwards requests and reports state: setpoints are stored, a ramp advances when told,
an acquisition or a transfer finishes after its duration on a given clock.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simslab.devices.drivers.protocols import (
    AcquisitionRequest,
    AcquisitionResult,
    AcquisitionState,
    FurnaceStatus,
    PotentiostatMeasurement,
)
from simslab.errors import InstrumentError, SensorFault


class _Base:
    blocking = False

    def __init__(self, name: str):
        self.name = name

    def connect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def identify(self) -> str:
        return f"stand-in {self.name}"


class FurnaceBackend(_Base):
    """A furnace whose working setpoint moves towards the target at the rate limit on ``advance``."""

    def __init__(self, temperature_k: float = 300.0):
        super().__init__("furnace")
        self.temperature_k = temperature_k
        self.setpoint_k = temperature_k
        self.working_setpoint_k = temperature_k
        self.ramp_k_per_s = 0.0
        self.manual = False
        self.output_fraction = 0.25
        self.sensor_broken = False
        self.alarm = False
        self.acknowledged = 0

    def advance(self, seconds: float) -> None:
        """Move the working setpoint (and, ideally, the temperature) for ``seconds``."""
        step = abs(self.setpoint_k - self.working_setpoint_k)
        if self.ramp_k_per_s > 0:
            step = min(step, self.ramp_k_per_s * seconds)
        self.working_setpoint_k += np.sign(self.setpoint_k - self.working_setpoint_k) * step
        self.temperature_k = self.working_setpoint_k

    def read_temperature_k(self) -> float:
        if self.sensor_broken:
            raise SensorFault(self.name, "read_temperature_k", None, "thermocouple open")
        return self.temperature_k

    def read_setpoint_k(self) -> float:
        return self.setpoint_k

    def read_working_setpoint_k(self) -> float:
        return self.working_setpoint_k

    def set_setpoint_k(self, kelvin: float) -> None:
        self.setpoint_k = kelvin
        if self.ramp_k_per_s == 0:
            self.working_setpoint_k = kelvin

    def read_ramp_k_per_s(self) -> float:
        return self.ramp_k_per_s

    def set_ramp_k_per_s(self, rate: float) -> None:
        self.ramp_k_per_s = rate

    def read_output_fraction(self) -> float:
        return 0.0 if self.manual else self.output_fraction

    def read_status(self) -> FurnaceStatus:
        return FurnaceStatus(alarm=self.alarm, sensor_break=self.sensor_broken, manual=self.manual,
                             ramp_complete=self.working_setpoint_k == self.setpoint_k)

    def switch_output_off(self) -> None:
        self.manual = True

    def switch_to_automatic(self) -> None:
        self.manual = False

    def acknowledge_alarms(self) -> None:
        self.alarm = False
        self.acknowledged += 1


class SimsBackend(_Base):
    """A SIMS whose acquisition is done ``integration_s`` after it started, on ``now``.

    Counts are deterministic: mass channel k gets ``(k + 1) * 100 + pixel index``.
    """

    def __init__(self, now: Callable[[], float], fail_with: str | None = None):
        super().__init__("sims")
        self.now = now
        self.fail_with = fail_with
        self.request: AcquisitionRequest | None = None
        self.started_s = 0.0
        self.aborted = False
        self.started: list[str] = []

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        if self.fail_with:
            raise InstrumentError(self.name, "start_acquisition", None, self.fail_with)
        self.request, self.started_s, self.aborted = request, self.now(), False
        self.started.append(request.output_name)

    def read_acquisition(self) -> AcquisitionState:
        if self.request is None:
            return AcquisitionState("idle")
        if self.aborted:
            return AcquisitionState("aborted", message="aborted")
        elapsed = self.now() - self.started_s
        return AcquisitionState("done" if elapsed >= self.request.integration_s else "running", elapsed)

    def fetch_result(self) -> AcquisitionResult:
        request = self.request
        assert request is not None
        return AcquisitionResult(
            counts={m.label: expected_counts(request, k) for k, m in enumerate(request.masses)},
            primary_ions=1234.0,
            started_s=self.started_s,
            finished_s=self.started_s + request.integration_s,
            depth_m=np.arange(request.sputter_cycles) * 1e-9 if request.kind == "depth_profile" else None,
        )

    def abort(self) -> None:
        self.aborted = True


def expected_counts(request: AcquisitionRequest, channel_index: int) -> np.ndarray:
    """The counts SimsBackend produces for a request's ``channel_index``-th mass."""
    nx, ny = request.pixels
    shape = {"image": (ny, nx), "line_scan": (nx,), "depth_profile": (request.sputter_cycles, ny, nx),
             "spectrum": (50,)}[request.kind]
    return ((channel_index + 1) * 100 + np.arange(int(np.prod(shape)))).reshape(shape).astype(np.uint32)


class SampleHandlerBackend(_Base):
    """A sample handler whose transfer takes ``transfer_s`` on ``now``."""

    def __init__(self, now: Callable[[], float], transfer_s: float = 300.0, location: str = "storage"):
        super().__init__("sample_handler")
        self.now = now
        self.transfer_s = transfer_s
        self.location = location
        self.destination: str | None = None
        self.requested_s = 0.0
        self.requests: list[tuple[str, str]] = []

    def read_location(self) -> str:
        self.transfer_complete()
        return "in_transfer" if self.destination else self.location

    def request_transfer(self, location: str, note: str = "") -> None:
        self.destination, self.requested_s = location, self.now()
        self.requests.append((location, note))

    def transfer_complete(self) -> bool:
        if self.destination and self.now() - self.requested_s >= self.transfer_s:
            self.location, self.destination = self.destination, None
        return self.destination is None


class CellBackend(_Base):
    """A cell as an ideal voltage source with a series resistance and a linear charge curve.

    V = ocv_v + charge_c / capacity_f + resistance_ohm * I while the output is on; the charge
    is integrated by ``advance``.
    """

    def __init__(self, ocv_v: float = 2.0, resistance_ohm: float = 1000.0, capacity_f: float = 10.0):
        super().__init__("cell")
        self.ocv_v, self.resistance_ohm, self.capacity_f = ocv_v, resistance_ohm, capacity_f
        self.charge_c = 0.0
        self.mode = "off"
        self.current_a = 0.0
        self.voltage_v = 0.0
        self.calls: list[tuple] = []
        self.time_s = 0.0

    def _open_circuit_v(self) -> float:
        return self.ocv_v + self.charge_c / self.capacity_f

    def advance(self, seconds: float) -> None:
        self.charge_c += self.read_measurement().current_a * seconds
        self.time_s += seconds

    def set_open_circuit(self) -> None:
        self.mode, self.current_a = "ocv", 0.0
        self.calls.append(("ocv",))

    def apply_current(self, current_a: float, voltage_limit_v: float) -> None:
        self.mode, self.current_a = "cc", current_a
        self.calls.append(("cc", current_a, voltage_limit_v))

    def apply_voltage(self, voltage_v: float, current_limit_a: float) -> None:
        self.mode, self.voltage_v = "cv", voltage_v
        self.calls.append(("cv", voltage_v, current_limit_a))

    def read_measurement(self) -> PotentiostatMeasurement:
        if self.mode == "cc":
            current = self.current_a
            voltage = self._open_circuit_v() + self.resistance_ohm * current
        elif self.mode == "cv":
            voltage = self.voltage_v
            current = (voltage - self._open_circuit_v()) / self.resistance_ohm
        else:
            current = 0.0
            voltage = self._open_circuit_v()
        return PotentiostatMeasurement(self.time_s, voltage, current, self.charge_c)

    def cell_off(self) -> None:
        self.mode = "off"
        self.calls.append(("off",))
