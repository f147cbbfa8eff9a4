"""Waiting for time to pass (exchange, anneal hold, storage) on the session clock.

The waits run on the RunEngine's event loop, so they cost no wall time on a virtual clock.
Each wait starts with a checkpoint and fixes its end the first time it runs: if a pause or a
suspension rewinds the plan, the replayed wait ends at the same moment instead of starting
over (a paused 16-day storage must not become 32 days).
"""

from __future__ import annotations

import asyncio
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

__all__ = ["hold_for", "hold_until"]


def hold_for(duration_s: float) -> MsgGenerator[None]:
    """Wait ``duration_s`` seconds (>= 0) of session-clock time, counted from the first time this runs."""
    if not duration_s >= 0:
        raise ValueError(f"hold_for: duration_s = {duration_s!r} must be >= 0 s")
    end: list[float] = []

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        if not end:
            end.append(loop.time() + duration_s)
        await asyncio.sleep(max(0.0, end[0] - loop.time()))

    yield from bps.checkpoint()
    yield from bps.wait_for([wait])


def hold_until(clock: Any, end_s: float) -> MsgGenerator[None]:
    """Wait until the session clock (``clock.now()``, epoch s) reaches ``end_s``; return at once if past."""

    async def wait() -> None:
        await asyncio.sleep(max(0.0, end_s - clock.now()))

    yield from bps.checkpoint()
    yield from bps.wait_for([wait])
