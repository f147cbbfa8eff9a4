"""Interlocks the plans check before they act: each refusal is an InterlockError saying which condition failed.

- No SIMS acquisition on the tracer sample unless the stage is within ``tolerance_k`` of its
  imaging temperature (:func:`require_cold_stage`).
- No anneal (and no transfer off the stage) while the sample sits on a cold stage
  (:func:`require_sample_off_cold_stage`); the furnace heats only with the sample inside it
  (:func:`require_sample_at`).

Each check reads the instruments when its message runs (:func:`~.awaiting.call_async`); the
refusal ends the run with the InterlockError's message as the stop document's reason.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from bluesky.utils import MsgGenerator

from simslab.errors import InterlockError

from .awaiting import call_async

__all__ = [
    "ImagingInterlock",
    "require_cold_stage",
    "require_sample_off_cold_stage",
    "require_sample_at",
    "read_value",
    "TRANSFER_MIN_TEMPERATURE_K",
]

TRANSFER_MIN_TEMPERATURE_K = 283.15
"""A sample leaves the stage only above 10 C: a colder one would collect condensed water in air."""


@dataclass(frozen=True)
class ImagingInterlock:
    """What cryo-SIMS needs of the stage.

    temperature: a readable signal of the stage temperature (K); target_k and tolerance_k: the
    imaging temperature and the allowed deviation (K); cooling_ok: a readable boolean signal,
    False while the LN2 supply is out (None if the stage has no level meter).
    """

    temperature: Any
    target_k: float
    tolerance_k: float
    cooling_ok: Any = None

    def __post_init__(self) -> None:
        if not self.target_k > 0 or not self.tolerance_k > 0:
            raise ValueError(f"target_k ({self.target_k}) and tolerance_k ({self.tolerance_k}) must be > 0 K")

    @classmethod
    def for_stage(cls, stage: Any, target_k: float | None = None) -> ImagingInterlock:
        """Build the interlock of a simslab CryoStage from its profile settings (target_k overrides)."""
        settings = stage.settings
        return cls(stage.temperature, target_k if target_k is not None else settings.imaging_temperature_k,
                   settings.imaging_tolerance_k, stage.cooling_ok)


def require_cold_stage(interlock: ImagingInterlock) -> MsgGenerator[None]:
    """Refuse (InterlockError) unless |T_stage - target_k| <= tolerance_k now."""

    async def check() -> None:
        temperature_k = await read_value(interlock.temperature)
        if abs(temperature_k - interlock.target_k) > interlock.tolerance_k:
            raise InterlockError(
                f"SIMS refused: stage at {temperature_k:.2f} K, outside the imaging temperature "
                f"{interlock.target_k:.2f} +/- {interlock.tolerance_k:g} K"
            )

    yield from call_async(check)


def require_sample_off_cold_stage(location: Any, stage_temperature: Any,
                                  min_temperature_k: float = TRANSFER_MIN_TEMPERATURE_K,
                                  action: str = "anneal") -> MsgGenerator[None]:
    """Refuse ``action`` if the sample is on the cryo stage and the stage is below ``min_temperature_k`` K.

    location: the sample handler's location signal; stage_temperature: the stage's temperature signal.
    """

    async def check() -> None:
        where = await read_value(location)
        if where != "cryo_stage":
            return
        temperature_k = await read_value(stage_temperature)
        if temperature_k < min_temperature_k:
            raise InterlockError(
                f"{action} refused: the sample sits on the cold stage ({temperature_k:.1f} K, below "
                f"{min_temperature_k:.2f} K); warm the stage first"
            )

    yield from call_async(check)


def require_sample_at(location: Any, expected: str, action: str) -> MsgGenerator[None]:
    """Refuse ``action`` unless the sample handler reports the sample at ``expected``."""

    async def check() -> None:
        where = await read_value(location)
        if where != expected:
            raise InterlockError(f"{action} refused: the sample is at {where!r}, not in the {expected}")

    yield from call_async(check)


async def read_value(signal: Any) -> Any:
    """Return the present value of a single-value readable (ophyd-async or classic ophyd).

    An ophyd-async signal is read past its cache: while monitored, the cached reading is as
    old as its last change beyond the monitor's deadband.
    """
    if hasattr(signal, "get_value"):
        return await signal.get_value(cached=False)
    reading = signal.read()
    if inspect.isawaitable(reading):
        reading = await reading
    if len(reading) != 1:
        raise ValueError(f"{signal.name} reads {len(reading)} values; give a single signal")
    return next(iter(reading.values()))["value"]
