"""Base of the folder-watching peers: a task on the session's event loop that polls and sleeps.

The hand-off peers (the IONTOF acquisition PC, the operator) must run on the same event loop
as the session, as asyncio tasks, not threads: the simulated lab's clock is virtual (the
loop's time jumps over idle waits), and a thread watching a folder in real time would see
virtual hours pass between two of its looks. A task that sleeps with ``asyncio.sleep`` on
that loop stays in step with virtual time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["PollingPeer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class PollingPeer:
    """Call :meth:`poll` every ``poll_s`` seconds of loop time until stopped.

    Subclasses implement ``async def poll()``; an exception in it is logged and polling goes on
    (a peer that dies silently would leave the driver waiting for its timeout).
    """

    name = "peer"

    def __init__(self, backend: Any, poll_s: float):
        if not poll_s > 0:
            raise ValueError(f"poll_s = {poll_s!r} is not allowed: a positive number of seconds")
        self.backend = backend
        self.poll_s = poll_s
        self.task: asyncio.Task | None = None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task:
        """Start polling as a task on ``loop`` (default: the running loop); return the task."""
        loop = loop or asyncio.get_running_loop()
        self.task = loop.create_task(self.run(), name=f"{self.name}-peer")
        return self.task

    async def run(self) -> None:
        """Poll, then sleep ``poll_s`` of loop time, until cancelled."""
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s peer: poll failed", self.name)
            await asyncio.sleep(self.poll_s)

    async def poll(self) -> None:
        """Look at the folder once and act on what is there."""
        raise NotImplementedError

    def stop(self) -> None:
        """Cancel the polling task (safe to call twice)."""
        if self.task is not None:
            self.task.cancel()

    async def call_backend(self, method: Callable[..., T], *args: Any) -> T:
        """Call a backend method: inline for an in-memory driver, in an executor for a blocking one."""
        if getattr(self.backend, "blocking", False):
            return await asyncio.get_running_loop().run_in_executor(None, method, *args)
        return method(*args)
