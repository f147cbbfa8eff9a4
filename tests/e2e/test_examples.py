"""Every shipped campaign runs to the end on the simulated lab, with its published structure and times.

Only the imaged field shrinks to the test window (64 x 32 um at 1 um): the twin's cost grows with
the window's pixel count, its physics does not care. Integration times, anneals, storage and
cycling are as written in each file (weeks of virtual time cost no wall time).
"""

from __future__ import annotations

import pytest

from simslab.campaign import load_campaign, plan_steps
from simslab.runner import CampaignRunner
from tests.conftest import REPO
from tests.plans.sessions import DocumentLog, build_session

EXAMPLES = sorted((REPO / "campaigns").glob("*.yaml"))
SLOW = {"llto-temperature-series", "demo", "operando-2-cycles-6uA", "llto-110h-exchange-2w-6w-storage"}
"""The examples taking longest here (many runs, or 20 h of cycling on record); the 59 h + 16 d and
63 h + 200 C campaigns stay in the quick set."""


def _on_the_test_window(campaign):
    """The campaign with every cryo acquisition on the 64 x 32 um test window (times unchanged)."""
    def small(acquisition, pixels, raster_m):
        if acquisition is None:
            return None
        return acquisition.model_copy(update={"pixels": pixels,
                                              "primary": acquisition.primary.model_copy(update={"raster_m": raster_m})})

    imaging = campaign.imaging
    imaging = imaging.model_copy(update={"image": small(imaging.image, (64, 32), (64e-6, 32e-6)),
                                         "line_scan": small(imaging.line_scan, (64, 1), (64e-6, 8e-6))})
    # the small field concentrates the dose ~50-fold; the budget follows
    budget = 50 * campaign.dose_budget_ions_per_m2
    return campaign.model_copy(update={"imaging": imaging, "dose_budget_ions_per_m2": budget})


@pytest.mark.parametrize("path", [pytest.param(p, marks=[pytest.mark.slow] if p.stem in SLOW else [])
                                  for p in EXAMPLES], ids=lambda p: p.stem)
def test_example_campaign_runs_to_the_end(path, data_dir):
    session = build_session({"devices": {"sims": {"dose_budget_ions_per_m2": 1e21}}})
    try:
        campaign = _on_the_test_window(load_campaign(path, session.profile))
        docs = DocumentLog()
        session.RE.subscribe(docs)
        outcomes = CampaignRunner(session, campaign, source=str(path)).run()
        planned = plan_steps(campaign, session.profile)
        assert [o.kind for o in outcomes] == [s.kind for s in planned]
        assert all(o.exit_status == "success" for o in outcomes)
        starts = docs.of("start")
        assert [s["step"]["index"] for s in starts] == [s.index for s in planned]
        for start, step in zip(starts, planned, strict=True):
            stop = docs.stop_of(start["uid"])
            # the session clock ran at least as long as the step's own waits (exchange, hold, storage)
            streams = docs.streams(start["uid"])
            stamps = [t for events in streams.values() for e in events for t in e["timestamps"].values()]
            waited = step.details.get("duration_s") or 0.0
            assert max(stamps) - min(stamps) >= 0.95 * waited  # 5 %: the first reading follows the run's start
            assert stop["exit_status"] == "success"
        cryo = [start for start in starts if start["step"]["kind"] == "cryo_sims"]
        assert all(len(docs.streams(start["uid"])["image"]) == 1 for start in cryo)  # one map per cryo-SIMS
        assert session.lab.location in ("storage",)  # every diffusion campaign ends with the sample stored
    finally:
        session.close()
