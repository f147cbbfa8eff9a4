"""Run a campaign on a session, one run per step, so that no crash loses or repeats a step.

Each planned step (:func:`simslab.campaign.plan_steps`) is one run whose start document
carries ``campaign_id``, the whole campaign spec, ``step``, ``sample`` and duration
estimates. What happens when things go wrong:

- Ctrl-C pauses the RunEngine (bluesky's behaviour): :meth:`CampaignRunner.run` raises
  ``RunEngineInterrupted``; then :meth:`CampaignRunner.resume_paused` finishes the step and
  goes on, or :meth:`CampaignRunner.abort` ends it. A SIMS acquisition in progress is stopped
  at the pause and taken again on resume.
- A step that fails or is aborted leaves every instrument in its safe state (the plans do it,
  and the runner again) and raises :class:`CampaignStopped` naming the step and the reason
  (also the stop document's).
- A killed process (SIGKILL, power cut): ``CampaignRunner.resume(session, campaign_id)``
  reads the spec back from the catalog (the catalog has already closed the interrupted run as
  'abort' with the interrupted reason), puts every instrument in its safe state, seeds the
  SIMS dose ledger from the recorded images, skips the steps that finished and redoes the
  rest. A redone step's start document lists the runs it replaces under ``redo_of``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluesky.utils import RunEngineInterrupted

from simslab import plans
from simslab.campaign import (
    MONITORABLE,
    AnnealStep,
    Campaign,
    ExchangeSpec,
    OperandoStep,
    PlannedStep,
    StorageStep,
    load_campaign,
    plan_steps,
    validate_campaign,
)
from simslab.catalog import Catalog, RunSummary
from simslab.errors import CatalogError, SimslabError
from simslab.profile import Profile, deep_merge, load_profile
from simslab.session import Session

__all__ = ["CampaignRunner", "CampaignStopped", "StepOutcome", "open_campaign_session", "campaign_overrides",
           "campaign_from_catalog", "recorded_dose", "load_for_run"]

logger = logging.getLogger(__name__)


class CampaignStopped(SimslabError):
    """A campaign step ended without success; the instruments were put in their safe state."""

    def __init__(self, campaign_id: str, step: PlannedStep, reason: str):
        self.campaign_id, self.step, self.reason = campaign_id, step, reason
        super().__init__(f"campaign {campaign_id} stopped at step {step.index} ({step.label}): {reason}; "
                         f"instruments in their safe state; continue with: simslab run --resume {campaign_id}")


@dataclass(frozen=True)
class StepOutcome:
    """What became of one planned step: the run's uid and exit status ('skipped': finished before)."""

    index: int
    kind: str
    label: str
    uid: str | None
    exit_status: str
    reason: str = ""


StepCallback = Callable[[PlannedStep, list[PlannedStep]], None]


class CampaignRunner:
    """Runs a campaign's remaining steps on a session (see the module docstring)."""

    def __init__(self, session: Session, campaign: Campaign, *, source: str = "<memory>", resuming: bool = False):
        self.session = session
        self.campaign = campaign
        self.source = source
        self.resuming = resuming
        self.steps = plan_steps(campaign, session.profile)
        self.outcomes: list[StepOutcome] = []
        self._todo: list[PlannedStep] | None = None
        self._current: PlannedStep | None = None

    @classmethod
    def resume(cls, session: Session, campaign_id: str) -> CampaignRunner:
        """Return a runner continuing ``campaign_id`` from what the session's catalog holds."""
        if session.catalog is None:
            raise CatalogError("resuming a campaign needs a session with a catalog")
        spec, source = campaign_from_catalog(session.catalog, campaign_id)
        return cls(session, validate_campaign(spec, session.profile, source), source=source, resuming=True)

    # --- what is done -------------------------------------------------------------------------

    def recorded_runs(self) -> list[RunSummary]:
        """Return the summaries (step index and kind, exit status, reason) of the campaign's runs, oldest first."""
        catalog = self.session.catalog
        return catalog.campaign_summaries(self.campaign.campaign_id) if catalog is not None else []

    def remaining(self) -> list[PlannedStep]:
        """Return the planned steps without a successful run in the catalog, in order."""
        done = {(r.step_index, r.step_kind) for r in self.recorded_runs() if r.exit_status == "success"}
        return [s for s in self.steps if (s.index, s.kind) not in done]

    # --- running ------------------------------------------------------------------------------

    def run(self, on_step: StepCallback | None = None) -> list[StepOutcome]:
        """Run the remaining steps; return the outcomes (finished ones as 'skipped').

        Raises RunEngineInterrupted on Ctrl-C (see :meth:`resume_paused`, :meth:`abort`) and
        CampaignStopped when a step ends without success.
        """
        if self._todo is None:
            self._start(on_step)
        assert self._todo is not None
        while self._todo:
            step = self._todo[0]
            if on_step is not None:
                on_step(step, self._todo)
            self._current = step
            self._finish(step, self._drive(step, lambda: self.session.RE(self._plan_for(step))))
        return self.outcomes

    def resume_paused(self, on_step: StepCallback | None = None) -> list[StepOutcome]:
        """Resume the paused step, then run the rest (as :meth:`run`)."""
        step = self._current
        if step is None:
            raise SimslabError("no campaign step is paused")
        self._finish(step, self._drive(step, self.session.RE.resume))
        return self.run(on_step)

    def _drive(self, step: PlannedStep, engine_call: Callable[[], Any]) -> Any:
        """Return what the RunEngine call returns; on Ctrl-C stop the acquisition, on failure make all safe."""
        try:
            return engine_call()
        except RunEngineInterrupted:
            self._on_pause()
            raise
        except Exception as err:
            self._failed(step, str(err) or type(err).__name__, err)

    def abort(self, reason: str = "aborted by the operator") -> None:
        """Abort the paused step (its stop document says ``reason``), make everything safe, raise CampaignStopped."""
        step = self._current
        if step is None:
            raise SimslabError("no campaign step is paused")
        result = self.session.RE.abort(reason)
        self._failed(step, getattr(result, "reason", "") or reason, None)

    # --- helpers ------------------------------------------------------------------------------

    def _start(self, on_step: StepCallback | None) -> None:
        done_before = {s.index for s in self.steps} - {s.index for s in self.remaining()}
        self.outcomes = [StepOutcome(s.index, s.kind, s.label, None, "skipped") for s in self.steps
                         if s.index in done_before]
        if self.resuming:
            self._prepare_resume()
        self._todo = [s for s in self.steps if s.index not in done_before]

    def _prepare_resume(self) -> None:
        """Safe state first, then the SIMS dose ledger as the recorded images left it."""
        problems = self.session.call(plans.put_in_safe_state(self.session.devices.values()))
        for problem in problems:
            logger.error("resume: %s", problem)
        sims = self.session.devices["sims"]
        if not hasattr(sims, "seed_dose"):
            return
        ledger = sims.dose_ledger()
        for region, dose in recorded_dose(self.session.catalog, self.campaign.campaign_id).items():
            missing = dose - ledger.get(region, 0.0)  # a fresh process starts at 0; this one may know some
            if missing > 0:
                sims.seed_dose(region, missing)
                logger.info("resume: region %s starts with %.3g ions/m^2 of dose", region, dose)

    def _finish(self, step: PlannedStep, result: Any) -> None:
        status = getattr(result, "exit_status", "success")
        if status != "success":
            self._failed(step, getattr(result, "reason", "") or status, None)
        uids = getattr(result, "run_start_uids", ()) or (None,)
        self.outcomes.append(StepOutcome(step.index, step.kind, step.label, uids[-1], status))
        assert self._todo is not None
        self._todo.pop(0)
        self._current = None

    def _failed(self, step: PlannedStep, reason: str, error: BaseException | None) -> None:
        problems = self.session.call(plans.put_in_safe_state(self.session.devices.values()))
        if problems:
            reason += f" (not made safe: {'; '.join(problems)})"
        self._current = None
        self._todo = None
        raise CampaignStopped(self.campaign.campaign_id, step, reason) from error

    def _on_pause(self) -> None:
        """Stop a SIMS acquisition in progress: on resume the plan rewinds and takes it again."""
        sims = self.session.devices.get("sims")
        if sims is not None:  # the RunEngine stops what it moved; a detector it only triggered is ours to stop
            self.session.call(sims.stop(success=True))

    def _plan_for(self, step: PlannedStep) -> Any:
        """Return the plan of one step, with the campaign's metadata."""
        d, c = self.session.devices, self.campaign
        imaging = c.imaging
        md = self._metadata(step)
        if step.kind == "cryo_sims":
            monitored = tuple(getattr(d[name], MONITORABLE[name]) for name in c.monitor if name != "stage")
            return plans.cryo_sims(
                d["stage"], d["sims"], d["sample_handler"], image=imaging.image, line_scan=imaging.line_scan,
                depth_profile=imaging.depth_profile, temperature_k=imaging.temperature_k, unload_to="storage",
                unload_temperature_k=imaging.unload_temperature_k, monitor=monitored, md=md)
        if step.kind == "exchange":
            ex: ExchangeSpec = c.exchange  # type: ignore[assignment]
            return plans.isotope_exchange(
                d["sample_handler"], d["stage"], duration_s=ex.duration_s, solution=ex.solution,
                temperature_k=ex.temperature_k, imaging_temperature_k=imaging.temperature_k,
                precool_s=ex.precool_s, clock=self.session.clock,
                end_time_s=ex.end_time.timestamp() if ex.end_time else None, md=md)
        spec = c.steps[step.spec_index]  # type: ignore[index]
        if isinstance(spec, AnnealStep):
            return plans.anneal(
                d["furnace"], d["sample_handler"], d["stage"], temperature_k=spec.temperature_k,
                hold_s=spec.duration_s, ramp_k_per_s=spec.ramp_k_per_s, cool_to_k=spec.cool_to_k,
                imaging_temperature_k=imaging.temperature_k, md=md)
        if isinstance(spec, StorageStep):
            return plans.storage(
                d["sample_handler"], d["stage"], duration_s=spec.duration_s, temperature_k=spec.temperature_k,
                atmosphere=spec.atmosphere, imaging_temperature_k=imaging.temperature_k, md=md)
        assert isinstance(spec, OperandoStep)
        return plans.operando_cycling(
            d["potentiostat"], d["sims"], self.session.clock, cycling=spec.cycling, regions=spec.imaging.regions,
            acquisition=spec.imaging.image, schedule=spec.imaging.schedule,
            dose_budget_ions_per_m2=spec.imaging.dose_budget_ions_per_m2 or c.dose_budget_ions_per_m2, md=md)

    def _metadata(self, step: PlannedStep) -> dict[str, Any]:
        c = self.campaign
        later = [s for s in self.steps if s.index >= step.index]
        spec = c.steps[step.spec_index] if step.spec_index is not None else None
        sample = spec.cell if isinstance(spec, OperandoStep) else c.sample
        redo_of = [r.uid for r in self.recorded_runs() if r.step_index == step.index and r.exit_status != "success"]
        md: dict[str, Any] = {
            "campaign_id": c.campaign_id,
            "campaign": c.spec(),
            "campaign_source": self.source,
            "step": step.metadata(len(self.steps)),
            "sample": sample.model_dump(mode="json") if sample is not None else None,
            "estimated_duration_s": step.estimated_duration_s,
            "estimated_remaining_s": sum(s.estimated_duration_s for s in later),
        }
        if redo_of:
            md["redo_of"] = redo_of
        if self.resuming:
            md["resumed"] = True
        return plans.jsonable(md)  # large numbers (doses) as strings: the catalog would clamp them


def open_campaign_session(profile_path: str | Path, campaign: Campaign, *, overrides: dict[str, Any] | None = None,
                          resume: bool = False) -> Session:
    """Build the session a campaign runs on: the profile (with ``overrides``) and the campaign's SIMS dose budget.

    resume: in simulation, restore the twin as the campaign's last finished step left it.
    """
    merged = deep_merge(overrides or {}, campaign_overrides(campaign))
    return Session.from_profile(profile_path, merged, resume_campaign=campaign.campaign_id if resume else None)


def campaign_overrides(campaign: Campaign) -> dict[str, Any]:
    """Return the profile overrides a campaign needs: the SIMS dose budget (the largest the campaign names)."""
    budgets = [campaign.dose_budget_ions_per_m2]
    budgets += [s.imaging.dose_budget_ions_per_m2 for s in campaign.steps
                if isinstance(s, OperandoStep) and s.imaging.dose_budget_ions_per_m2]
    return {"devices": {"sims": {"dose_budget_ions_per_m2": max(budgets)}}}


def campaign_from_catalog(catalog: Catalog, campaign_id: str) -> tuple[dict[str, Any], str]:
    """Return (spec, where it came from) of a campaign, from its newest run's start document."""
    runs = catalog.campaign_runs(campaign_id)
    specs = [(run.metadata["start"]["campaign"], run.metadata["start"]["uid"]) for run in runs
             if isinstance(run.metadata["start"].get("campaign"), dict)]
    if not specs:
        raise CatalogError(f"no run of campaign {campaign_id!r} in the catalog: nothing to resume")
    spec, uid = specs[-1]
    return spec, f"catalog run {uid[:8]} (campaign {campaign_id})"


def recorded_dose(catalog: Catalog | None, campaign_id: str) -> dict[str, float]:
    """Return the largest accumulated dose (ions/m^2) recorded per region in the campaign's runs."""
    dose: dict[str, float] = {}
    if catalog is None:
        return dose
    for run in catalog.campaign_runs(campaign_id):
        for name in run:
            stream = run[name]
            if "sims-dose" not in stream or "sims-acquired_region" not in stream:
                continue
            for region, value in zip(stream["sims-acquired_region"].read(), stream["sims-dose"].read(), strict=False):
                dose[str(region)] = max(dose.get(str(region), 0.0), float(value))
    return dose


def load_for_run(spec_path: str | Path, profile_path: str | Path,
                 overrides: dict[str, Any] | None = None) -> tuple[Campaign, Profile]:
    """Load and check a campaign file against a profile file (nothing is connected)."""
    profile = load_profile(profile_path, overrides)
    return load_campaign(spec_path, profile), profile
