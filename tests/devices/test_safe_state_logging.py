"""Safe states log at INFO: plans also call them at the normal end of an anneal or a cycle.

A plan that fails logs its own warning or error when it makes the instruments safe
(plans/safety.py); the devices' own line is news, not a warning.
"""

from __future__ import annotations

from simslab.devices import AnnealingFurnace
from simslab.devices.settings import FurnaceSettings
from tests.devices.fakes import FakeFurnace


def test_a_safe_state_at_the_normal_end_of_a_plan_is_no_warning(clock, run, caplog):
    """Plans end every anneal with the furnace's safe state: that is news (INFO), not a warning."""
    driver = FakeFurnace(clock)
    furnace = AnnealingFurnace(driver, FurnaceSettings(), clock, name="furnace")
    run(furnace.connect())
    with caplog.at_level("INFO", logger="simslab.devices"):
        run(furnace.safe_state())
    assert not driver.automatic  # the output is off
    assert any("safe state" in r.message and r.levelname == "INFO" for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= 30 and r.name.startswith("simslab.devices")]
