"""The twin checkpoint a resume restores is that of the last step the catalog holds as finished."""

from __future__ import annotations

import logging

from simslab.simulators.lab_state import save_state
from simslab.twin_checkpoints import TwinCheckpoints


def _checkpoints(tmp_path, steps: list[int]) -> TwinCheckpoints:
    checkpoints = TwinCheckpoints(tmp_path)
    (tmp_path / "c1").mkdir()
    for index in steps:
        save_state({"time_s": 1.7e9 + 1000.0 * index}, tmp_path / "c1" / f"step-{index:03d}.npz")
    return checkpoints


def test_a_checkpoint_of_a_step_the_catalog_calls_unfinished_is_not_restored(tmp_path):
    # step 2's checkpoint was written, then the kill came before its stop was stored
    checkpoints = _checkpoints(tmp_path, [0, 1, 2])
    chosen = checkpoints.latest("c1", {0, 1})
    assert chosen is not None and chosen.step_index == 1 and chosen.time_s == 1.7e9 + 1000.0
    assert checkpoints.latest("c1", set()) is None  # nothing finished: a fresh twin
    assert checkpoints.latest("other", {0, 1}) is None


def test_a_finished_step_without_its_checkpoint_falls_back_with_a_warning(tmp_path, caplog):
    checkpoints = _checkpoints(tmp_path, [0])
    with caplog.at_level(logging.WARNING, logger="simslab.twin_checkpoints"):
        chosen = checkpoints.latest("c1", {0, 1})
    assert chosen is not None and chosen.step_index == 0
    assert "no twin checkpoint of step 1" in caplog.text
