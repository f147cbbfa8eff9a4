"""The quench: the sample goes straight onto a stage that is already cold.

At 22 C the tracer keeps diffusing (sqrt(2 D t) ~ 20 um in 10 min at D_eff ~ 3e-9 cm^2/s), so
a step that ends with imaging cools the stage while its own last part runs (the end of the
exchange or storage, the furnace cooling down) and moves the sample onto the stage once both
are done. The stage temperature is monitored over this part of the run.
"""

from __future__ import annotations

import uuid
from typing import Any

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from .monitoring import monitor_during
from .sample import transfer_sample
from .stage import start_cooling

__all__ = ["quench_onto_stage"]


def quench_onto_stage(sample_handler: Any, stage: Any, temperature_k: float, *,
                      during: MsgGenerator[Any] | None = None, monitor: bool = True) -> MsgGenerator[None]:
    """Cool the stage to ``temperature_k`` (K) while ``during`` runs, then move the sample onto it.

    Waits for the stage to settle before the transfer. monitor: record the stage temperature
    (and LN2 level) from the start of the cooling to the sample's arrival (False when the run
    already monitors them).
    """
    group = f"quench-{uuid.uuid4().hex[:8]}"

    def body() -> MsgGenerator[None]:
        yield from start_cooling(stage, temperature_k, group)
        if during is not None:
            yield from during
        yield from bps.wait(group=group)
        yield from transfer_sample(sample_handler, "cryo_stage", note="onto the cold stage (quench)")

    if not monitor:
        return (yield from body())
    return (yield from monitor_during(body(), [stage.temperature, getattr(stage, "ln2_level", None)]))
