"""Cryo-SIMS of the tracer sample: load onto the cold stage, clean, map, line scan, warm, unload.

One run. The stage temperature and LN2 level are monitored over the whole run; the sample's
moves go into ``sample_location``; the map into ``image``, the line scan into ``line_scan``,
an optional depth profile into ``depth_profile``. Every acquisition is refused unless the
stage is within tolerance of its imaging temperature, and a stage excursion or LN2 run-out
suspends it until the stage is back (then it is taken again).
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from .acquisitions import CRYO_IMAGE, CRYO_LINE_SCAN, Acquisition
from .imaging import acquisition_block
from .interlocks import ImagingInterlock
from .metadata import run_metadata
from .quench import quench_onto_stage
from .runs import run_wrapper
from .safety import safe_on_failure
from .sample import record_location, transfer_sample
from .stage import ROOM_TEMPERATURE_K, cool_stage, warm_stage

__all__ = ["cryo_sims"]


def cryo_sims(stage: Any, sims: Any, sample_handler: Any, *, image: Acquisition | None = CRYO_IMAGE,
              line_scan: Acquisition | None = CRYO_LINE_SCAN, depth_profile: Acquisition | None = None,
              temperature_k: float | None = None, unload_to: str | None = "storage",
              unload_temperature_k: float = ROOM_TEMPERATURE_K, monitor: tuple[Any, ...] = (),
              md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Image the tracer sample at the stage's imaging temperature (one run).

    image, line_scan, depth_profile: the acquisitions to take (None skips one); defaults are
    the published map and a line scan ~500 nm deep. temperature_k: imaging temperature in K
    (default: the stage's profile setting, -110 C). The sample is quenched onto the cold stage
    if it is not on it yet. unload_to: where the sample goes afterwards, once the stage is
    warmed to ``unload_temperature_k`` K (None: stay on the cold stage). monitor: further
    signals to monitor over the run.
    """
    interlock = ImagingInterlock.for_stage(stage, temperature_k)
    acquisitions = [(name, acq) for name, acq in (("image", image), ("line_scan", line_scan),
                                                  ("depth_profile", depth_profile)) if acq is not None]
    resume_after_s = stage.settings.settle.dwell_s
    metadata = run_metadata(
        "cryo_sims", {"stage": stage, "sims": sims, "sample_handler": sample_handler, "unload_to": unload_to},
        md, detectors=[sims.name],
        imaging={"temperature_k": interlock.target_k, "tolerance_k": interlock.tolerance_k,
                 "unload_to": unload_to, "unload_temperature_k": unload_temperature_k,
                 "acquisitions": {name: acq for name, acq in acquisitions}},
    )

    def body() -> MsgGenerator[None]:
        yield from bps.checkpoint()  # a pause right after the run opens can be resumed
        location = yield from bps.rd(sample_handler.location)
        if location == "cryo_stage":
            yield from record_location(sample_handler)
            yield from cool_stage(stage, interlock.target_k)
        else:
            yield from quench_onto_stage(sample_handler, stage, interlock.target_k, monitor=False)
        for stream, acquisition in acquisitions:
            yield from acquisition_block(sims, acquisition, stream, interlock=interlock, resume_after_s=resume_after_s)
        if unload_to is not None:
            yield from warm_stage(stage, unload_temperature_k)
            yield from transfer_sample(sample_handler, unload_to, stage_temperature=stage.temperature)

    monitored = [stage.temperature, getattr(stage, "ln2_level", None), *monitor]
    plan = bpp.monitor_during_wrapper(run_wrapper(body(), md=metadata), [s for s in monitored if s is not None])
    return (yield from safe_on_failure(plan, [sims, stage, sample_handler]))
