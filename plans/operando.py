"""Operando ToF-SIMS: cycle the cell and image both electrode windows while the current flows.

One run. The potentiostat's voltage, current and charge are monitored over the whole run
(streams ``potentiostat-voltage_monitor``, ``-current_monitor``, ``-charge_monitor``). Each cell
step starts without waiting; while it runs, the plan checks the schedule every ``poll_s`` (or
at once when the step ends) and takes an image set (each region once) when one is due, the
current still flowing. Each image
is one event of the ``image`` stream: the frames, ``sims-acquired_region``, ``sims-dose``, the
potentiostat at the image's end, and the ``operando-*`` log with the charge window it
integrated over (charge at its start and end). An image that would take its region past the
dose budget is not taken: the refusal is an event of the ``dose_refusals`` stream instead.
A voltage outside the safety window switches the cell off and fails the run.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator
from ophyd_async.plan_stubs import ensure_connected

from .acquisitions import OPERANDO_IMAGE, Acquisition, configuration, expected_dose_ions_per_m2
from .awaiting import call_async
from .cell import CellOff, start_cell_step
from .metadata import run_metadata
from .operando_log import OperandoLog
from .operando_schedule import CellPhase, CyclingProtocol, ImageSchedule, ScheduleTracker
from .runs import run_wrapper
from .safety import safe_on_failure

__all__ = ["operando_cycling", "IMAGE_STREAM", "REFUSAL_STREAM", "DEFAULT_DOSE_BUDGET_IONS_PER_M2"]

IMAGE_STREAM = "image"
REFUSAL_STREAM = "dose_refusals"
DEFAULT_DOSE_BUDGET_IONS_PER_M2 = 1.2e18
"""1.2e14 ions/cm^2 per region, the published dose of an operando image series."""


def operando_cycling(potentiostat: Any, sims: Any, clock: Any, *, cycling: CyclingProtocol = CyclingProtocol(),
                     regions: Sequence[str] = ("anode", "cathode"), acquisition: Acquisition = OPERANDO_IMAGE,
                     schedule: ImageSchedule = ImageSchedule(every_s=3600.0),
                     dose_budget_ions_per_m2: float = DEFAULT_DOSE_BUDGET_IONS_PER_M2, poll_s: float | None = None,
                     md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Cycle the cell per ``cycling`` and image ``regions`` per ``schedule`` (one run).

    acquisition: the image settings of one window (its region is replaced by each of
    ``regions``). dose_budget_ions_per_m2: the most primary-ion dose a region may receive.
    poll_s: how often the schedule is checked while a step runs (default: the potentiostat's
    stream period, else 30 s). clock: the session clock (the log's timestamps).
    """
    if not regions or len(set(regions)) != len(regions):
        raise ValueError(f"operando_cycling: regions {list(regions)} must be distinct and at least one")
    if not dose_budget_ions_per_m2 > 0:
        raise ValueError(f"operando_cycling: dose_budget_ions_per_m2 = {dose_budget_ions_per_m2!r} must be > 0")
    poll_s = poll_s or getattr(getattr(potentiostat, "settings", None), "stream_period_s", 30.0)
    log = OperandoLog(potentiostat, clock)
    tracker = ScheduleTracker(schedule, cycling.capacity_c)
    expected = expected_dose_ions_per_m2(acquisition)
    metadata = run_metadata(
        "operando_cycling", {"potentiostat": potentiostat, "sims": sims, "regions": list(regions)}, md,
        detectors=[sims.name], cycling=cycling, schedule=schedule, regions=list(regions),
        acquisition=acquisition, dose_budget_ions_per_m2=dose_budget_ions_per_m2,
        expected_dose_per_image_ions_per_m2=expected,
    )

    def image_set(trigger: str, phase: CellPhase) -> MsgGenerator[None]:
        time_s, charge_c = yield from _time_and_charge(potentiostat)
        tracker.taken(time_s, charge_c)
        for region in regions:
            # set, not configure: reconfiguring re-emits every stream's descriptor (and bluesky 1.15
            # fails to when another stream was created since); each event names its region
            yield from bps.mv(sims.region, region)
            spent = yield from bps.rd(sims.dose)
            log.note(charge_end=math.nan, time_end=math.nan, voltage_end=math.nan, cycle=phase.cycle,
                     cell_step=phase.kind, reason=trigger, region=region, expected_dose=expected,
                     dose_before=spent, dose_budget=dose_budget_ions_per_m2)
            if spent + expected > dose_budget_ions_per_m2:
                yield from call_async(log.mark_start)
                yield from bps.trigger_and_read([log], name=REFUSAL_STREAM)
                continue
            yield from _image(sims, potentiostat, log)

    def cell_phase(phase: CellPhase) -> MsgGenerator[None]:
        group = f"cell-{uuid.uuid4().hex[:8]}"
        if phase.kind == "charge":
            tracker.start_cycle((yield from _time_and_charge(potentiostat))[1])
        yield from bps.checkpoint()
        status = yield from start_cell_step(potentiostat, phase.step, group)
        while not status.done:
            time_s, charge_c = yield from _time_and_charge(potentiostat)
            trigger = tracker.due(phase.kind, time_s, charge_c)
            if trigger is not None:
                yield from image_set(trigger, phase)
            else:  # wait for the next check, or less if the step ends first
                yield from bps.wait(group=group, timeout=poll_s, error_on_timeout=False)
        yield from bps.wait(group=group)
        if schedule.at_step_end:
            yield from image_set("step_end", phase)

    def body() -> MsgGenerator[None]:
        yield from bps.checkpoint()  # a pause right after the run opens can be resumed
        yield from ensure_connected(log)
        yield from bps.configure(sims, **configuration(acquisition))
        phases = cycling.phases()
        if schedule.at_start and phases:
            yield from image_set("start", CellPhase("start", 0, phases[0].step))
        for phase in phases:
            yield from cell_phase(phase)
        yield from bps.mv(potentiostat, CellOff())

    monitored = [potentiostat.voltage, potentiostat.current, potentiostat.charge]
    plan = bpp.stage_wrapper(run_wrapper(body(), md=metadata), [sims])
    plan = bpp.monitor_during_wrapper(plan, monitored)
    return (yield from safe_on_failure(plan, [potentiostat, sims]))


def _image(sims: Any, potentiostat: Any, log: OperandoLog) -> MsgGenerator[None]:
    """Take one image (the cell step goes on meanwhile); its event carries the charge window."""
    group = f"image-{uuid.uuid4().hex[:8]}"
    yield from bps.checkpoint()
    yield from call_async(log.mark_start)
    yield from bps.trigger(sims, group=group)
    yield from bps.wait(group=group)
    yield from call_async(log.mark_end)
    yield from bps.create(IMAGE_STREAM)
    for readable in (sims, potentiostat, log):
        yield from bps.read(readable)
    yield from bps.save()


def _time_and_charge(potentiostat: Any) -> MsgGenerator[tuple[float, float]]:
    """Return (time on the session clock in s, charge in C) read from the potentiostat now."""

    async def fresh() -> dict:
        return await potentiostat.charge.read(cached=False)  # the monitor's cache may be minutes old

    reading = next(iter((yield from call_async(fresh)).values()))
    return reading["timestamp"], reading["value"]

