"""Monitored streams for a part of a run.

``bpp.monitor_during_wrapper`` monitors from the run's start to its end. A storage step waits
for weeks with the sample away from the stage and furnace, and a polled monitor over weeks
costs minutes of wall time for nothing, so steps monitor the stage or furnace only over the
part of the run in which the sample is there: :func:`monitor_during`. The stream of a signal
is named as ``monitor_during_wrapper`` names it, ``<signal name>_monitor``; a signal can be
monitored over one part of a run only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

__all__ = ["monitor_during", "monitor_stream_name"]


def monitor_stream_name(signal: Any) -> str:
    """Return the name of the monitored stream of ``signal``: ``<signal name>_monitor``."""
    return f"{signal.name}_monitor"


def monitor_during(plan: MsgGenerator[Any], signals: Iterable[Any]) -> MsgGenerator[Any]:
    """Monitor ``signals`` (each into its own stream) while ``plan`` runs; stop at its end or failure."""
    signals = [s for s in signals if s is not None]

    def start() -> MsgGenerator[None]:
        for signal in signals:
            yield from bps.monitor(signal, name=monitor_stream_name(signal))

    def stop() -> MsgGenerator[None]:
        for signal in signals:
            yield from bps.unmonitor(signal)

    yield from start()
    return (yield from bpp.finalize_wrapper(plan, stop()))
