"""Run a coroutine from a plan and get its result or its error back in the plan.

bluesky's ``wait_for`` message awaits coroutines but neither returns their results directly
nor raises their errors. :func:`call_async` does both, so an interlock refusal raised in a
coroutine ends the run with that error (and its message as the stop reason). Being a
message, the call is made again when a paused or suspended plan is rewound; there its
result is discarded, as for every replayed message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

__all__ = ["call_async"]

T = TypeVar("T")


def call_async(factory: Callable[[], Awaitable[T]]) -> MsgGenerator[T]:
    """Await ``factory()`` on the RunEngine's loop; return its result or raise its error in the plan."""

    async def captured() -> tuple[Any, BaseException | None]:
        try:
            return await factory(), None
        except Exception as err:  # handed to the plan below
            return None, err

    futures = yield from bps.wait_for([captured])
    result, error = futures[0].result()
    if error is not None:
        raise error
    return result
