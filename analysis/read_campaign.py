"""Reading a whole campaign from the catalog: its steps, cryo-SIMS maps, thermal history, operando runs.

The runs of a campaign share ``campaign_id`` in their start documents; each names its step
(index, kind, label). A step that was redone (after a failure or a crash) has several runs:
the last successful one counts. Runs still running, failed or aborted are listed but not read.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from simslab.errors import CatalogError

from .read_cryo_sims import CryoImage, read_cryo_image
from .read_history import SampleTimeline, read_sample_timeline
from .read_operando import OperandoRecord, read_operando_run
from .read_streams import RunNode, metadata_number

__all__ = ["StepRecord", "CampaignRecord", "read_campaign", "read_step", "DIFFUSION_STEPS"]

log = logging.getLogger(__name__)

DIFFUSION_STEPS = ("exchange", "anneal", "storage")


@dataclasses.dataclass(frozen=True)
class StepRecord:
    """One run of a campaign: its step, plan and outcome, and the step's nominal temperature (K) and time (s)."""

    uid: str
    index: int | None
    kind: str
    label: str
    plan_name: str
    exit_status: str
    nominal_temperature_k: float | None
    nominal_duration_s: float | None


@dataclasses.dataclass(frozen=True)
class CampaignRecord:
    """What the catalog holds of a campaign, as arrays and records (SI units, session-clock times).

    steps: every counted run in step order; images: the cryo-SIMS maps in order; timeline: the
    sample's recorded history (None without diffusion steps); operando: the operando runs;
    sample: the sample block of the start documents; simulated: the runs came from the twin.
    """

    campaign_id: str
    description: str
    sample: dict[str, Any]
    steps: tuple[StepRecord, ...]
    images: tuple[CryoImage, ...]
    timeline: SampleTimeline | None
    operando: tuple[OperandoRecord, ...]
    simulated: bool
    skipped: tuple[str, ...]

    def steps_before(self, image: CryoImage) -> list[StepRecord]:
        """Return the diffusion steps (exchange, anneal, storage) between the previous map and ``image``."""
        index = self.images.index(image)
        low = self.images[index - 1].step_index if index > 0 else -1
        high = image.step_index
        if low is None or high is None:
            return []
        return [s for s in self.steps if s.kind in DIFFUSION_STEPS and s.index is not None and low < s.index < high]


def read_campaign(catalog: Any, campaign_id: str, *, line_scans: bool = True) -> CampaignRecord:
    """Read every finished run of ``campaign_id`` (CatalogError if the catalog has none); line_scans: read them too."""
    runs = [RunNode(run) for run in catalog.campaign_runs(campaign_id)]
    if not runs:
        raise CatalogError(f"no run of campaign {campaign_id!r} in the catalog")
    counted: dict[Any, RunNode] = {}
    skipped = []
    for run in runs:
        start, stop = run.start, run.stop
        status = stop.get("exit_status", "running")
        step = start.get("step") or {}
        if status != "success":
            skipped.append(f"{str(start.get('uid', ''))[:8]} step {step.get('index')} ({status})")
            continue
        counted[step.get("index", start.get("uid"))] = run  # a redone step: the last success counts
    ordered = [counted[k] for k in sorted(counted, key=lambda k: (not isinstance(k, int), k if isinstance(k, int) else 0))]
    steps = tuple(read_step(run) for run in ordered)
    images = tuple(read_cryo_image(run, line_scan=line_scans) for run, s in zip(ordered, steps) if s.plan_name == "cryo_sims")
    operando = tuple(read_operando_run(run) for run, s in zip(ordered, steps) if s.plan_name == "operando_cycling")
    tracer_runs = [run for run, s in zip(ordered, steps) if s.plan_name != "operando_cycling"]
    timeline = read_sample_timeline(tracer_runs) if tracer_runs else None
    first = (ordered or runs)[0].start
    campaign = first.get("campaign") or {}
    sample = next((r.start.get("sample") for r, s in zip(ordered, steps)
                   if s.plan_name != "operando_cycling" and r.start.get("sample")), None) or {}
    if skipped:
        log.warning("campaign %s: runs not analysed: %s", campaign_id, "; ".join(skipped))
    return CampaignRecord(
        campaign_id=campaign_id,
        description=str(campaign.get("description", "")),
        sample=dict(sample),
        steps=steps,
        images=images,
        timeline=timeline,
        operando=operando,
        simulated=bool(first.get("simulated")),
        skipped=tuple(skipped),
    )


def read_step(run: RunNode) -> StepRecord:
    """Return the step record of one run from its start and stop documents."""
    start, stop = run.start, run.stop
    step = start.get("step") or {}
    plan = str(start.get("plan_name", ""))
    block = start.get({"anneal": "anneal", "storage": "storage", "isotope_exchange": "exchange"}.get(plan, ""), {})
    duration = (block or {}).get("hold_s", (block or {}).get("duration_s"))
    return StepRecord(
        uid=str(start.get("uid", "")),
        index=step.get("index"),
        kind=str(step.get("kind") or plan),
        label=str(step.get("label") or plan),
        plan_name=plan,
        exit_status=str(stop.get("exit_status", "running")),
        nominal_temperature_k=metadata_number((block or {}).get("temperature_k")),
        nominal_duration_s=metadata_number(duration),
    )
