"""The simulated lab (digital twin): one world per session, its models, and its drivers.

The public names below are imported lazily on first use, so reading the twin's parameters
(``simslab.simulators.parameters``, which every profile does) does not load the models.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "SimulatedLab",
    "make_twin_drivers",
    "TwinTemperatureController",
    "TwinLevelMeter",
    "TwinFurnace",
    "TwinPotentiostat",
    "TwinSims",
    "TwinSampleHandler",
    "FaultInjector",
    "InjectedFault",
    "CryoStage",
    "Furnace",
    "Cell",
    "CellWindows",
    "TwinParameters",
]

_HOMES = {
    "SimulatedLab": "lab",
    "make_twin_drivers": "twin_drivers",
    "TwinTemperatureController": "twin_drivers",
    "TwinLevelMeter": "twin_drivers",
    "TwinFurnace": "twin_drivers",
    "TwinPotentiostat": "twin_drivers",
    "TwinSims": "twin_drivers",
    "TwinSampleHandler": "twin_drivers",
    "FaultInjector": "faults",
    "InjectedFault": "faults",
    "CryoStage": "cryo_stage",
    "Furnace": "furnace",
    "Cell": "cell",
    "CellWindows": "cell_windows",
    "TwinParameters": "parameters",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
