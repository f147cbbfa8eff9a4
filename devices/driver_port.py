"""How a device calls its driver: one call at a time per port, off the event loop when it blocks.

A driver doing real I/O (``blocking = True``) would stall the RunEngine's event loop, so its
calls run on a single-worker executor of their own, through ``loop.run_in_executor``: calls to
one port are serialised in the order they were made, calls to different ports overlap. The
session's virtual clock (:class:`simslab.clock.VirtualTimeEventLoop`) counts in-flight executor
calls and holds virtual time while one runs, so a simulated peer answering from another thread
sees a consistent world and an I/O timeout is real time. A twin driver (``blocking = False``)
is in memory and is called inline.

Several signals reading one driver call (a potentiostat measurement, a furnace's status word)
share it through :class:`SharedRead`: readers arriving while a call is in flight wait for that
call instead of sending another; inside :meth:`SharedRead.sharing` (a device's ``read()``)
the value read serves every signal of that read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

__all__ = ["DriverPort", "SharedRead", "NoDriverError"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
V = TypeVar("V")


class NoDriverError(RuntimeError):
    """A device built without a driver was asked to talk to one (it only works in mock mode)."""


class DriverPort:
    """The one way a device reaches a driver.

    ``driver`` may be None for a device that will only ever be connected in mock mode; any
    call then raises :class:`NoDriverError`.
    """

    def __init__(self, driver: Any | None, label: str = "") -> None:
        self.driver = driver
        self.label = label or (getattr(driver, "name", "") if driver is not None else "no-driver")
        self.blocking = bool(getattr(driver, "blocking", False))
        self._executor: ThreadPoolExecutor | None = None
        self.is_open = False

    async def call(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(driver, *args)``: on this port's executor if the driver blocks, else inline."""
        if self.driver is None:
            raise NoDriverError(f"{self.label}: no driver was given; connect the device with mock=True")
        if not self.blocking:
            return func(self.driver, *args)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"simslab-{self.label}")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, self.driver, *args))

    async def open(self) -> None:
        """Open the driver's port (``driver.connect()``, which checks the instrument answers)."""
        await self.call(lambda driver: driver.connect())
        self.is_open = True
        logger.info("%s: connected", self.label)

    async def close(self) -> None:
        """Close the driver's port and release the executor; safe to call twice."""
        if self.driver is not None and self.is_open:
            try:
                await self.call(lambda driver: driver.close())
            finally:
                self.is_open = False
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def reader(self, func: Callable[[Any], T]) -> Callable[[], Awaitable[T]]:
        """Return an async callable reading ``func(driver)`` through this port."""

        async def read() -> T:
            return await self.call(func)

        return read

    def writer(self, func: Callable[[Any, T], None]) -> Callable[[T], Awaitable[None]]:
        """Return an async callable doing ``func(driver, value)`` through this port."""

        async def write(value: T) -> None:
            await self.call(func, value)

        return write


class SharedRead(Generic[T]):
    """One driver read shared by several signals.

    A reader arriving while the call is in flight waits for that same call; once it has
    answered, the next reader starts a new one (nothing is kept beyond the call), except
    inside :meth:`sharing`: there the first value read serves every reader until the block
    ends. A device wraps its ``read()`` in it, so that a readback and the signals derived
    from it (the stage temperature and "at imaging temperature") come from one driver call
    however the event loop orders their reads. An error is not kept: the next reader asks again.
    """

    def __init__(self, port: DriverPort, func: Callable[[Any], T]) -> None:
        self._port = port
        self._func = func
        self._pending: asyncio.Future[T] | None = None
        self._sharing = 0
        self._kept: tuple[T] | None = None  # the value read inside sharing(), as a 1-tuple

    async def get(self) -> T:
        """Return the driver's answer: the kept one, else the call in flight's, else a new call's."""
        if self._kept is not None:
            return self._kept[0]
        if self._pending is None:
            if self._sharing and not self._port.blocking:  # an in-memory driver answers at once
                value = await self._port.call(self._func)
                self._kept = (value,)
                return value
            pending = asyncio.ensure_future(self._port.call(self._func))
            self._pending = pending
            pending.add_done_callback(self._forget)
        # shield: a cancelled reader must not cancel the call the others wait for
        return await asyncio.shield(self._pending)

    @contextmanager
    def sharing(self) -> Iterator[None]:
        """Keep the first value read until the block ends (blocks may nest and overlap)."""
        self._sharing += 1
        try:
            yield
        finally:
            self._sharing -= 1
            if not self._sharing:
                self._kept = None

    def field(self, pick: Callable[[T], V]) -> Callable[[], Awaitable[V]]:
        """Return an async callable reading one field of the shared answer."""

        async def read() -> V:
            return pick(await self.get())

        return read

    def _forget(self, future: asyncio.Future[T]) -> None:
        if self._pending is future:
            self._pending = None
        if future.cancelled():
            return
        if future.exception() is None and self._sharing:  # exception() also marks an error retrieved
            self._kept = (future.result(),)
