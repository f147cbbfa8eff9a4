"""The session clock: wall time in the lab, virtual time in the simulated lab.

Every wait in simslab (a plan's ``bps.sleep``, a device's settle poll, an I/O timeout timer)
is an ``asyncio`` timer on the session's event loop, the loop the RunEngine runs. In the lab
that loop is an ordinary one. In simulation it is a :class:`VirtualTimeEventLoop`: whenever
nothing is ready to run, it jumps its time to the next timer instead of sleeping (real work
handed to an executor is waited for and takes no virtual time), so six weeks of storage pass
in the time it takes to run the callbacks.
Concurrent waits keep their order, as in a discrete-event simulation.

Time is in seconds since the epoch in both modes; the virtual loop starts at a given epoch
time (by default the wall time at creation) so that timestamps look like dates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
import time
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Clock", "WallClock", "VirtualClock", "ManualClock", "VirtualTimeEventLoop"]


class Clock(Protocol):
    """What the session, devices and the twin need to know about time."""

    virtual: bool

    def now(self) -> float:
        """Return the time in seconds since the epoch (virtual in simulation)."""
        ...


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` is virtual and jumps over idle waits.

    When the loop would otherwise block for a timer, it jumps its time to that timer if
    ``may_jump()`` allows it; otherwise it waits for real and its time advances at the
    wall-clock pace: the session allows jumps only while the RunEngine runs a plan, so an idle
    or paused simulated lab runs in real time instead of spinning through its pollers.

    Real work handed to an executor (a driver's blocking I/O, the SIMS's HDF5 writes) runs on
    the executor's thread while the loop waits for it: in virtual time the work takes no time
    and nothing else happens meanwhile, so a protocol peer answering from another thread sees
    a consistent world, and the result lands at the same point of every run. (Were the loop to
    go on, the result would arrive from the other thread among whatever callbacks were running
    then: the order of events at one virtual instant, and so the runs, would not repeat.)
    """

    def __init__(self, start_time: float | None = None):
        super().__init__()
        self._virtual_now = time.time() if start_time is None else float(start_time)
        self._work_executor: concurrent.futures.ThreadPoolExecutor | None = None
        # asyncio runs timers due before time() + resolution; at epoch-sized times a float's
        # spacing is ~2e-7 s, so the default 1e-9 s would leave a timer due "now" never run.
        self._clock_resolution = 1e-6
        self.may_jump: Callable[[], bool] = lambda: True
        self._selector = _JumpingSelector(self._selector, self)

    def time(self) -> float:
        return self._virtual_now

    def run_in_executor(self, executor: Any, func: Callable[..., Any], *args: Any) -> asyncio.Future:
        """Run ``func(*args)`` on ``executor`` (None: one of the loop's own), wait for it, return a done future."""
        self._check_closed()
        if executor is None:
            if self._work_executor is None:
                self._work_executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="simslab-virtual")
            executor = self._work_executor
        work = executor.submit(func, *args)
        concurrent.futures.wait([work])
        future = self.create_future()
        if work.cancelled():
            future.cancel()
        elif work.exception() is not None:
            future.set_exception(work.exception())
        else:
            future.set_result(work.result())
        return future

    def close(self) -> None:
        super().close()
        if self._work_executor is not None:
            self._work_executor.shutdown(wait=False)
            self._work_executor = None

    def _wait(self, selector: selectors.BaseSelector, timeout: float) -> list:
        """Wait up to ``timeout`` s of loop time for I/O: jump if allowed, else wait for real."""
        events = selector.select(0)
        if events:
            return events
        if self.may_jump():
            self._virtual_now += timeout
            return []
        started = time.monotonic()
        events = selector.select(timeout)
        self._virtual_now += time.monotonic() - started
        return events


class _JumpingSelector:
    """Wraps the loop's selector: an idle wait for a timer becomes a jump in virtual time."""

    def __init__(self, selector: selectors.BaseSelector, loop: VirtualTimeEventLoop):
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None):
        if timeout is None or timeout <= 0:
            return self._selector.select(timeout)
        return self._loop._wait(self._selector, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class WallClock:
    """Real time, on an ordinary event loop."""

    virtual = False

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()

    def now(self) -> float:
        return time.time()


class VirtualClock:
    """Virtual time on a :class:`VirtualTimeEventLoop`, starting at ``start_time`` (epoch s)."""

    virtual = True

    def __init__(self, start_time: float | None = None) -> None:
        self.loop = VirtualTimeEventLoop(start_time)

    def now(self) -> float:
        return self.loop.time()


class ManualClock:
    """A clock moved by hand, for the twin's own tests and for offline use of the models."""

    virtual = True

    def __init__(self, start_time: float = 0.0) -> None:
        self._now = float(start_time)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"clock cannot run backwards (advance by {seconds} s)")
        self._now += seconds
