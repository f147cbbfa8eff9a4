"""The simslab ophyd-async devices: one class per instrument, on real drivers, twin drivers or mocks.

Each device takes its driver(s) (``None`` for a device only ever connected with ``mock=True``),
its settings model from the profile and the session clock; the factories ``make_*`` build
them with their usual names. Every device has ``async safe_state()`` (what plans call on abort
or failure) and ``stop()`` (halt the current action only).
"""

from .action import StoppedError
from .cryo_stage import CryoStage, CryoStageMock, make_cryo_stage
from .driver_port import DriverPort, NoDriverError, SharedRead
from .driver_signal import (
    DriverCommand,
    DriverConnector,
    DriverSignalBackend,
    MonitorPolicy,
    callback_on_mock_call,
    close_drivers,
    driver_signal_r,
    driver_signal_rw,
    driver_signal_w,
)
from .furnace import AnnealingFurnace, FurnaceMock, make_furnace
from .potentiostat import (
    CellOff,
    ConstantCurrent,
    ConstantVoltage,
    Potentiostat,
    PotentiostatMock,
    PotentiostatMode,
    Rest,
    Step,
    StepEnd,
    make_potentiostat,
)
from .sample_handler import SampleHandler, SampleHandlerMock, make_sample_handler
from .sims_writer import HDF5_MIMETYPE, SimsHdfWriter
from .temperature_control import SettleTimeout
from .tofsims import AcquisitionKind, AcquisitionPhase, ToFSims, ToFSimsMock, make_tofsims, mass_data_key

__all__ = [
    "CryoStage",
    "CryoStageMock",
    "make_cryo_stage",
    "AnnealingFurnace",
    "FurnaceMock",
    "make_furnace",
    "Potentiostat",
    "PotentiostatMock",
    "PotentiostatMode",
    "StepEnd",
    "Step",
    "Rest",
    "ConstantCurrent",
    "ConstantVoltage",
    "CellOff",
    "make_potentiostat",
    "ToFSims",
    "ToFSimsMock",
    "AcquisitionKind",
    "AcquisitionPhase",
    "mass_data_key",
    "make_tofsims",
    "SimsHdfWriter",
    "HDF5_MIMETYPE",
    "SampleHandler",
    "SampleHandlerMock",
    "make_sample_handler",
    "SettleTimeout",
    "StoppedError",
    "DriverPort",
    "SharedRead",
    "NoDriverError",
    "DriverSignalBackend",
    "DriverConnector",
    "DriverCommand",
    "MonitorPolicy",
    "driver_signal_r",
    "driver_signal_rw",
    "driver_signal_w",
    "callback_on_mock_call",
    "close_drivers",
]
