"""Checkpoints of the simulated lab at the end of every finished campaign step.

A real sample keeps its history when the controlling process dies; a simulated one lives in
memory. So that ``simslab run --resume`` continues a simulated campaign from the world as the
last finished step left it, the session saves the twin when a campaign step's run stops
successfully, and on resume restores the checkpoint of the last step the catalog holds as
finished.

The checkpoint is written before the stop document is stored (the saver is subscribed ahead of
the catalog's writer), so a kill between the two leaves a checkpoint of a step the catalog
calls interrupted: that step runs again from the previous checkpoint and overwrites it. The
other order would leave a finished step without its world, and the resumed twin would
continue from an older one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simslab.simulators.lab_state import load_state

__all__ = ["TwinCheckpoints", "Checkpoint"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """A saved world: the file and the virtual time (epoch s) it was taken at."""

    path: Path
    step_index: int
    time_s: float


class TwinCheckpoints:
    """Twin states saved per campaign and step under ``directory/<campaign_id>/step-NNN.npz``."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def saver(self, lab: Any) -> Callable[[str, dict], None]:
        """Return a document callback saving ``lab`` when a campaign step ends in success."""
        steps: dict[str, tuple[str, int]] = {}

        def save_on_stop(name: str, doc: dict) -> None:
            if name == "start" and doc.get("campaign_id") and isinstance(doc.get("step"), dict):
                steps[doc["uid"]] = (doc["campaign_id"], int(doc["step"]["index"]))
            elif name == "stop" and doc["run_start"] in steps:
                campaign_id, index = steps.pop(doc["run_start"])
                if doc.get("exit_status") == "success":
                    folder = self.directory / campaign_id
                    folder.mkdir(parents=True, exist_ok=True)
                    lab.save(folder / f"step-{index:03d}.npz")

        return save_on_stop

    def latest(self, campaign_id: str, finished_steps: Collection[int]) -> Checkpoint | None:
        """Return the checkpoint of the highest of ``finished_steps`` (the catalog's), or None if none finished.

        A finished step without its checkpoint (recorded before checkpoints were written first)
        falls back to the newest earlier one, with a warning: the world then lags the record.
        """
        for index in sorted(finished_steps, reverse=True):
            path = self.directory / campaign_id / f"step-{index:03d}.npz"
            if path.is_file():
                if index != max(finished_steps):
                    logger.warning("no twin checkpoint of step %d of %s: the twin resumes from step %d",
                                   max(finished_steps), campaign_id, index)
                return Checkpoint(path, index, float(load_state(path)["time_s"]))
        return None
