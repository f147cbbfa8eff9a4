"""A Eurotherm 2400-series controller on Modbus RTU, played by a pymodbus server over TCP.

The peer listens on 127.0.0.1 with the RTU framer (CRC-checked RTU frames over a TCP stream),
so a client opens it with ``serial.serial_for_url("socket://127.0.0.1:PORT")``, as the real
driver does with ``settings.port = peer.port_url``. It answers what real clients send:

- reads (function 3, also 4) of one or several registers, plain or in the float area
  (``0x8000 + 2 * tag``, two big-endian words per float);
- writes with function 6 (one register) and 16 (several, or a float's two words);
- the registers clients probe at connect (2400 series: 211, 517, 521; ident 122, firmware
  107, decimal places 525, units 531), and the common aliases setpoint 1 (24) and input
  value (289) used by simple clients;
- Modbus exceptions as a controller gives them: illegal address (2) for an unknown tag or a
  write to a read-only one, illegal value (3) for a setpoint outside the setpoint-1 limits or
  a negative rate, device failure (4) when the backend fails.

Plain registers hold scaled integers with ``decimal_places`` implied decimals (register 525),
temperatures in degC; rates are per minute (register 531 = 1, 2000-series encoding).

Behind the registers sits a backend: any :class:`FurnaceDriver` (the twin's furnace in the
lab-on-twin mode), called from the server thread. Its SI values are converted here.

pymodbus 3.16 deprecates ``ModbusSequentialDataBlock``/``ModbusServerContext``; this peer uses
the new ``SimDevice``/``SimData`` with an ``action`` callback that fills registers on read and
forwards writes to the backend, which logs no deprecation warning.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from simslab.devices.drivers.protocols import FurnaceDriver
from simslab.errors import SensorFault

__all__ = ["EurothermPeer", "ModbusRequest", "start_eurotherm_peer", "PeerFault"]

logger = logging.getLogger(__name__)

PeerFault = Literal["silent", "garble", "disconnect"]
CELSIUS_OFFSET_K = 273.15
FLOAT_AREA = 0x8000
_HIGHEST_TAG = 640
_BLOCK_SIZE = FLOAT_AREA + 2 * _HIGHEST_TAG + 2
_RATE_UNIT_SECONDS = (1.0, 60.0, 3600.0)  # register 531, 2000-series encoding: s, min, h


@dataclass(frozen=True)
class ModbusRequest:
    """One request as the peer received it: function code, first register, count, values written."""

    function_code: int
    address: int
    count: int
    values: tuple[int, ...] = ()


def start_eurotherm_peer(backend: FurnaceDriver, **options) -> EurothermPeer:
    """Start a Eurotherm peer in a thread in front of ``backend``; return it serving.

    ``options`` are those of :class:`EurothermPeer`.
    """
    return EurothermPeer(backend, **options).start()


class EurothermPeer:
    """A Eurotherm register map over Modbus RTU-on-TCP, in a thread, in front of a backend.

    Parameters
    ----------
    backend: the furnace behind the registers (SI units).
    address: the Modbus slave address answered.
    setpoint_limits_c: (low, high) setpoint-1 limits in degC (registers 112, 111).
    ident, firmware: values of registers 122 and 107.
    """

    def __init__(
        self,
        backend: FurnaceDriver,
        *,
        address: int = 1,
        setpoint_limits_c: tuple[float, float] = (0.0, 1200.0),
        ident: int = 0x2480,
        firmware: int = 0x0461,
    ):
        self.backend = backend
        self.address = address
        self.setpoint_limits_c = setpoint_limits_c
        self.ident = ident
        self.firmware = firmware
        self.decimal_places = 1
        self.rate_units = 1
        self.requests: list[ModbusRequest] = []
        """Every request received, oldest first (for protocol tests)."""
        self._faults: list[PeerFault] = []
        self._fault_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None
        self._tcp_port: int | None = None
        self._parameters = self._build_parameters()

    # --- public ----------------------------------------------------------------------------

    def start(self) -> EurothermPeer:
        """Start serving in a daemon thread; return once the port listens."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, failure), name="eurotherm-peer", daemon=True)
        self._thread.start()
        if not ready.wait(10.0) or failure:
            raise RuntimeError(f"Eurotherm peer did not start: {failure[0] if failure else 'timeout'}")
        logger.info("Eurotherm peer serving on %s", self.port_url)
        return self

    @property
    def port_url(self) -> str:
        """The pyserial URL of this peer: ``socket://127.0.0.1:PORT``."""
        return f"socket://127.0.0.1:{self._tcp_port}"

    def inject_fault(self, fault: PeerFault, count: int = 1) -> None:
        """Make the next ``count`` replies faulty: dropped, with a bad CRC, or a dropped connection."""
        if fault not in ("silent", "garble", "disconnect"):
            raise ValueError(f"fault = {fault!r} is not allowed: silent, garble or disconnect")
        with self._fault_lock:
            self._faults.extend([fault] * count)

    def close(self) -> None:
        """Stop the server, drop every connection, join the thread; safe to call twice."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=5.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> EurothermPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the server thread -----------------------------------------------------------------

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # reported to start()
            failure.append(exc)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> None:
        device = SimDevice(
            id=self.address,
            simdata=SimData(0, count=_BLOCK_SIZE, values=0, datatype=DataType.REGISTERS),
            action=self._action,
        )
        self._server = ModbusTcpServer(
            device,
            framer=FramerType.RTU,
            address=("127.0.0.1", 0),
            trace_packet=self._trace_packet,
            trace_pdu=self._trace_pdu,
        )
        await self._server.serve_forever(background=True)
        self._tcp_port = self._server.transport.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            await self._server.shutdown()

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            registers = tuple(pdu.registers) if pdu.function_code in (6, 16) else ()
            count = len(registers) if pdu.function_code in (6, 16) else pdu.count
            self.requests.append(ModbusRequest(pdu.function_code, pdu.address, count, registers))
        return pdu

    def _trace_packet(self, sending: bool, packet: bytes) -> bytes:
        if not sending:
            return packet
        with self._fault_lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault == "silent":
            return b""
        if fault == "garble":
            return packet[:-1] + bytes([packet[-1] ^ 0xFF])  # the CRC no longer matches
        if fault == "disconnect":
            assert self._loop is not None
            self._loop.call_soon(self._drop_connections)  # after this (empty) send completes
            return b""
        return packet

    def _drop_connections(self) -> None:
        assert self._server is not None
        for connection in list(self._server.active_connections.values()):
            connection.close()

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Fill the registers of a read from the backend, or forward a write to it."""
        try:
            if set_values is None:
                if function_code == 6:
                    return None  # the echo of a single write: the registers hold what was written
                values: dict[int, float] = {}
                for register in range(address, address + count):
                    registers[register - start_address] = self._read_register(register, values)
            else:
                self._write_registers(address, [int(v) for v in set_values])
        except _Refusal as refusal:
            logger.debug("Eurotherm peer refuses fc %d at %d: %s", function_code, address, refusal.reason)
            return refusal.code
        except Exception:
            logger.exception("Eurotherm peer: backend failed on fc %d at %d", function_code, address)
            return ExcCodes.DEVICE_FAILURE
        return None

    # --- the register map ------------------------------------------------------------------

    def _read_register(self, register: int, values: dict[int, float]) -> int:
        """Return one 16-bit register; ``values`` caches each tag's value within one request."""
        tag = (register - FLOAT_AREA) // 2 if register >= FLOAT_AREA else register
        parameter = self._parameters.get(tag)
        if parameter is None:
            raise _Refusal(ExcCodes.ILLEGAL_ADDRESS, f"no parameter at tag {tag}")
        if tag not in values:
            values[tag] = parameter.read()
        value = values[tag]
        if register >= FLOAT_AREA:
            high, low = struct.unpack(">HH", struct.pack(">f", value))
            return high if (register - FLOAT_AREA) % 2 == 0 else low
        if parameter.word:
            return int(value) & 0xFFFF
        return _to_scaled(value, self.decimal_places)

    def _write_registers(self, address: int, words: list[int]) -> None:
        if address >= FLOAT_AREA:
            if (address - FLOAT_AREA) % 2 or len(words) % 2:
                raise _Refusal(ExcCodes.ILLEGAL_VALUE, "a float is written as two whole registers")
            for i in range(0, len(words), 2):
                tag = (address - FLOAT_AREA) // 2 + i // 2
                (value,) = struct.unpack(">f", struct.pack(">HH", words[i], words[i + 1]))
                self._write_parameter(tag, value)
            return
        for i, word in enumerate(words):
            tag = address + i
            parameter = self._parameters.get(tag)
            if parameter is None:
                raise _Refusal(ExcCodes.ILLEGAL_ADDRESS, f"no parameter at tag {tag}")
            self._write_parameter(tag, float(word) if parameter.word else _from_scaled(word, self.decimal_places))

    def _write_parameter(self, tag: int, value: float) -> None:
        parameter = self._parameters.get(tag)
        if parameter is None or parameter.write is None:
            raise _Refusal(ExcCodes.ILLEGAL_ADDRESS, f"tag {tag} is read-only or unknown")
        if not math.isfinite(value):
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"tag {tag}: {value} is not a number")
        parameter.write(value)

    def _build_parameters(self) -> dict[int, _Parameter]:
        backend = self.backend
        parameter = _Parameter
        setpoint = parameter(lambda: backend.read_setpoint_k() - CELSIUS_OFFSET_K, self._write_setpoint)
        process_value = parameter(self._read_process_value_c)
        output = parameter(lambda: 100.0 * backend.read_output_fraction(), self._write_output)
        return {
            1: process_value,
            2: setpoint,
            3: output,
            4: output,
            5: parameter(lambda: backend.read_working_setpoint_k() - CELSIUS_OFFSET_K),
            15: parameter(lambda: 0.0, word=True),  # setpoint 1 selected
            24: setpoint,
            35: parameter(lambda: backend.read_ramp_k_per_s() * self._rate_unit_s(), self._write_rate),
            39: parameter(lambda: self._read_process_value_c() - (backend.read_setpoint_k() - CELSIUS_OFFSET_K)),
            75: parameter(self._status_word, word=True),
            107: parameter(lambda: float(self.firmware), word=True),
            111: parameter(lambda: self.setpoint_limits_c[1], lambda v: self._set_limit(1, v)),
            112: parameter(lambda: self.setpoint_limits_c[0], lambda v: self._set_limit(0, v)),
            122: parameter(lambda: float(self.ident), word=True),
            211: parameter(lambda: 16.0, word=True),  # programmer segments
            273: parameter(lambda: float(backend.read_status().manual), self._write_mode, word=True),
            274: parameter(lambda: 0.0, lambda _v: backend.acknowledge_alarms(), word=True),
            289: process_value,
            516: parameter(lambda: 0.0, word=True),  # display units: degC
            517: parameter(lambda: 0.0, word=True),  # programmer type
            521: parameter(lambda: 2.0, word=True),  # number of setpoints
            525: parameter(lambda: float(self.decimal_places), self._write_decimals, word=True),
            531: parameter(lambda: float(self.rate_units), self._write_rate_units, word=True),
        }

    def _rate_unit_s(self) -> float:
        return _RATE_UNIT_SECONDS[self.rate_units]

    def _read_process_value_c(self) -> float:
        try:
            return self.backend.read_temperature_k() - CELSIUS_OFFSET_K
        except SensorFault:
            return math.nan  # the status word reports the break

    def _status_word(self) -> float:
        status = self.backend.read_status()
        try:
            self.backend.read_temperature_k()
            broken = status.sensor_break
        except SensorFault:
            broken = True
        word = (
            status.alarm << 0
            | status.manual << 4
            | broken << 5
            | status.heater_fail << 7
            | status.ramp_complete << 9
        )
        return float(word)

    def _write_setpoint(self, celsius: float) -> None:
        low, high = self.setpoint_limits_c
        if not low <= celsius <= high:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"setpoint {celsius} degC outside {low}..{high}")
        self.backend.set_setpoint_k(celsius + CELSIUS_OFFSET_K)

    def _write_rate(self, per_unit: float) -> None:
        if per_unit < 0:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"rate {per_unit} is negative")
        self.backend.set_ramp_k_per_s(per_unit / self._rate_unit_s())

    def _write_output(self, percent: float) -> None:
        # The backend protocol knows only 'output off' in manual mode, so only 0 % is accepted;
        # in automatic mode the output is read-only, as on the controller.
        if not self.backend.read_status().manual:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, "output power is read-only in automatic mode")
        if percent != 0.0:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"manual output {percent} % not supported by the backend")
        self.backend.switch_output_off()

    def _write_mode(self, value: float) -> None:
        if value == 1:
            self.backend.switch_output_off()
        elif value == 0:
            self.backend.switch_to_automatic()
        else:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"auto/manual {value} is not 0 or 1")

    def _write_decimals(self, value: float) -> None:
        if value not in (0, 1, 2, 3):
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"decimal places {value} not in 0-3")
        self.decimal_places = int(value)

    def _write_rate_units(self, value: float) -> None:
        if value not in (0, 1, 2):
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"rate units {value} not in 0-2")
        self.rate_units = int(value)

    def _set_limit(self, index: int, celsius: float) -> None:
        limits = list(self.setpoint_limits_c)
        limits[index] = celsius
        if limits[0] >= limits[1]:
            raise _Refusal(ExcCodes.ILLEGAL_VALUE, f"setpoint limits {limits} not ordered")
        self.setpoint_limits_c = (limits[0], limits[1])


@dataclass(frozen=True)
class _Parameter:
    """One tag: how to read it (engineering units), how to write it, and whether it is a word."""

    read: Callable[[], float]
    write: Callable[[float], None] | None = None
    word: bool = False


class _Refusal(Exception):
    """A request the controller answers with a Modbus exception code."""

    def __init__(self, code: ExcCodes, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _to_scaled(value: float, decimals: int) -> int:
    """Encode a value as a 16-bit two's-complement integer with implied decimals (NaN: 0x8000)."""
    if not math.isfinite(value):
        return 0x8000
    raw = max(-32767, min(32767, round(value * 10**decimals)))
    return raw & 0xFFFF


def _from_scaled(word: int, decimals: int) -> float:
    signed = word - 0x10000 if word & 0x8000 else word
    return signed / 10**decimals
