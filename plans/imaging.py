"""SIMS acquisitions: the stub that takes one, and plans for a single image, line scan or depth profile.

Each acquisition kind goes into its own stream (``image``, ``line_scan``, ``depth_profile``)
and its own detector file (the detector is staged per kind: frames of one file share a shape).
Before every acquisition the plan sets a checkpoint and, for cryo-SIMS, checks the stage
interlock; with an interlock the acquisition is also guarded by suspenders (stage excursion,
LN2 run-out). The single-acquisition plans rely on bluesky's protocols only, so a classic
ophyd detector works too (pass ``acquisition=None`` to keep its own configuration).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import MsgGenerator

from simslab.errors import InterlockError

from .acquisitions import (
    CLEANING_BEAM,
    CRYO_DEPTH_PROFILE,
    CRYO_IMAGE,
    CRYO_LINE_SCAN,
    Acquisition,
    configuration,
    expected_dose_ions_per_m2,
)
from .awaiting import call_async
from .interlocks import ImagingInterlock, read_value, require_cold_stage
from .metadata import run_metadata
from .runs import run_wrapper
from .safety import safe_on_failure
from .suspenders import imaging_suspenders

__all__ = ["acquire", "acquisition_block", "require_dose_budget", "clean_surface", "sims_image", "sims_line_scan",
           "sims_depth_profile"]

SUSPENSION_RESUME_S = 120.0
"""Default wait after a suspension's cause cleared before the acquisition is taken again (s)."""


def acquire(detector: Any, stream: str, *, interlock: ImagingInterlock | None = None,
            readables: Sequence[Any] = (), acquisition: Acquisition | None = None) -> MsgGenerator[None]:
    """Take one acquisition with the detector's present configuration into ``stream`` (inside a run).

    A checkpoint comes first (a suspension takes the acquisition again); with an interlock
    the stage must be at its imaging temperature, and with ``acquisition`` (its settings) a
    detector keeping a dose ledger must have room in its region's budget (else InterlockError).
    ``readables`` are read into the same event after the acquisition.
    """
    yield from bps.checkpoint()
    if interlock is not None:
        yield from require_cold_stage(interlock)
    if acquisition is not None:
        yield from require_dose_budget(detector, acquisition)
    yield from bps.trigger_and_read([detector, *readables], name=stream)


def require_dose_budget(detector: Any, acquisition: Acquisition) -> MsgGenerator[None]:
    """Refuse (InterlockError) an acquisition that would take its region past the detector's dose budget.

    Applies to a detector with a ``dose`` signal (the region's accumulated ions/m^2) and a
    ``settings.dose_budget_ions_per_m2``; others have no ledger and pass.
    """
    budget = getattr(getattr(detector, "settings", None), "dose_budget_ions_per_m2", None)
    if budget is None or not hasattr(detector, "dose"):
        return
    expected = expected_dose_ions_per_m2(acquisition)

    async def check() -> None:
        spent = await read_value(detector.dose)
        if spent + expected > budget:
            raise InterlockError(
                f"{acquisition.kind} refused: region {acquisition.region!r} has {spent:.3g} ions/m^2, this "
                f"{acquisition.kind} adds {expected:.3g}, above the dose budget {budget:.3g} ions/m^2"
            )

    yield from call_async(check)


def acquisition_block(detector: Any, acquisition: Acquisition | None, stream: str, *,
                      interlock: ImagingInterlock | None = None, resume_after_s: float = SUSPENSION_RESUME_S,
                      repeat: int = 1) -> MsgGenerator[None]:
    """Configure, stage, take ``repeat`` acquisitions into ``stream``, unstage (inside a run).

    With an interlock, stage excursions and LN2 run-outs suspend the acquisition and it is
    taken again ``resume_after_s`` s after recovery.
    """
    if acquisition is not None:
        yield from bps.configure(detector, **configuration(acquisition))

    def take() -> MsgGenerator[None]:
        for _ in range(repeat):
            yield from acquire(detector, stream, interlock=interlock, acquisition=acquisition)

    plan = bpp.stage_wrapper(take(), [detector])
    if interlock is not None:
        # refuse a warm stage before the suspenders are installed: they would wait for it forever
        yield from require_cold_stage(interlock)
        plan = bpp.suspend_wrapper(plan, imaging_suspenders(interlock, detector, resume_after_s))
    yield from plan


def clean_surface(detector: Any, time_s: float = 120.0, beam: Any = CLEANING_BEAM) -> MsgGenerator[None]:
    """Set the gas-cluster cleaning (default Ar1500+ 10 kV over 700 x 700 um) for ``time_s`` s.

    The ToF-SIMS cleans as the first phase of its next acquisition, as one instrument job;
    the cleaning stays configured until ``clean_surface(detector, 0)``.
    """
    if not time_s >= 0:
        raise ValueError(f"clean_surface: time_s = {time_s!r} must be >= 0 s")
    yield from bps.configure(detector, cleaning_species=beam.species, cleaning_energy=beam.energy_ev,
                             cleaning_current=beam.current_a, cleaning_raster_x=beam.raster_m[0],
                             cleaning_raster_y=beam.raster_m[1], cleaning_time=time_s)


def sims_image(detector: Any, *, acquisition: Acquisition | None = CRYO_IMAGE,
               interlock: ImagingInterlock | None = None, num: int = 1,
               md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Take ``num`` images into the ``image`` stream of one run.

    Defaults: the published cryo map (Bi+ 30 kV 0.5 pA, 500 x 200 um at 512 x 206 px, 5 h,
    6Li+ and 7Li+, 2 min Ar-cluster cleaning). interlock: the stage check and suspenders of
    cryo-SIMS (None: no stage involved, e.g. operando or a test detector).
    """
    return (yield from _single("sims_image", "image", detector, acquisition, interlock, num, md))


def sims_line_scan(detector: Any, *, acquisition: Acquisition | None = CRYO_LINE_SCAN,
                   interlock: ImagingInterlock | None = None, num: int = 1,
                   md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Take ``num`` line scans into the ``line_scan`` stream.

    Default: Bi+ 30 kV 0.5 pA along 500 um (1 um steps, 50 um wide), 30 min, after a Cs 2 kV
    sputter of ~500 nm; 6Li+ and 7Li+.
    """
    return (yield from _single("sims_line_scan", "line_scan", detector, acquisition, interlock, num, md))


def sims_depth_profile(detector: Any, *, acquisition: Acquisition | None = CRYO_DEPTH_PROFILE,
                       interlock: ImagingInterlock | None = None, num: int = 1,
                       md: dict[str, Any] | None = None) -> MsgGenerator[None]:
    """Take ``num`` depth profiles into the ``depth_profile`` stream.

    Default: Cs 2 kV sputter over 100 x 100 um, Bi+ analysis of 50 x 50 um, 50 cycles of
    10 s sputter (~500 nm); 6Li+ and 7Li+.
    """
    return (yield from _single("sims_depth_profile", "depth_profile", detector, acquisition, interlock, num, md))


def _single(plan_name: str, stream: str, detector: Any, acquisition: Acquisition | None,
            interlock: ImagingInterlock | None, num: int, md: dict[str, Any] | None) -> MsgGenerator[None]:
    if num < 1:
        raise ValueError(f"{plan_name}: num = {num!r} must be >= 1")
    metadata = run_metadata(plan_name, {"detector": detector, "num": num}, md,
                            detectors=[detector.name], num_points=num,
                            acquisition=acquisition, imaging_interlock=_describe(interlock))

    plan = run_wrapper(acquisition_block(detector, acquisition, stream, interlock=interlock, repeat=num), metadata)
    return (yield from safe_on_failure(plan, [detector]))


def _describe(interlock: ImagingInterlock | None) -> dict[str, Any] | None:
    if interlock is None:
        return None
    return {"temperature": interlock.temperature.name, "target_k": interlock.target_k,
            "tolerance_k": interlock.tolerance_k}
