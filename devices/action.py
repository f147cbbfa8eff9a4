"""The one action a device runs at a time (a move, a cell step, an acquisition, a transfer).

:class:`DeviceAction` runs it as a task so that ``stop()`` can halt it, starts a new one only
after cancelling the previous one, and on failure puts the device in its safe state before the
error reaches the plan: a timeout or garbled reply leaves the instrument safe, not half-set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["DeviceAction", "StoppedError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class StoppedError(RuntimeError):
    """The action was halted by ``stop(success=False)``."""


class DeviceAction:
    """Runs a device's actions one at a time; ``stop()`` halts the current one.

    safe_state: what the device does when an action fails (called with no arguments, its own
    failure logged, the original error raised).
    """

    def __init__(self, device_name: Callable[[], str], safe_state: Callable[[], Awaitable[None]]) -> None:
        self._device_name = device_name
        self._safe_state = safe_state
        self._task: asyncio.Task | None = None
        self._stop_success: bool | None = None

    @property
    def running(self) -> bool:
        """True while an action is in progress."""
        return self._task is not None and not self._task.done()

    async def run(self, action: Coroutine[Any, Any, T]) -> T | None:
        """Run ``action``; return its result, or None if it was stopped with success=True."""
        await self.cancel()
        self._stop_success = None
        task = asyncio.ensure_future(action)
        self._task = task
        try:
            return await task
        except asyncio.CancelledError:
            if self._stop_success is None or not task.cancelled():
                raise
            if not self._stop_success:
                raise StoppedError(f"{self._device_name()}: stopped") from None
            return None
        except Exception as err:
            logger.error("%s: %s; going to the safe state", self._device_name(), err)
            try:
                await self._safe_state()
            except Exception as safe_err:
                logger.exception("%s: safe state failed too", self._device_name())
                err.add_note(f"{self._device_name()}: the safe state failed too: {safe_err}")
            raise

    def stop(self, success: bool) -> bool:
        """Halt the action in progress; return True if there was one."""
        if not self.running:
            return False
        self._stop_success = success
        assert self._task is not None
        self._task.cancel()
        return True

    async def cancel(self) -> None:
        """Cancel the action in progress (if any) and wait until it has unwound."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
