"""Real instrument drivers, one class per instrument family, and how a profile picks one.

Each driver implements a protocol of :mod:`.protocols` in SI units. :func:`open_driver`
builds the driver a profile's ``driver:`` settings name; the classes are imported only when
used, so a lab without, say, pymodbus can still run the rest.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

__all__ = ["open_driver", "DRIVER_CLASSES"]

DRIVER_CLASSES: dict[str, tuple[str, str]] = {
    "lakeshore336": ("lakeshore", "LakeShore33x"),
    "lakeshore335": ("lakeshore", "LakeShore33x"),
    "eurotherm": ("eurotherm", "Eurotherm"),
    "keithley2450": ("keithley", "Keithley2450"),
    "emstat4": ("emstat", "EmStat4"),
    "iontof_handoff": ("iontof_handoff", "IontofHandoff"),
    "operator": ("operator_handoff", "OperatorHandoff"),
}
"""Driver kind (the ``kind:`` of a profile) -> (module in this package, class)."""

_TAKES_TIME_SOURCE = {"keithley2450", "emstat4", "iontof_handoff", "operator"}


def open_driver(settings: Any, name: str, now: Callable[[], float] = time.time) -> Any:
    """Return the (not yet connected) real driver for ``settings``, named ``name``.

    ``now`` is the session clock for drivers that timestamp or integrate their readings.
    """
    if settings.kind == "twin":
        raise ValueError("twin drivers are built by the simulated lab, not opened here")
    module_name, class_name = DRIVER_CLASSES[settings.kind]
    driver_class = getattr(importlib.import_module(f"{__name__}.{module_name}"), class_name)
    if settings.kind in _TAKES_TIME_SOURCE:
        return driver_class(settings, now=now, name=name)
    return driver_class(settings, name=name)
