"""Isotope exchange: one edge of the sample in the 6Li bath for a given time, then the quench.

One run. The sample handler moves the sample into the bath (in the lab: the operator dips it
and confirms with ``simslab confirm``), the plan waits the exchange time on the session clock
(or until a given end time), then moves the sample out: onto the cold stage (default; the
stage cools over the exchange's last ``precool_s``) or elsewhere. The exchange starts at the
``sample_location`` event where the sample is in ``exchange_bath`` and ends at the next
event (the sample is read there just before it leaves); the bath's solution and temperature
are in the start document under ``exchange``.
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from .interlocks import require_sample_off_cold_stage
from .metadata import run_metadata
from .quench import quench_onto_stage
from .runs import run_wrapper
from .safety import safe_on_failure
from .sample import transfer_sample
from .stage import DEFAULT_IMAGING_TEMPERATURE_K, ROOM_TEMPERATURE_K
from .waiting import hold_for, hold_until

__all__ = ["isotope_exchange", "DEFAULT_SOLUTION", "PRECOOL_S"]

DEFAULT_SOLUTION = "6LiNO3 (aq), 5 mol/L, 95 % 6Li"
PRECOOL_S = 3600.0
"""How long before the sample arrives the stage starts cooling (s): the stage reaches -110 C in
well under an hour (a 15 min time constant), so the sample meets a cold stage."""


def isotope_exchange(sample_handler: Any, stage: Any, *, duration_s: float, solution: str = DEFAULT_SOLUTION,
                     temperature_k: float = ROOM_TEMPERATURE_K, then_to: str = "cryo_stage",
                     imaging_temperature_k: float | None = None, precool_s: float = PRECOOL_S,
                     clock: Any = None, end_time_s: float | None = None,
                     md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Exchange the sample in the bath for ``duration_s`` s, then move it to ``then_to`` (one run).

    solution, temperature_k: what the bath holds and its temperature (K), recorded.
    imaging_temperature_k: the stage temperature the sample is quenched onto (K; default the
    stage's setting). end_time_s: end the exchange at this session-clock time (epoch s)
    instead, e.g. when the operator started it by hand; needs ``clock``.
    """
    if not duration_s > 0:
        raise ValueError(f"isotope_exchange: duration_s = {duration_s!r} must be > 0 s")
    if end_time_s is not None and clock is None:
        raise ValueError("isotope_exchange: end_time_s needs the session clock (clock=)")
    target_k = imaging_temperature_k or getattr(stage.settings, "imaging_temperature_k", DEFAULT_IMAGING_TEMPERATURE_K)
    metadata = run_metadata(
        "isotope_exchange", {"sample_handler": sample_handler, "stage": stage, "duration_s": duration_s,
                             "then_to": then_to}, md,
        exchange={"solution": solution, "temperature_k": temperature_k, "duration_s": duration_s,
                  "end_time_s": end_time_s, "then_to": then_to},
    )

    def body() -> MsgGenerator[None]:
        yield from bps.checkpoint()  # a pause right after the run opens can be resumed
        yield from require_sample_off_cold_stage(sample_handler.location, stage.temperature, action="exchange")
        yield from transfer_sample(sample_handler, "exchange_bath", stage_temperature=stage.temperature,
                                   note=f"dip one edge into {solution} at {temperature_k - 273.15:.0f} C")
        if end_time_s is not None:
            first, last = hold_until(clock, end_time_s - precool_s), hold_until(clock, end_time_s)
        else:
            first, last = hold_for(max(0.0, duration_s - precool_s)), hold_for(min(precool_s, duration_s))
        yield from first
        if then_to == "cryo_stage":
            yield from quench_onto_stage(sample_handler, stage, target_k, during=last)
        else:
            yield from last
            yield from transfer_sample(sample_handler, then_to, note="out of the exchange bath")

    return (yield from safe_on_failure(run_wrapper(body(), md=metadata), [stage, sample_handler]))
