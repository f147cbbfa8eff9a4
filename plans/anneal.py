"""Anneal: the sample into the furnace, ramp, hold, cool, furnace off, and out (the quench by default).

One run; the furnace temperature is monitored over the whole run (the sample's thermal
history in the furnace), the stage temperature from the start of its cooling to the quench.
Interlocks: no anneal while the sample sits on the cold stage, and the furnace heats only
with the sample reported inside it.
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from .awaiting import call_async
from .interlocks import require_sample_at, require_sample_off_cold_stage
from .metadata import run_metadata
from .quench import quench_onto_stage
from .runs import run_wrapper
from .safety import safe_on_failure
from .sample import transfer_sample
from .stage import DEFAULT_IMAGING_TEMPERATURE_K
from .waiting import hold_for

__all__ = ["anneal", "heat_and_hold", "cool_furnace", "furnace_off", "COOL_TO_K"]

COOL_TO_K = 323.15
"""The furnace cools (controlled) to 50 C before the sample is taken out."""


def heat_and_hold(furnace: Any, temperature_k: float, hold_s: float,
                  ramp_k_per_s: float | None = None) -> MsgGenerator[None]:
    """Ramp the furnace to ``temperature_k`` (K; at ``ramp_k_per_s`` K/s if given), wait until settled,
    then hold ``hold_s`` s."""
    if not hold_s >= 0:
        raise ValueError(f"heat_and_hold: hold_s = {hold_s!r} must be >= 0 s")
    if ramp_k_per_s is not None:
        yield from bps.mv(furnace.ramp_rate, ramp_k_per_s)
    yield from bps.mv(furnace, temperature_k)
    yield from hold_for(hold_s)


def cool_furnace(furnace: Any, cool_to_k: float = COOL_TO_K) -> MsgGenerator[None]:
    """Cool the furnace to ``cool_to_k`` (K) at its ramp rate, wait until settled, then switch it off."""
    yield from bps.mv(furnace, cool_to_k)
    yield from furnace_off(furnace)


def furnace_off(furnace: Any) -> MsgGenerator[None]:
    """Switch the furnace output off (its safe state; this also ends its over-temperature watchdog)."""
    yield from call_async(furnace.safe_state)


def anneal(furnace: Any, sample_handler: Any, stage: Any, *, temperature_k: float, hold_s: float,
           ramp_k_per_s: float | None = None, cool_to_k: float = COOL_TO_K, then_to: str = "cryo_stage",
           imaging_temperature_k: float | None = None, md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Anneal the sample at ``temperature_k`` (K) for ``hold_s`` s at temperature (one run).

    ramp_k_per_s: furnace ramp in K/s (default: the furnace's, capped by its profile limit).
    cool_to_k: the furnace cools to this (K) before the sample leaves. then_to: where it goes
    (default onto the cold stage, cooled to ``imaging_temperature_k`` K while the furnace cools).
    """
    target_k = imaging_temperature_k or getattr(stage.settings, "imaging_temperature_k", DEFAULT_IMAGING_TEMPERATURE_K)
    metadata = run_metadata(
        "anneal", {"furnace": furnace, "sample_handler": sample_handler, "stage": stage,
                   "temperature_k": temperature_k, "hold_s": hold_s}, md,
        anneal={"temperature_k": temperature_k, "hold_s": hold_s, "ramp_k_per_s": ramp_k_per_s,
                "cool_to_k": cool_to_k, "then_to": then_to},
    )

    def body() -> MsgGenerator[None]:
        yield from bps.checkpoint()  # a pause right after the run opens can be resumed
        yield from require_sample_off_cold_stage(sample_handler.location, stage.temperature, action="anneal")
        yield from transfer_sample(sample_handler, "furnace", stage_temperature=stage.temperature,
                                   note=f"anneal at {temperature_k - 273.15:.0f} C")
        yield from require_sample_at(sample_handler.location, "furnace", "heating the furnace")
        yield from heat_and_hold(furnace, temperature_k, hold_s, ramp_k_per_s)
        if then_to == "cryo_stage":
            yield from quench_onto_stage(sample_handler, stage, target_k, during=cool_furnace(furnace, cool_to_k))
        else:
            yield from cool_furnace(furnace, cool_to_k)
            yield from transfer_sample(sample_handler, then_to, note="out of the furnace")

    plan = bpp.monitor_during_wrapper(run_wrapper(body(), md=metadata), [furnace.temperature])
    return (yield from safe_on_failure(plan, [furnace, stage, sample_handler]))
