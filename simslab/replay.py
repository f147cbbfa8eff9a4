"""Replay a recorded run or campaign on the simulated lab, and compare it with the original.

``replay(key)`` reads what the start documents recorded and runs it again on a simulated
profile (default ``profiles/sim.yaml``), into the same catalog:

- A campaign (its id, or the uid of one of its runs): the campaign spec comes back from the
  start documents and the campaign runner runs it under a new campaign id
  (``<id>-replay-<n>``). For the uid of one step, the steps before it run too: they make the
  sample's history. Every replayed run's start document carries ``replay_of`` (the original
  run's uid) and ``replay_of_campaign``.
- Any other run: its plan is rebuilt from ``plan_name``/``plan_args`` by
  :mod:`simslab.replay_plans` (known bluesky and simslab plans only) and run once, with
  ``replay_of``.
- The twin: for a simulated original, the twin parameters and seed it recorded (the
  ``twin`` of ``overrides`` still applies on top, e.g. another seed). For a lab original, the
  profile's twin with the sample set from the recorded sample metadata (:func:`lab_twin`).

The report (:class:`ReplayReport`) compares the sequence of steps and, run by run, the streams,
data keys and readings (:mod:`simslab.replay_comparison`). A simulated original replayed with
its own twin parameters and seed is expected to give identical readings.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import pydantic

from simslab.campaign import Campaign, validate_campaign
from simslab.catalog import Catalog
from simslab.errors import CatalogError, ReplayError, SimslabError
from simslab.journal import read_journal
from simslab.profile import Profile, deep_merge, load_profile
from simslab.replay_comparison import RunComparison, compare_runs
from simslab.replay_plans import rebuild_plan, replay_metadata
from simslab.runner import CampaignRunner, CampaignStopped, campaign_overrides
from simslab.session import Session
from simslab.simulators.parameters import PolycrystalParameters, TwinParameters

__all__ = ["replay", "ReplayReport", "Original", "find_original", "lab_twin", "DEFAULT_PROFILE"]

logger = logging.getLogger(__name__)

DEFAULT_PROFILE = Path(str(files("simslab.profiles"))) / "sim.yaml"
_JSON_INTEGER_LIMIT = 2**53 - 1
RESUMED_NOTE = (
    "the original was resumed after a crash: from step {step} on it continued from the twin checkpoint of the "
    "last finished step (the world restored with its random streams, the clock restarted at the checkpoint's "
    "virtual time), while the replay runs every step in one session; readings stay identical only if nothing "
    "happened in the original between that checkpoint and the crash that the restore undid (the interrupted run "
    "is not replayed; the step's successful redo is compared)"
)


@dataclass(frozen=True)
class Original:
    """What a replay starts from: the runs to replay (one per step, in order) and, for a campaign, its spec."""

    key: str
    runs: tuple[dict[str, Any], ...]
    campaign_id: str | None = None
    spec: dict[str, Any] | None = None
    through_step: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def simulated(self) -> bool:
        return all(bool(start.get("simulated")) and isinstance(start.get("twin"), dict) for start in self.runs)


@dataclass(frozen=True)
class ReplayReport:
    """The outcome of a replay: which runs were made and how they compare with the originals."""

    original: str
    original_campaign_id: str | None
    campaign_id: str | None
    original_steps: tuple[str, ...]
    replay_steps: tuple[str, ...]
    runs: tuple[RunComparison, ...]
    exact_expected: bool
    notes: tuple[str, ...]

    @property
    def identical_readings(self) -> bool:
        """True if the steps, streams, data keys, exit statuses and every reading are the same."""
        return self.original_steps == self.replay_steps and all(run.identical for run in self.runs)

    def summary(self) -> str:
        """One line: ``identical readings`` or how many runs differ."""
        if self.identical_readings:
            compared = sum(run.compared_values for run in self.runs)
            return f"identical readings ({len(self.runs)} run(s), {compared} values compared)"
        differing = [run for run in self.runs if not run.identical]
        verdict = f"readings differ in {len(differing)} of {len(self.runs)} run(s)"
        if self.original_steps != self.replay_steps:
            verdict += f"; steps {list(self.original_steps)} vs {list(self.replay_steps)}"
        if self.exact_expected:
            verdict += " (unexpected: the same twin parameters and seed should repeat them)"
        return verdict

    def to_dict(self) -> dict[str, Any]:
        return {"original": self.original, "original_campaign_id": self.original_campaign_id,
                "campaign_id": self.campaign_id, "original_steps": list(self.original_steps),
                "replay_steps": list(self.replay_steps), "exact_expected": self.exact_expected,
                "identical_readings": self.identical_readings, "summary": self.summary(),
                "notes": list(self.notes), "runs": [run.to_dict() for run in self.runs]}


def replay(key: str, profile: str | Path = DEFAULT_PROFILE, overrides: dict[str, Any] | None = None) -> ReplayReport:
    """Replay the run or campaign ``key`` (uid, 8+ characters of one, or campaign id) on ``profile``.

    overrides: merged over the profile (and, for ``twin``, over the recorded twin parameters).
    Waits until every replayed run has ended. Raises ReplayError if it cannot be replayed.
    """
    overrides = dict(overrides or {})
    base = load_profile(profile, overrides)
    if not base.simulated:
        raise ReplayError(f"profile {base.name} ({profile}) drives real instruments: a replay runs on a simulated "
                          "profile (e.g. profiles/sim.yaml)")
    original, campaign_id = _read_original(base, key)
    notes = list(original.notes)
    campaign: Campaign | None = None
    if original.spec is not None:
        spec = {**original.spec, "campaign_id": campaign_id}
        campaign = validate_campaign(spec, base, f"campaign {original.campaign_id} as recorded")
        base = load_profile(profile, deep_merge(overrides, campaign_overrides(campaign)))  # its SIMS dose budget
    twin, exact = _replay_twin(original, base, overrides.get("twin") or {}, notes)
    session_profile = base.model_copy(update={"twin": twin})
    notes += _original_notes(original, session_profile)
    session = Session.build(session_profile, clock_start_s=_clock_start(original, notes))
    try:
        made = _MadeRuns()
        session.RE.subscribe(made)
        if campaign is not None:
            _run_campaign(session, campaign, original, notes)
        else:
            _run_single(session, original.runs[0], notes)
        runs = _compare(session.catalog, original, made.starts)
    finally:
        session.close()
    return ReplayReport(
        original=key, original_campaign_id=original.campaign_id, campaign_id=campaign.campaign_id if campaign else None,
        original_steps=tuple(_step_label(start) for start in original.runs),
        replay_steps=tuple(_step_label(start) for start in made.starts),
        runs=runs, exact_expected=exact, notes=tuple(notes))


def find_original(catalog: Catalog, key: str) -> Original:
    """Return what ``key`` names in ``catalog``: a campaign, one step of one, or a single run.

    Start documents are read from the journal when it holds them: the catalog clamps numbers
    beyond 2**53 in metadata (bluesky-tiled-plugins' ``truncate_json_overflow``), e.g. a dose
    budget of 1.2e18 ions/m^2 or the twin's Li density of 5e27 per m^3.
    """
    runs = catalog.campaign_runs(key)
    target = None
    if not runs:
        try:
            runs = [catalog.run(key)]
        except CatalogError:
            raise ReplayError(f"no run or campaign {key!r} in the catalog") from None
        target = _exact_start(catalog, runs[0])
        campaign_id = target.get("campaign_id")
        if not campaign_id or not isinstance(target.get("campaign"), dict):
            return Original(key, (target,), notes=_clamped_note([target]))
        runs = catalog.campaign_runs(campaign_id)
    starts = [_exact_start(catalog, run) for run in runs]
    exits = {start["uid"]: (run.metadata.get("stop") or {}).get("exit_status") for start, run in zip(starts, runs)}
    specs = [start["campaign"] for start in starts if isinstance(start.get("campaign"), dict)]
    if not specs:
        raise ReplayError(f"campaign {key!r}: no start document records the campaign spec")
    through = int(target["step"]["index"]) if target is not None else None
    chosen: dict[int, dict[str, Any]] = {}
    for start in starts:  # per step: the asked-for run, else the last successful one, else the last
        index = int(start["step"]["index"])
        current = chosen.get(index)
        if current is not None and target is not None and current["uid"] == target["uid"]:
            continue
        if current is None or exits[start["uid"]] == "success" or exits[current["uid"]] != "success" \
                or (target is not None and start["uid"] == target["uid"]):
            chosen[index] = start
    selected = tuple(chosen[i] for i in sorted(chosen) if through is None or i <= through)
    spec = target["campaign"] if target is not None else specs[-1]
    return Original(key, selected, str(starts[0]["campaign_id"]), dict(spec), through, _clamped_note(selected))


def lab_twin(twin: TwinParameters, sample: Mapping[str, Any] | None,
             spec: Mapping[str, Any] | None = None) -> tuple[TwinParameters, list[str]]:
    """Return ``twin`` with its sample (and cell, bath) set from recorded metadata, and what was set.

    sample: the run's ``sample`` block (SampleSpec: material, grain_size_m, grain_size_sd_m and
    any PolycrystalParameters field by name; a cell's area_m2). spec: the campaign spec, whose
    sample, exchange temperature and operando cells are used too. The grain-size spread becomes
    the log-normal width whose mean and standard deviation they are: sigma_ln^2 = ln(1 + (sd/mean)^2).
    """
    changes: dict[str, Any] = {}
    samples = [s for s in ((spec or {}).get("sample"), sample) if isinstance(s, Mapping)]
    for given in samples:
        polycrystal = changes.setdefault("sample", {})
        if "area_m2" in given and "grain_size_m" not in given:  # a cell, not a polycrystal
            changes.setdefault("cell", {})["area_m2"] = given["area_m2"]
            continue
        if given.get("material"):
            polycrystal["material"] = given["material"]
        if given.get("grain_size_m"):
            polycrystal["mean_grain_size_m"] = given["grain_size_m"]
            if given.get("grain_size_sd_m") is not None:
                ratio = float(given["grain_size_sd_m"]) / float(given["grain_size_m"])
                polycrystal["grain_size_sigma_ln"] = math.sqrt(math.log1p(ratio * ratio))
        polycrystal.update({k: v for k, v in given.items() if k in PolycrystalParameters.model_fields})
    exchange = (spec or {}).get("exchange")
    if isinstance(exchange, Mapping) and exchange.get("temperature_k"):
        changes["exchange"] = {"temperature_k": exchange["temperature_k"]}
    cells = [s["cell"] for s in (spec or {}).get("steps", []) if isinstance(s, Mapping) and s.get("kind") == "operando"]
    areas = {c["area_m2"] for c in cells if isinstance(c, Mapping) and c.get("area_m2")}
    if len(areas) == 1:
        changes.setdefault("cell", {})["area_m2"] = areas.pop()
    changes = {k: v for k, v in changes.items() if v}
    try:
        updated = TwinParameters.model_validate(deep_merge(twin.model_dump(mode="json"), changes))
    except pydantic.ValidationError as err:
        raise ReplayError(f"the recorded sample metadata does not make a valid twin: {err.errors()[0]['loc']} "
                          f"{err.errors()[0]['msg']}") from None
    said = [f"twin.{part}.{name} = {value!r}" for part, values in changes.items() for name, value in values.items()]
    return updated, said


# --- helpers -----------------------------------------------------------------------------------


class _MadeRuns:
    """A RunEngine callback keeping the start documents of the runs the replay makes."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []

    def __call__(self, name: str, doc: dict) -> None:
        if name == "start":
            self.starts.append(doc)


def _exact_start(catalog: Catalog, run: Any) -> dict[str, Any]:
    """Return a run's start document: from its journal if there, else from the catalog."""
    start = run.metadata["start"]
    path = catalog.journal_directory / f"{start['uid']}.jsonl"
    if path.is_file():
        for name, doc in read_journal(path):
            if name == "start" and doc.get("uid") == start["uid"]:
                return doc
            break
    return dict(start)


def _clamped_note(starts: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> tuple[str, ...]:
    clamped = sorted({path for start in starts for path in _paths_of(start, _JSON_INTEGER_LIMIT)})
    if not clamped:
        return ()
    return (f"the catalog clamped numbers beyond 2**53 in the start documents and no journal holds them: "
            f"{', '.join(clamped[:5])} read as {_JSON_INTEGER_LIMIT}",)


def _paths_of(value: Any, wanted: float, path: str = "") -> list[str]:
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _paths_of(v, wanted, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths_of(v, wanted, f"{path}[{i}]")]
    return [path] if isinstance(value, int | float) and not isinstance(value, bool) and value == wanted else []


def _read_original(profile: Profile, key: str) -> tuple[Original, str | None]:
    """Return the original and, for a campaign, a free id for its replay (``<id>-replay-<n>``)."""
    catalog = Catalog.open(profile.catalog)
    try:
        catalog.recover()  # an interrupted original is replayed as it was recovered
        original = find_original(catalog, key)
        if original.campaign_id is None:
            return original, None
        for n in range(1, 10000):
            suffix = f"-replay-{n}"
            candidate = original.campaign_id[: 100 - len(suffix)] + suffix
            if not catalog.campaign_runs(candidate):
                return original, candidate
    finally:
        catalog.close()
    raise ReplayError(f"campaign {original.campaign_id}: no free replay id")


def _replay_twin(original: Original, profile: Profile, twin_overrides: Mapping[str, Any],
                 notes: list[str]) -> tuple[TwinParameters, bool]:
    """Return the twin the replay runs with, and whether identical readings are expected."""
    first = original.runs[0]
    if not original.simulated:
        twin, said = lab_twin(profile.twin, first.get("sample"), original.spec)
        notes.append("lab original: the profile's twin with the recorded sample: " + ("; ".join(said) or "nothing set"))
        return twin, False
    recorded = first["twin"]
    if any(start.get("twin") != recorded for start in original.runs):
        notes.append("the original's runs recorded different twin parameters: the first run's are used")
    try:
        twin = TwinParameters.model_validate(deep_merge(recorded, dict(twin_overrides)))
    except pydantic.ValidationError as err:
        raise ReplayError(f"run {first['uid'][:8]}: the recorded twin parameters are not valid here: "
                          f"{err.errors()[0]['loc']} {err.errors()[0]['msg']}") from None
    exact = twin.model_dump(mode="json") == recorded
    if not exact:
        changed = sorted(k for k, v in twin.model_dump(mode="json").items() if recorded.get(k) != v)
        notes.append(f"twin parameters changed from the recorded ones ({', '.join(changed)}; seed {twin.seed}, "
                     f"original {first.get('twin_seed')}): readings are expected to differ")
    return twin, exact


def _clock_start(original: Original, notes: list[str]) -> float | None:
    """Where the replay's virtual clock starts: where the original's twin started, so that times read
    as data (the operando log's step times) repeat; a lab original's first run start otherwise."""
    first = original.runs[0]
    if not original.simulated:
        return float(first["time"]) if isinstance(first.get("time"), int | float) else None
    if isinstance(first.get("twin_start_s"), int | float):
        return float(first["twin_start_s"])
    notes.append("the original did not record where its twin's clock started (twin_start_s): times read as data "
                 "differ by the offset between the two sessions' start times")
    return None


def _original_notes(original: Original, profile: Profile) -> list[str]:
    notes = []
    names = {start.get("profile") for start in original.runs}
    if names != {profile.name}:
        notes.append(f"the original ran on profile(s) {sorted(map(str, names))}, the replay on {profile.name}: device "
                     "settings (settle criteria, poll periods, limits) are not recorded and may differ")
    resumed = [start for start in original.runs if start.get("resumed") or start.get("redo_of")]
    if resumed:
        notes.append(RESUMED_NOTE.format(step=min(int(s["step"]["index"]) for s in resumed)))
    if original.through_step is not None:
        notes.append(f"run {original.key} is step {original.through_step} of campaign {original.campaign_id}: the "
                     "steps before it were replayed too (they make the sample's history)")
    return notes


class _RunnerThrough(CampaignRunner):
    """The campaign runner, stopping after step ``through`` (None: every step)."""

    def __init__(self, session: Session, campaign: Campaign, through: int | None, **kwargs: Any):
        super().__init__(session, campaign, **kwargs)
        self.through = through

    def remaining(self) -> list:
        return [s for s in super().remaining() if self.through is None or s.index <= self.through]


def _run_campaign(session: Session, campaign: Campaign, original: Original, notes: list[str]) -> None:
    originals = {int(start["step"]["index"]): start["uid"] for start in original.runs}
    runner = _RunnerThrough(session, campaign, original.through_step,
                            source=f"replay of campaign {original.campaign_id}")

    def mark(step: Any, todo: list) -> None:
        session.RE.md["replay_of_campaign"] = original.campaign_id
        if step.index in originals:
            session.RE.md["replay_of"] = originals[step.index]
        else:
            session.RE.md.pop("replay_of", None)

    try:
        runner.run(on_step=mark)
    except CampaignStopped as stopped:
        notes.append(f"the replay stopped: {stopped.reason}")
        logger.info("replay of campaign %s stopped", original.campaign_id, exc_info=True)


def _run_single(session: Session, start: dict[str, Any], notes: list[str]) -> None:
    md = {**replay_metadata(start, session.RE.md), "replay_of": start["uid"]}
    rebuilt = rebuild_plan(start, session.devices, session.clock, md)
    notes.extend(rebuilt.notes)
    try:
        session.RE(rebuilt.plan)
    except SimslabError as err:
        notes.append(f"the replay failed: {err}")
        logger.info("replay of run %s failed", start["uid"], exc_info=True)


def _compare(catalog: Catalog, original: Original, made: list[dict[str, Any]]) -> tuple[RunComparison, ...]:
    replays = {start.get("replay_of"): start["uid"] for start in made}
    found = []
    for start in original.runs:
        uid = replays.get(start["uid"])
        found.append(compare_runs(_step_label(start), catalog.run(start["uid"]),
                                  catalog.run(uid) if uid is not None else None))
    return tuple(found)


def _step_label(start: Mapping[str, Any]) -> str:
    step = start.get("step")
    if isinstance(step, Mapping) and "index" in step:
        return f"step {step['index']} {step.get('kind', '')}".rstrip()
    return str(start.get("plan_name", "run"))
