"""Storage: the sample rests in Ar at room temperature for days to weeks, then the quench.

One run. No instrument controls the storage temperature: the nominal one is recorded in the
start document under ``storage``; the sample's moves are in ``sample_location``. Nothing is
monitored while the sample waits (the stage and furnace say nothing about it); the stage
temperature is monitored from the start of its cooling to the quench.
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from .exchange import PRECOOL_S
from .interlocks import require_sample_off_cold_stage
from .metadata import run_metadata
from .quench import quench_onto_stage
from .runs import run_wrapper
from .safety import safe_on_failure
from .sample import transfer_sample
from .stage import DEFAULT_IMAGING_TEMPERATURE_K, ROOM_TEMPERATURE_K
from .waiting import hold_for

__all__ = ["storage"]


def storage(sample_handler: Any, stage: Any, *, duration_s: float, temperature_k: float = ROOM_TEMPERATURE_K,
            atmosphere: str = "Ar", then_to: str = "cryo_stage", imaging_temperature_k: float | None = None,
            precool_s: float = PRECOOL_S, md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Keep the sample in storage for ``duration_s`` s, then move it to ``then_to`` (one run).

    temperature_k, atmosphere: the storage's nominal temperature (K) and gas, recorded.
    then_to: "cryo_stage" (default: quenched onto the stage, cooled over the last
    ``precool_s`` s) or "storage" (stay).
    """
    if not duration_s > 0:
        raise ValueError(f"storage: duration_s = {duration_s!r} must be > 0 s")
    target_k = imaging_temperature_k or getattr(stage.settings, "imaging_temperature_k", DEFAULT_IMAGING_TEMPERATURE_K)
    metadata = run_metadata(
        "storage", {"sample_handler": sample_handler, "stage": stage, "duration_s": duration_s,
                    "then_to": then_to}, md,
        storage={"duration_s": duration_s, "temperature_k": temperature_k, "atmosphere": atmosphere,
                 "then_to": then_to},
    )

    def body() -> MsgGenerator[None]:
        yield from bps.checkpoint()  # a pause right after the run opens can be resumed
        yield from require_sample_off_cold_stage(sample_handler.location, stage.temperature, action="storage")
        yield from transfer_sample(sample_handler, "storage", stage_temperature=stage.temperature,
                                   note=f"store in {atmosphere} at {temperature_k - 273.15:.0f} C")
        if then_to == "cryo_stage":
            yield from hold_for(max(0.0, duration_s - precool_s))
            yield from quench_onto_stage(sample_handler, stage, target_k, during=hold_for(min(precool_s, duration_s)))
        else:
            yield from hold_for(duration_s)
            if then_to != "storage":
                yield from transfer_sample(sample_handler, then_to, note="out of storage")

    return (yield from safe_on_failure(run_wrapper(body(), md=metadata), [stage, sample_handler]))
