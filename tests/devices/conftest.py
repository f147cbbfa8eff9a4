"""Fixtures for the device tests: a virtual clock, a RunEngine on it, settings and the twin.

Device settings come from the shipped sim profile (with overrides), so the profile's values
are exercised; the twin is built from the same profile's ``twin:`` section.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from bluesky import RunEngine
from bluesky.run_engine import call_in_bluesky_event_loop

from simslab.clock import VirtualClock
from simslab.profile import Profile, load_profile
from tests.conftest import SIM_PROFILE

START_S = 1.7e9
"""Virtual start time, epoch-like as in a session (timestamps look like dates)."""

SMALL_TWIN = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}
"""A small imaging window keeps the twin's diffusion and image models fast in these tests."""


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start_time=START_S)


class _Jumps:
    """Virtual time jumps only while a test waits on the loop, as the session allows them only
    while a plan runs: between calls, background pollers (monitors, the furnace watchdog) run
    at the wall pace instead of racing through virtual time."""

    def __init__(self) -> None:
        self.waiting = 0
        self.engine: RunEngine | None = None

    def allowed(self) -> bool:
        return self.waiting > 0 or (self.engine is not None and self.engine.state == "running")


@pytest.fixture
def jumps(clock: VirtualClock) -> _Jumps:
    jumps = _Jumps()
    clock.loop.may_jump = jumps.allowed
    return jumps


@pytest.fixture
def RE(clock: VirtualClock, jumps: _Jumps):  # noqa: N802 - the name every bluesky user knows
    engine = RunEngine(loop=clock.loop, call_returns_result=True, context_managers=[])
    jumps.engine = engine
    yield engine
    clock.loop.call_soon_threadsafe(clock.loop.stop)


@pytest.fixture
def run(RE: RunEngine, jumps: _Jumps) -> Callable[..., Any]:  # noqa: N803
    """Run a coroutine, or a function returning an awaitable (a status), on the RunEngine's loop.

    Statuses must be created on the loop, hence the function form: ``run(lambda: stage.set(300))``.
    """

    def call(work: Coroutine | Callable[[], Awaitable], timeout_s: float = 30.0) -> Any:
        if callable(work):
            factory = work

            async def await_it() -> Any:
                return await factory()

            work = await_it()
        jumps.waiting += 1
        try:
            return call_in_bluesky_event_loop(work, timeout_s)
        finally:
            jumps.waiting -= 1

    return call


@pytest.fixture
def sim_profile() -> Callable[..., Profile]:
    """Return a factory: profiles/sim.yaml with ``overrides`` merged in (nested dicts)."""

    def make(overrides: dict | None = None) -> Profile:
        return load_profile(SIM_PROFILE, overrides)

    return make


@pytest.fixture
def twin(clock: VirtualClock, sim_profile) -> Callable[..., dict[str, Any]]:
    """Return a factory of the twin's drivers on the test clock, with optional ``twin:`` overrides."""
    lab_module = pytest.importorskip("simslab.simulators.lab")
    drivers_module = pytest.importorskip("simslab.simulators.twin_drivers")

    def make(**twin_overrides: Any) -> dict[str, Any]:
        profile = sim_profile({"twin": {**SMALL_TWIN, **twin_overrides}})
        lab = lab_module.SimulatedLab(profile.twin, clock)
        drivers = drivers_module.make_twin_drivers(lab)
        drivers["lab"] = lab
        return drivers

    return make

