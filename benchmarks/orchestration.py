"""Orchestration: events/s of a twin device under the session's RunEngine vs bare ophyd-async.

Measured: ``bp.count`` of the simulated lab's cryo stage (driver-backed signals reading the
twin) on the session's RunEngine (the virtual clock's event loop), as ``simslab`` runs it,
with no catalog and no live callbacks subscribed (storage is the ingest figure's business).
Reference: the same plan on a plain ``RunEngine()`` reading an ophyd-async device of soft
signals that mirrors the stage's data keys (same names, types, values and hints), so both
runs emit the same documents and the ratio is the cost of simslab's device layer, twin and
event loop over bare ophyd-async. Target: ratio >= 0.8.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import bluesky.plans as bp
from bluesky import RunEngine
from bluesky.run_engine import set_bluesky_event_loop
from ophyd_async.core import Device, StandardReadable, soft_signal_rw
from ophyd_async.core import StandardReadableFormat as Format

from simslab.session import Session

from .harness import BenchConfig, Figure, FigureSpec, Target
from .repository import SIM_PROFILE
from .timing import side_by_side

__all__ = ["SPECS", "measure", "events_per_s", "soft_mirror"]

logger = logging.getLogger(__name__)

SPEC = FigureSpec(
    "orchestration_stage_events_per_s", "events/s", Target("ratio", ">=", 0.8),
    "bp.count of the twin cryo stage under the session RunEngine (virtual clock) vs a soft-signal "
    "mirror of it under a bare RunEngine",
)
SPECS = (SPEC,)


def measure(config: BenchConfig) -> list[Figure]:
    """Time ``config.events`` events of each side ``config.repeats`` times, alternating; return the figure."""
    session = Session.from_profile(SIM_PROFILE, {"live": {"progress": False}}, with_catalog=False)
    try:
        stage = session.devices["stage"]
        bare = RunEngine({})
        set_bluesky_event_loop(session.clock.loop)  # RunEngine() made its loop the global one
        try:
            reading = session.call(stage.read())
            configuration = session.call(stage.read_configuration())
            mirror = soft_mirror(stage.name, reading, configuration, stage.hints.get("fields", []))
            asyncio.run_coroutine_threadsafe(mirror.connect(), bare.loop).result(30)
            value, reference = side_by_side(
                lambda: events_per_s(session.RE, stage, config.events),
                lambda: events_per_s(bare, mirror, config.events),
                config.repeats,
            )
        finally:
            bare.loop.call_soon_threadsafe(bare.loop.stop)
    finally:
        session.close()
    logger.info("orchestration: stage %.0f events/s, soft mirror %.0f events/s", value, reference)
    return [SPEC.measured(value, reference)]


def events_per_s(run_engine: RunEngine, device: Device, events: int) -> float:
    """Return the events per wall second of ``bp.count([device], events)`` on ``run_engine``."""
    started = time.perf_counter()
    run_engine(bp.count([device], num=events))
    return events / (time.perf_counter() - started)


def soft_mirror(name: str, reading: dict[str, Any], configuration: dict[str, Any],
                hinted: list[str]) -> StandardReadable:
    """Return a device of soft signals with the data keys, types and values of a device's readings.

    reading, configuration: what the device's ``read()`` and ``read_configuration()`` returned;
    hinted: the data keys the device hints. Keys are ``<name>-<attribute>``.
    """
    return _SoftMirror(name, reading, configuration, set(hinted))


class _SoftMirror(StandardReadable):
    def __init__(self, name: str, reading: dict[str, Any], configuration: dict[str, Any], hinted: set[str]):
        for formats, readings in (
            ((Format.HINTED_UNCACHED_SIGNAL, Format.UNCACHED_SIGNAL), reading),
            ((Format.CONFIG_SIGNAL, Format.CONFIG_SIGNAL), configuration),
        ):
            for key, value in readings.items():
                attribute = key.removeprefix(f"{name}-").replace("-", "_")
                fmt = formats[0] if key in hinted else formats[1]
                with self.add_children_as_readables(fmt):
                    setattr(self, attribute, soft_signal_rw(type(value["value"]), value["value"]))
        super().__init__(name=name)
