"""Test sessions built from profiles/sim.yaml, small acquisitions, and a document log.

Shared by tests/plans, tests/simslab/test_runner.py and tests/e2e. The twin's tracer window is
shrunk to 64 x 32 um at 1 um pixels (its cost, not its physics, scales with the pixel count).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simslab.plans.acquisitions import CRYO_IMAGE, CRYO_LINE_SCAN, OPERANDO_IMAGE, Acquisition
from simslab.profile import deep_merge
from simslab.session import Session
from tests.conftest import SIM_PROFILE

SMALL_TWIN = {"sample": {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}}
QUIET = {"live": {"progress": False}}
GENEROUS_DOSE_BUDGET = {"devices": {"sims": {"dose_budget_ions_per_m2": 1e21}}}
"""The small test window concentrates an image's primary ions on a 64 x 32 um field: ~1e19 ions/m^2
per 2 h image, above the profile's 1.2e18 budget; tests of other things lift the budget."""

SMALL_IMAGE = CRYO_IMAGE.model_copy(update={
    "pixels": (64, 32), "integration_s": 600.0,
    "primary": CRYO_IMAGE.primary.model_copy(update={"raster_m": (64e-6, 32e-6)}),
})
SMALL_LINE_SCAN = CRYO_LINE_SCAN.model_copy(update={
    "pixels": (64, 1), "integration_s": 120.0, "sputter_time_s": 60.0,
    "primary": CRYO_LINE_SCAN.primary.model_copy(update={"raster_m": (64e-6, 8e-6)}),
})
SHORT_OPERANDO_IMAGE = OPERANDO_IMAGE.model_copy(update={"integration_s": 300.0})

SMALL_IMAGING_SPEC = {
    "image": {"pixels": [64, 32], "integration_s": 600.0, "primary": {"raster_m": [64e-6, 32e-6]}},
    "line_scan": {"pixels": [64, 1], "integration_s": 120.0, "sputter_time_s": 60.0,
                  "primary": {"raster_m": [64e-6, 8e-6]}},
}
"""The ``imaging:`` section of a campaign with the small acquisitions above."""


def build_session(overrides: dict[str, Any] | None = None, *, with_catalog: bool = False,
                  resume_campaign: str | None = None) -> Session:
    """Return a session of profiles/sim.yaml with a small tracer window, no progress bars, and ``overrides``."""
    merged = deep_merge({**QUIET, **GENEROUS_DOSE_BUDGET, "twin": SMALL_TWIN}, overrides or {})
    return Session.from_profile(SIM_PROFILE, merged, with_catalog=with_catalog, resume_campaign=resume_campaign)


def acquisition_seconds(acquisition: Acquisition) -> float:
    """Cleaning, analysis and sputter time of an acquisition in s."""
    a = acquisition
    return a.cleaning_time_s + a.integration_s + a.sputter_cycles * a.sputter_time_s


class DocumentLog:
    """A RunEngine callback keeping every document, with look-ups by run and stream."""

    def __init__(self) -> None:
        self.documents: list[tuple[str, dict]] = []

    def __call__(self, name: str, doc: dict) -> None:
        self.documents.append((name, doc))

    def of(self, name: str) -> list[dict]:
        """Return the documents of one kind (start, stop, descriptor, event ...), in order."""
        return [doc for n, doc in self.documents if n == name]

    def streams(self, run_uid: str | None = None) -> dict[str, list[dict]]:
        """Return the events of each stream of a run (default: the last run), by stream name."""
        run_uid = run_uid or self.of("start")[-1]["uid"]
        names = {d["uid"]: d["name"] for d in self.of("descriptor") if d["run_start"] == run_uid}
        events: dict[str, list[dict]] = defaultdict(list)
        for doc in self.of("event"):
            if doc["descriptor"] in names:
                events[names[doc["descriptor"]]].append(doc)
        return dict(events)

    def column(self, stream: str, key: str, run_uid: str | None = None) -> list[tuple[float, Any]]:
        """Return (timestamp on the session clock, value) of a data key in a stream of a run."""
        return [(e["timestamps"][key], e["data"][key]) for e in self.streams(run_uid).get(stream, [])]

    def stop_of(self, run_uid: str | None = None) -> dict:
        """Return the stop document of a run (default: the last run)."""
        run_uid = run_uid or self.of("start")[-1]["uid"]
        return next(doc for doc in self.of("stop") if doc["run_start"] == run_uid)
