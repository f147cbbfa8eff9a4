"""Stage excursions and LN2 run-outs suspend a cryo-SIMS acquisition, which is taken again after recovery."""

from __future__ import annotations

import asyncio

import bluesky.plan_stubs as bps
import pytest
from bluesky.suspenders import SuspendFloor
from ophyd_async.core import soft_signal_rw

from simslab import plans
from simslab.plans import ImagingInterlock, SuspendableSignal

from .sessions import SMALL_IMAGE, acquisition_seconds

SETUP_S = 2360.0
"""Virtual seconds the transfer onto the stage and the cooling to -110 C take in the twin (measured)."""


def test_suspendable_signal_gives_suspenders_values_and_lets_go():
    async def scenario():
        signal = soft_signal_rw(float, 1.0, name="stage-temperature")
        await signal.connect()
        adapter = SuspendableSignal(signal)
        seen = []

        def callback(value, **kwargs):
            seen.append(value)

        adapter.subscribe(callback, event_type=adapter.SUB_VALUE, run=True)
        await signal.set(2.0)
        await asyncio.sleep(0)
        adapter.clear_sub(callback)
        await signal.set(3.0)
        await asyncio.sleep(0)
        return seen, adapter.get(), adapter.name

    seen, last, name = asyncio.run(scenario())
    assert seen == [1.0, 2.0]  # the current value at once, then changes, none after clear_sub
    assert last == 2.0 and name == "stage-temperature"


def test_suspender_accepts_the_adapter():
    """bluesky's own suspender classes take the adapter where they expect an ophyd Signal."""
    suspender = SuspendFloor(SuspendableSignal(soft_signal_rw(float, 0.0, name="level")), 0.1)
    assert "SuspendFloor" in repr(suspender)


def test_ln2_runout_suspends_the_image_and_retakes_it_after_the_refill(make_session):
    from .sessions import DocumentLog

    runout_at_s = SETUP_S + 1200.0  # 20 min into a 2 h image
    session = make_session({"twin": {"faults": [{"kind": "ln2_runout", "device": "stage", "at_s": runout_at_s}]}})
    docs = DocumentLog()
    session.RE.subscribe(docs)
    d, start_s = session.devices, session.lab.start_s
    image = SMALL_IMAGE.model_copy(update={"integration_s": 7200.0})
    session.RE(bps.mv(d["sample_handler"], "cryo_stage"))
    session.RE(bps.mv(d["stage"], 163.15))
    interlock = ImagingInterlock.for_stage(d["stage"])

    def monitored_image():
        yield from bpp_monitor([d["stage"].temperature, d["stage"].ln2_level],
                               plans.sims_image(d["sims"], acquisition=image, interlock=interlock))

    session.RE(monitored_image())

    assert docs.stop_of()["exit_status"] == "success"
    images = docs.column("image", "sims-elapsed")
    assert len(images) == 1  # the interrupted acquisition left no event; the retaken one did
    image_end_s, _ = images[0]
    image_start_s = image_end_s - acquisition_seconds(image)
    levels = docs.column("stage-ln2_level_monitor", "stage-ln2_level")
    assert min(level for _, level in levels) == pytest.approx(0.0, abs=0.01)  # the run-out is on record
    temperatures = docs.column("stage-temperature_monitor", "stage-temperature")
    band = interlock.tolerance_k
    excursion = [t for t, value in temperatures if abs(value - interlock.target_k) > band and t > start_s + runout_at_s]
    assert excursion, "the stage warmed while the dewar refilled"
    # the image that counts started after the stage was back in band, and the stage stayed in band over it
    assert image_start_s > max(excursion)
    during = [value for t, value in temperatures if image_start_s <= t <= image_end_s]
    assert during and all(abs(value - interlock.target_k) <= band for value in during)
    refill_s = session.profile.twin.stage.refill_s
    assert image_start_s >= start_s + runout_at_s + refill_s


def bpp_monitor(signals, plan):
    import bluesky.preprocessors as bpp

    return (yield from bpp.monitor_during_wrapper(plan, signals))
