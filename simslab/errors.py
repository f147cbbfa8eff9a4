"""One hierarchy of errors a user can act on.

Each error renders as one clear line (``str(err)``); the CLI prints that line and sends the
traceback to the log.
"""

from __future__ import annotations

from typing import Any


class SimslabError(Exception):
    """Base of every error simslab raises on purpose."""


class ValidationError(SimslabError):
    """A profile or campaign file holds a value that is not allowed.

    Carries the file, the field path (``devices.furnace.limits.max_k``), the bad value and
    what is allowed, so the message names all four.
    """

    def __init__(self, source: str, field: str, value: Any, allowed: str):
        self.source, self.field, self.value, self.allowed = source, field, value, allowed
        super().__init__(f"{source}: {field} = {value!r} is not allowed: {allowed}")


class ValidationErrors(SimslabError):
    """Several validation errors found in one file, all reported at once."""

    def __init__(self, errors: list[ValidationError]):
        self.errors = errors
        lines = "\n  ".join(str(e) for e in errors)
        super().__init__(f"{len(errors)} invalid value(s):\n  {lines}" if len(errors) > 1 else str(errors[0]))


class InstrumentError(SimslabError):
    """An instrument did not answer, answered garbage, or reported a fault.

    Names the instrument, the command sent and the reply received (or that none came).
    """

    def __init__(self, instrument: str, command: str, reply: str | None, problem: str):
        self.instrument, self.command, self.reply, self.problem = instrument, command, reply, problem
        shown = "no reply" if reply is None else f"reply {reply!r}"
        super().__init__(f"{instrument}: {problem} (command {command!r}, {shown})")


class InstrumentTimeout(InstrumentError):
    """No complete reply arrived within the I/O timeout."""


class ConnectionLost(InstrumentError):
    """The port or socket to the instrument closed or vanished."""


class SensorFault(InstrumentError):
    """The instrument reports a broken or out-of-range sensor: its reading is not a value."""


class LimitError(SimslabError):
    """A requested setting lies outside the limits of the profile; nothing was written."""

    def __init__(self, device: str, setting: str, value: float, low: float, high: float, unit: str):
        self.device, self.setting, self.value, self.low, self.high, self.unit = device, setting, value, low, high, unit
        super().__init__(
            f"{device}: {setting} = {value:g} {unit} refused, allowed {low:g} to {high:g} {unit} (profile limits)"
        )


class InterlockError(SimslabError):
    """A safety interlock refused an action; says which condition failed."""


class CatalogError(SimslabError):
    """The catalog cannot be opened, or a run asked for is not in it."""


class ReplayError(SimslabError):
    """A recorded run cannot be replayed (plan unknown, arguments not serialisable)."""
