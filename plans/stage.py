"""Cool and warm the LN2 stage (plan stubs: they open no run).

A movable stage's ``set(T)`` completes once the temperature has settled (the device's settle
criteria), so these stubs wait for the settled stage, in session-clock time.
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from .interlocks import TRANSFER_MIN_TEMPERATURE_K

__all__ = ["cool_stage", "warm_stage", "start_cooling", "DEFAULT_IMAGING_TEMPERATURE_K", "ROOM_TEMPERATURE_K"]

DEFAULT_IMAGING_TEMPERATURE_K = 163.15
"""-110 C, where D_eff ~ 1e-14 cm^2/s: the isotope map is frozen over a 5 h image (physics.md)."""
ROOM_TEMPERATURE_K = 295.15
"""22 C: the exchange, storage and transfers happen at room temperature."""


def cool_stage(stage: Any, temperature_k: float = DEFAULT_IMAGING_TEMPERATURE_K) -> MsgGenerator[None]:
    """Cool the stage to ``temperature_k`` (K) and wait until it has settled there."""
    _check_positive(temperature_k)
    yield from bps.mv(stage, temperature_k)


def warm_stage(stage: Any, temperature_k: float = ROOM_TEMPERATURE_K) -> MsgGenerator[None]:
    """Warm the stage to ``temperature_k`` (K, at least 10 C so the sample may leave it) and wait until settled."""
    if not temperature_k >= TRANSFER_MIN_TEMPERATURE_K:
        raise ValueError(f"warm_stage: temperature_k = {temperature_k!r} must be >= {TRANSFER_MIN_TEMPERATURE_K} K "
                         "(a colder sample would collect condensed water when it leaves the stage)")
    yield from bps.mv(stage, temperature_k)


def start_cooling(stage: Any, temperature_k: float, group: str) -> MsgGenerator[None]:
    """Start cooling the stage to ``temperature_k`` (K) without waiting; ``bps.wait(group)`` waits for it settled."""
    _check_positive(temperature_k)
    yield from bps.abs_set(stage, temperature_k, group=group)


def _check_positive(temperature_k: float) -> None:
    if not temperature_k > 0:
        raise ValueError(f"temperature_k = {temperature_k!r} must be > 0 K")
