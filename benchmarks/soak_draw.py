"""What the soak does to one campaign, drawn from its seed: the twin's faults and the hard kills.

Faults (``twin.faults`` of the campaign's profile, :class:`~simslab.simulators.parameters.FaultSpec`):
0-2 per campaign, of any kind; a driver fault hits one instrument's driver, a physical fault
its own device. Seven in ten are timed (``at_s`` uniform over the campaign's virtual duration),
the others random (per driver call, or per hour of virtual time for physical faults). Every fault ends: a lost port comes back after up to 15 min, a physical fault is
repaired after 1-30 min and an LN2 run-out ends with the dewar's refill, so a resumed campaign
can finish (a fault "until reset" would need a person).

Kills: 1-2 per campaign, one per launch from the first on: a SIGKILL of the whole process
after a random number of the launch's documents (one in two), after a random number of its
requests to the catalog (three in ten: mid-storage, where a run's rows are flushed and its
streams closed, which the document count seldom hits) or after a random wall delay of 0.5-20 s
(catching the start-up: imports, catalog recovery, twin restore).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simslab.simulators.parameters import PHYSICAL_FAULT_DEVICES, FaultSpec

__all__ = ["KillPoint", "CampaignDraw", "draw_campaign", "FAULT_KINDS", "DRIVER_FAULT_DEVICES"]

FAULT_KINDS = ("instrument_timeout", "garbled_reply", "lost_connection", *PHYSICAL_FAULT_DEVICES)
DRIVER_FAULT_DEVICES = ("stage", "level_meter", "furnace", "potentiostat", "sims", "sample_handler")
FAULT_COUNT_WEIGHTS = (0.2, 0.5, 0.3)
"""Probability of 0, 1 and 2 faults in a campaign."""
TIMED_FRACTION = 0.7
DRIVER_PROBABILITY_PER_CALL = (1e-4, 2e-3)
"""Log-uniform range of a random driver fault's chance per call (a campaign makes ~1e4 calls)."""
PHYSICAL_PROBABILITY_PER_HOUR = (0.02, 0.1)
LOST_PORT_S = (0.0, 900.0)
REPAIR_S = (60.0, 1800.0)
KILL_COUNT_WEIGHTS = (0.0, 0.6, 0.4)
"""Probability of 0, 1 and 2 kills in a campaign (every campaign is killed at least once)."""
KILL_BY_DOCUMENTS_FRACTION = 0.5
KILL_BY_REQUESTS_FRACTION = 0.3
KILL_DELAY_S = (0.5, 20.0)


@dataclass(frozen=True)
class KillPoint:
    """When to SIGKILL a launch: after this many of its documents, or catalog requests, or wall seconds."""

    documents: int | None = None
    requests: int | None = None
    after_s: float | None = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.documents, self.requests, self.after_s)) != 1:
            raise ValueError("a KillPoint needs exactly one of documents, requests or after_s")

    def describe(self) -> str:
        if self.documents is not None:
            return f"after {self.documents} documents"
        if self.requests is not None:
            return f"after {self.requests} catalog requests"
        return f"after {self.after_s:.1f} s"


@dataclass(frozen=True)
class CampaignDraw:
    """One soak campaign: its id, the twin's seed, its faults (FaultSpec data) and its kills, in launch order."""

    campaign_id: str
    twin_seed: int
    faults: tuple[dict[str, Any], ...]
    kills: tuple[KillPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "twin_seed": self.twin_seed, "faults": list(self.faults),
                "kills": [asdict(k) for k in self.kills]}


def draw_campaign(rng: np.random.Generator, campaign_id: str, duration_s: float, documents: int,
                  requests: int) -> CampaignDraw:
    """Draw a campaign's faults and kills.

    duration_s: the campaign's virtual duration (timed faults fall within it); documents and
    requests: about how many documents, and catalog requests, a whole campaign makes (kills by
    count fall within them).
    """
    if duration_s <= 0 or documents < 1 or requests < 1:
        raise ValueError(f"duration_s must be > 0 s, documents and requests >= 1, "
                         f"got {duration_s}, {documents} and {requests}")
    faults = tuple(_fault(rng, duration_s) for _ in range(rng.choice(3, p=FAULT_COUNT_WEIGHTS)))
    kills = tuple(_kill(rng, documents, requests) for _ in range(rng.choice(3, p=KILL_COUNT_WEIGHTS)))
    return CampaignDraw(campaign_id, int(rng.integers(0, 2**31)), faults, kills)


def _fault(rng: np.random.Generator, duration_s: float) -> dict[str, Any]:
    kind = str(rng.choice(FAULT_KINDS))
    physical = kind in PHYSICAL_FAULT_DEVICES
    device = PHYSICAL_FAULT_DEVICES[kind] if physical else str(rng.choice(DRIVER_FAULT_DEVICES))
    spec: dict[str, Any] = {"kind": kind, "device": device}
    if rng.random() < TIMED_FRACTION:
        spec["at_s"] = round(float(rng.uniform(0.0, duration_s)), 1)
    elif physical:
        spec["probability"] = round(float(rng.uniform(*PHYSICAL_PROBABILITY_PER_HOUR)), 4)
    else:
        low, high = np.log(DRIVER_PROBABILITY_PER_CALL)
        spec["probability"] = float(f"{np.exp(rng.uniform(low, high)):.3g}")
    if kind == "lost_connection":
        lost_s = round(float(rng.uniform(*LOST_PORT_S)), 1)
        if lost_s > 0:
            spec["duration_s"] = lost_s
    elif physical and kind != "ln2_runout":  # a run-out ends with the stage's own refill
        spec["duration_s"] = round(float(rng.uniform(*REPAIR_S)), 1)
    FaultSpec(**spec)  # the profile must accept it: fail here, naming the field, rather than in a child
    return spec


def _kill(rng: np.random.Generator, documents: int, requests: int) -> KillPoint:
    kind = rng.random()
    if kind < KILL_BY_DOCUMENTS_FRACTION:
        return KillPoint(documents=int(rng.integers(1, documents + 1)))
    if kind < KILL_BY_DOCUMENTS_FRACTION + KILL_BY_REQUESTS_FRACTION:
        return KillPoint(requests=int(rng.integers(1, requests + 1)))
    return KillPoint(after_s=round(float(rng.uniform(*KILL_DELAY_S)), 2))
