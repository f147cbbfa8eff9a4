"""Driver settings as they appear in a profile: which driver, and how to reach the instrument.

A profile names one of these per device under ``driver:``; ``kind`` picks the model. The
addresses in ``profiles/lab-example.yaml`` are placeholders a lab replaces with its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TwinDriverSettings",
    "LakeShoreSettings",
    "EurothermSettings",
    "Keithley2450Settings",
    "EmStat4Settings",
    "IontofHandoffSettings",
    "OperatorHandoffSettings",
    "StageDriverSettings",
    "LevelMeterSettings",
    "FurnaceDriverSettings",
    "PotentiostatDriverSettings",
    "SimsDriverSettings",
    "SampleHandlerDriverSettings",
]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TwinDriverSettings(_Settings):
    """The instrument is simulated: the driver is a view onto the session's twin."""

    kind: Literal["twin"] = "twin"


class LakeShoreSettings(_Settings):
    """Lake Shore 335/336 over VISA: serial (USB virtual COM), Ethernet socket or GPIB."""

    kind: Literal["lakeshore336", "lakeshore335"]
    resource: str = Field(description="VISA resource, e.g. ASRL/dev/ttyUSB0::INSTR or TCPIP::host::7777::SOCKET")
    baud_rate: int = Field(57600, gt=0)
    data_bits: Literal[7, 8] = 7
    parity: Literal["none", "odd", "even"] = "odd"
    stop_bits: Literal[1, 2] = 1
    timeout_s: float = Field(2.0, gt=0, le=60)
    output: int = Field(1, ge=1, le=4, description="heater output (control loop) number")
    input: Literal["A", "B", "C", "D"] = "A"
    visa_library: str = Field("@py", description="pyvisa backend: @py (pyvisa-py), @ivi, or a pyvisa-sim file@sim")


class EurothermSettings(_Settings):
    """Eurotherm 2400/3200-series controller over Modbus RTU."""

    kind: Literal["eurotherm"]
    port: str = Field(description="serial device (/dev/ttyUSB1, COM3) or pyserial URL (socket://host:port)")
    address: int = Field(1, ge=1, le=247)
    baud_rate: int = Field(9600, gt=0)
    timeout_s: float = Field(0.5, gt=0, le=30)


class Keithley2450Settings(_Settings):
    """Keithley 2450 source-measure unit (SCPI) over VISA, used as galvanostat."""

    kind: Literal["keithley2450"]
    resource: str = Field(description="VISA resource, e.g. USB0::0x05E6::0x2450::04000000::INSTR")
    timeout_s: float = Field(2.0, gt=0, le=60)
    visa_library: str = "@py"


class EmStat4Settings(_Settings):
    """PalmSens EmStat4 speaking MethodSCRIPT over a serial port."""

    kind: Literal["emstat4"]
    port: str = Field(description="serial device (/dev/ttyACM0, COM4) or pyserial URL")
    baud_rate: int = Field(921600, gt=0)
    timeout_s: float = Field(2.0, gt=0, le=60)


class IontofHandoffSettings(_Settings):
    """IONTOF TOF.SIMS 5: no public remote API, so acquisitions are handed off through folders.

    simslab writes each request into ``request_dir``; the operator or a site script on the
    acquisition PC runs it and exports the result into ``result_dir`` (BIF6 or ITA).
    """

    kind: Literal["iontof_handoff"]
    request_dir: Path
    result_dir: Path
    result_format: Literal["bif6", "ita"] = "bif6"
    timeout_s: float = Field(3600.0, gt=0, description="grace after the integration time before giving up")
    poll_s: float = Field(2.0, gt=0)


class OperatorHandoffSettings(_Settings):
    """Sample transfers done by a person, who confirms each with ``simslab confirm``."""

    kind: Literal["operator"]
    handoff_dir: Path
    timeout_s: float | None = Field(None, gt=0, description="give up after this long; None waits forever")
    poll_s: float = Field(2.0, gt=0)


class LevelMeterSettings(_Settings):
    """An LN2 level meter beside the stage controller (the twin, or none in a lab without one)."""

    kind: Literal["twin"] = "twin"


StageDriverSettings = Annotated[TwinDriverSettings | LakeShoreSettings, Field(discriminator="kind")]
FurnaceDriverSettings = Annotated[TwinDriverSettings | EurothermSettings, Field(discriminator="kind")]
PotentiostatDriverSettings = Annotated[
    TwinDriverSettings | Keithley2450Settings | EmStat4Settings, Field(discriminator="kind")
]
SimsDriverSettings = Annotated[TwinDriverSettings | IontofHandoffSettings, Field(discriminator="kind")]
SampleHandlerDriverSettings = Annotated[TwinDriverSettings | OperatorHandoffSettings, Field(discriminator="kind")]
