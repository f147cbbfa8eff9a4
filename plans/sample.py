"""Sample transfers, recorded so the sample's whereabouts over time can be rebuilt from the run.

Every transfer reads the sample handler into the ``sample_location`` stream twice: just before
the transfer is requested (the sample is still at its origin) and once it is confirmed (it
is at the destination). Each event therefore says "the sample was at <location> at <time>";
between two events with different locations the sample was in transfer, at room temperature.
In the lab a transfer is a person's move confirmed with ``simslab confirm``; the wait for the
confirmation is the device's.
"""

from __future__ import annotations

import uuid
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from .interlocks import require_sample_off_cold_stage

__all__ = ["transfer_sample", "record_location", "SAMPLE_LOCATION_STREAM"]

SAMPLE_LOCATION_STREAM = "sample_location"


def record_location(sample_handler: Any) -> MsgGenerator[None]:
    """Read where the sample is into the ``sample_location`` stream (inside a run)."""
    yield from bps.trigger_and_read([sample_handler], name=SAMPLE_LOCATION_STREAM)


def transfer_sample(sample_handler: Any, destination: str, *, stage_temperature: Any = None,
                    note: str = "") -> MsgGenerator[None]:
    """Move the sample to ``destination`` and wait until the move is confirmed (inside a run).

    A sample already there is not moved (its location is recorded once).

    stage_temperature: the stage's temperature signal; given, a move off a stage colder than
    10 C is refused (InterlockError). note: shown to the operator with the request.
    """
    if (yield from bps.rd(sample_handler.location)) == destination:
        yield from record_location(sample_handler)
        return
    if stage_temperature is not None and destination != "cryo_stage":
        yield from require_sample_off_cold_stage(sample_handler.location, stage_temperature,
                                                 action=f"transfer to {destination}")
    yield from record_location(sample_handler)
    group = f"transfer-{uuid.uuid4().hex[:8]}"
    yield from bps.abs_set(sample_handler, destination, note=note, group=group)
    yield from bps.wait(group=group)
    yield from record_location(sample_handler)
