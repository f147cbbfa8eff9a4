"""Leave the instruments safe when a plan fails or is aborted: furnace off, cell off, beam off.

:func:`safe_on_failure` wraps a plan so that any exception thrown into it (a failed status,
an interlock refusal, ``RE.abort()``) first puts the given devices in their safe state, then
lets the error end the run (its stop document carries the reason). :func:`put_in_safe_state`
is the same action as a coroutine, for the campaign runner. Devices without ``safe_state()``
(classic ophyd) are stopped instead.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import FailedStatus, MsgGenerator

__all__ = ["safe_on_failure", "put_in_safe_state", "make_safe", "root_cause"]

logger = logging.getLogger(__name__)


def safe_on_failure(plan: MsgGenerator[Any], devices: Iterable[Any]) -> MsgGenerator[Any]:
    """Run ``plan``; on any exception put ``devices`` in their safe state, then raise it.

    A device's failed status reaches a plan as bluesky's FailedStatus; the device's own error
    (an InterlockError, a SensorFault ...) is raised instead, so the stop document's reason
    is its one-line message.
    """
    devices = list(devices)

    def except_plan(error: BaseException) -> MsgGenerator[None]:
        cause = root_cause(error)
        logger.error("plan failed (%s): putting %s in the safe state", cause, ", ".join(d.name for d in devices))
        yield from make_safe(devices)
        raise cause

    return (yield from bpp.contingency_wrapper(plan, except_plan=except_plan, auto_raise=False))


def root_cause(error: BaseException) -> BaseException:
    """Return the device error inside bluesky's FailedStatus wrappers (or ``error`` itself)."""
    while isinstance(error, FailedStatus) and isinstance(error.__cause__, Exception):
        error = error.__cause__
    return error


def make_safe(devices: Iterable[Any]) -> MsgGenerator[list[str]]:
    """Put ``devices`` in their safe state (a plan stub); return the problems met (empty if none)."""
    devices = list(devices)
    problems: list[str] = []

    async def all_safe() -> None:
        problems.extend(await put_in_safe_state(devices))

    yield from bps.wait_for([all_safe])
    return problems


async def put_in_safe_state(devices: Iterable[Any]) -> list[str]:
    """Call ``safe_state()`` on every device, one after the other; never raise.

    A device whose connection was lost is reconnected once and asked again. Returns one line
    per device that could not be made safe.
    """
    problems = []
    for device in devices:
        try:
            await _safe(device)
        except Exception as first:  # try to reopen the port once: a lost connection is the usual cause
            try:
                await device.connect(force_reconnect=True)
                await _safe(device)
                logger.warning("%s: safe after reconnecting (%s)", device.name, first)
            except Exception as second:
                logger.exception("%s: could not be put in the safe state", device.name)
                problems.append(f"{device.name}: {second}")
    return problems


async def _safe(device: Any) -> None:
    """Stop the device's action quietly (its status succeeds, so the RunEngine does not see a new
    failure masking the one that brought us here), then call its safe state."""
    stop, safe_state = getattr(device, "stop", None), getattr(device, "safe_state", None)
    if stop is not None:
        await _maybe_await(stop(success=True))
    if safe_state is not None:
        await _maybe_await(safe_state())


async def _maybe_await(result: Any) -> None:
    if inspect.isawaitable(result):
        await result
