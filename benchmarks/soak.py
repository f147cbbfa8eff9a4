"""``simslab soak``: campaigns with injected faults and hard kills, resumed until done, then checked.

For each of N campaigns (:file:`benchmarks/soak_campaign.yaml`: exchange, cryo-SIMS, anneal,
cryo-SIMS, one operando cycle; ~20 s of wall time each), the seed draws the twin's faults and
the kills (:mod:`.soak_draw`). The campaign then runs as a user runs it, ``simslab run`` in a
child process (:mod:`.soak_child`, which also writes an independent log of every document and
of the instruments' hazards), SIGKILLed at its kill point (:mod:`.soak_launch`), and
``simslab run --resume`` follows until the campaign is done. Each campaign has its own data
directory (one campaign's damage cannot hide in another's), seeded with an empty initialised
catalog so that no launch pays tiled's catalog initialisation.

The resume policy is what a scientist does with ``simslab run``:

- after a kill: resume (the kill's hazards are first put back into the twin, see
  :mod:`.soak_instruments`); a kill before the campaign's first run opened leaves nothing to
  resume, so the campaign file is run again;
- after a step stopped by a fault (exit 2, the stop document says why, the instruments are
  safe): resume, up to ``max_fault_resumes`` times; a resume that stops at the same step for
  the same reason without finishing any step is a repeat, and the campaign is given up;
- after a crash (any other exit): resume, as after a fault;
- a launch running longer than ``launch_timeout_s`` is killed and the campaign given up.

The checks (:mod:`.soak_checks`) read the catalog after the last launch (without recovering
anything: that is the resume's job) and compare it with the launch logs. The report
(:func:`run_soak`) holds the counts, which must all be zero, and what was injected.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simslab.campaign import plan_steps, validate_campaign
from simslab.catalog import Catalog
from simslab.profile import EmbeddedCatalogSettings, deep_merge, load_profile, load_yaml

from .repository import REPOSITORY, SIM_PROFILE
from .soak_checks import COUNT_NAMES, CampaignCounts, check_campaign
from .soak_draw import CampaignDraw, draw_campaign
from .soak_launch import LaunchResult, launch
from .soak_log import LaunchLog, read_launch_log

__all__ = ["SoakConfig", "run_soak", "write_report", "give_up_reason", "SOAK_CAMPAIGN", "CAMPAIGN_DOCUMENTS",
           "CAMPAIGN_REQUESTS", "CAMPAIGN_VIRTUAL_S"]

logger = logging.getLogger(__name__)

SOAK_CAMPAIGN = Path(__file__).resolve().parent / "soak_campaign.yaml"
CAMPAIGN_DOCUMENTS = 2200
"""About how many documents the soak campaign emits when nothing goes wrong (measured: 2140)."""
CAMPAIGN_REQUESTS = 180
"""About how many catalog requests a launch running it through makes when nothing goes wrong (measured: 178)."""
CAMPAIGN_VIRTUAL_S = 34_000.0
"""The soak campaign's virtual duration (measured: 34.2 ks, exchange start to operando end). Timed
faults are drawn within it; the planner's estimate (42.7 ks) is an upper bound, mostly because the
operando cycle reaches its cutoff early, and a fault drawn after the campaign's end never fires."""
SMALL_TRACER_WINDOW = {"window_size_m": [64e-6, 32e-6], "window_pixels": [64, 32]}
"""The twin's tracer window, shrunk as in the tests: its cost, not its physics, scales with the pixels."""


@dataclass(frozen=True)
class SoakConfig:
    """How many campaigns, from which seed, where (None: a temporary directory, removed afterwards)."""

    campaigns: int
    seed: int
    work_dir: Path | None = None
    max_fault_resumes: int = 4
    launch_timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.campaigns < 1:
            raise ValueError(f"campaigns = {self.campaigns} is not allowed: >= 1")
        if self.seed < 0:
            raise ValueError(f"seed = {self.seed} is not allowed: >= 0")
        if self.max_fault_resumes < 0 or self.launch_timeout_s <= 0:
            raise ValueError("max_fault_resumes must be >= 0 and launch_timeout_s > 0 s")


def run_soak(config: SoakConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Soak ``config.campaigns`` campaigns one after the other; return the report (see :func:`summarize`)."""
    started = time.perf_counter()
    say = progress or (lambda message: None)
    rng = np.random.default_rng(config.seed)
    with _work_directory(config.work_dir) as work:
        template = _empty_catalog(work / "template")
        spec = load_yaml(SOAK_CAMPAIGN)
        campaign = validate_campaign(spec, load_profile(SIM_PROFILE), str(SOAK_CAMPAIGN))
        steps = plan_steps(campaign, load_profile(SIM_PROFILE))
        outcomes = []
        for number in range(config.campaigns):
            draw = draw_campaign(rng, f"soak-{config.seed}-{number:03d}", CAMPAIGN_VIRTUAL_S, CAMPAIGN_DOCUMENTS,
                                 CAMPAIGN_REQUESTS)
            say(f"campaign {number + 1}/{config.campaigns} {draw.campaign_id}: {len(draw.faults)} fault(s), "
                f"kills {', '.join(k.describe() for k in draw.kills)}")
            outcome = _CampaignSoak(draw, work / draw.campaign_id, template, spec, config).run([s.index for s in steps])
            say(f"  {outcome['launches'][-1]['ended']} after {len(outcome['launches'])} launch(es), "
                f"{outcome['wall_s']:.0f} s; " + (", ".join(outcome["problems"][:3]) or "all checks hold"))
            outcomes.append(outcome)
    return summarize(config, outcomes, time.perf_counter() - started)


def summarize(config: SoakConfig, outcomes: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """Return the report: counts (all must be 0), what was injected, resumes, wall time, per-campaign details."""
    counts = {name: sum(o["counts"][name] for o in outcomes) for name in COUNT_NAMES}
    launches = [launch_ for o in outcomes for launch_ in o["launches"]]
    return {
        "campaigns": config.campaigns,
        "seed": config.seed,
        "counts": counts,
        "pass": not any(counts.values()),
        "faults_injected": dict(sorted(sum((Counter(o["faults_injected"]) for o in outcomes), Counter()).items())),
        "faults_drawn": dict(sorted(Counter(f["kind"] for o in outcomes for f in o["draw"]["faults"]).items())),
        "kills": sum(launch_["ended"] == "killed" for launch_ in launches),
        "kills_with_hazards_on": sum(bool(launch_.get("hazards_at_kill")) for launch_ in launches),
        "fault_stops": sum(launch_["ended"] == "stopped" for launch_ in launches),
        "resumes": len(launches) - len(outcomes),
        "wall_s": round(wall_s, 1),
        "details": outcomes,
    }


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write the report as JSON to ``path`` (parents created); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return path


class _CampaignSoak:
    """One campaign: its files, its launches until done or given up, its checks."""

    def __init__(self, draw: CampaignDraw, directory: Path, template: Path, spec: dict[str, Any],
                 config: SoakConfig):
        self.draw, self.directory, self.config = draw, directory, config
        self.data = directory / "data"
        shutil.rmtree(directory, ignore_errors=True)  # a work directory used before: start afresh
        self.data.mkdir(parents=True)
        shutil.copy(template, self.data / "catalog.db")
        self.profile = directory / "profile.yaml"
        overrides = {"live": {"progress": False}, "catalog": {"kind": "embedded", "directory": str(self.data)},
                     "twin": {"seed": draw.twin_seed, "faults": list(draw.faults), "sample": SMALL_TRACER_WINDOW}}
        self.profile.write_text(yaml.safe_dump(deep_merge(load_yaml(SIM_PROFILE), overrides), sort_keys=False))
        self.spec = directory / "campaign.yaml"
        self.spec.write_text(yaml.safe_dump({**spec, "campaign_id": draw.campaign_id}, sort_keys=False))
        self.env = {**os.environ, "SIMSLAB_DATA": str(self.data),
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))}

    def run(self, planned_steps: list[int]) -> dict[str, Any]:
        started = time.perf_counter()
        logs: list[LaunchLog] = []
        launches: list[dict[str, Any]] = []
        impose: Path | None = None
        fault_resumes = 0
        problems: list[str] = []
        budget = len(self.draw.kills) + self.config.max_fault_resumes + 1
        for number in range(budget):
            started_before = any(name == "start" for log in logs for name, _ in log.documents)
            result, log = self._launch(number, impose, resume=started_before)
            logs.append(log)
            record = _describe(result, log, self.directory / f"launch-{number:02d}.out")
            launches.append(record)
            if record["ended"] == "killed":
                if log.states:  # killed before its session was built: the earlier hazards are still on
                    impose = self._kill_state(number, log)
                continue
            impose = None
            if record["ended"] == "finished":
                break
            if record["ended"] == "timed out":
                problems.append(f"launch {number} ran longer than {self.config.launch_timeout_s:g} s and was killed")
                break
            fault_resumes += 1
            problem = give_up_reason(launches, fault_resumes, self.config.max_fault_resumes)
            if problem is not None:
                problems.append(problem)
                break
        counts = self._check(logs, planned_steps, finished=launches[-1]["ended"] == "finished")
        faults = {(f["time_s"], f["kind"], f["device"], f["detail"]) for log in logs for f in log.faults}
        return {
            "campaign_id": self.draw.campaign_id,
            "draw": self.draw.to_dict(),
            "launches": launches,
            "faults_injected": dict(Counter(kind for _, kind, _, _ in faults)),
            "counts": counts.counts(),
            "problems": problems + counts.problems,
            "wall_s": round(time.perf_counter() - started, 1),
        }

    def _launch(self, number: int, impose: Path | None, resume: bool) -> tuple[LaunchResult, LaunchLog]:
        """Start the campaign from its file until a run of it was opened, then resume it by id."""
        log = self.directory / f"launch-{number:02d}.jsonl"
        command = ["run", "--resume", self.draw.campaign_id] if resume else ["run", str(self.spec)]
        argv = [sys.executable, "-m", "benchmarks.soak_child", str(log)]
        argv += ["--impose", str(impose)] if impose is not None else []
        argv += ["--", *command, "--profile", str(self.profile)]
        kill = self.draw.kills[number] if number < len(self.draw.kills) else None
        result = launch(argv, log=log, output=self.directory / f"launch-{number:02d}.out", env=self.env,
                        cwd=self.directory, kill=kill, timeout_s=self.config.launch_timeout_s)
        return result, read_launch_log(log)

    def _kill_state(self, number: int, log: LaunchLog) -> Path | None:
        """Write the hazards the kill left on for the next launch to put back; None if it left none."""
        state = log.last_state()
        if state is None or not state.unsafe():
            return None
        path = self.directory / f"kill-state-{number:02d}.json"
        path.write_text(json.dumps(state.to_dict()))
        return path

    def _check(self, logs: list[LaunchLog], planned_steps: list[int], finished: bool) -> CampaignCounts:
        catalog = Catalog.open(EmbeddedCatalogSettings(directory=self.data))
        try:
            runs = {run.metadata["start"]["uid"]: list(run.documents())
                    for run in catalog.campaign_runs(self.draw.campaign_id)}
        finally:
            catalog.close()
        return check_campaign(runs, logs, planned_steps, finished)


def _describe(result: LaunchResult, log: LaunchLog, output: Path) -> dict[str, Any]:
    """Return one launch as the report shows it: how it ended, the failed step's stop, the steps it finished."""
    if result.killed:
        ended = "killed"
    elif result.timed_out:
        ended = "timed out"
    else:
        ended = {0: "finished", 2: "stopped"}.get(result.exit_code, f"crashed (exit {result.exit_code})")
    stops = [doc for name, doc in log.documents if name == "stop"]
    starts = {doc["uid"]: doc for name, doc in log.documents if name == "start"}
    record: dict[str, Any] = {
        "ended": ended, "documents": result.documents, "requests": result.requests, "wall_s": round(result.wall_s, 1),
        "steps_done": [starts[s["run_start"]]["step"]["index"] for s in stops if s["exit_status"] == "success"
                       and s["run_start"] in starts],
    }
    failed = [s for s in stops if s["exit_status"] != "success" and s["run_start"] in starts]
    if ended != "killed" and failed:
        step = starts[failed[-1]["run_start"]]["step"]["index"]
        record["stop"] = f"step {step}: {failed[-1]['exit_status']}: {failed[-1].get('reason', '')}"
    lines = [line for line in output.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if ended != "killed" and errors:
        record["error"] = errors[-1]
    elif ended.startswith("crashed") and lines:
        record["error"] = lines[-1]  # a traceback's last line names the exception
    if ended == "killed":
        state = log.last_state()
        record["hazards_at_kill"] = state.unsafe() if state is not None else []
    if log.imposed:
        record["imposed"] = log.imposed
    return record


def give_up_reason(launches: list[dict[str, Any]], fault_resumes: int, max_fault_resumes: int) -> str | None:
    """Why a campaign whose last launch ended on its own, unfinished, is given up; None: resume it.

    A repeat is the same failure (stop and error line) as the launch before, which also ended on
    its own, without a step finished in between; a killed launch before it has no failure to repeat.
    """
    record, number = launches[-1], len(launches) - 1
    previous = launches[-2] if len(launches) > 1 else None
    if (previous is not None and previous["ended"] != "killed" and _failure(previous) == _failure(record)
            and not record["steps_done"]):
        return (f"launch {number} repeated launch {number - 1}'s failure "
                f"({record.get('stop') or record.get('error')}): the resume replays it")
    if fault_resumes > max_fault_resumes:
        return f"still failing after {max_fault_resumes} resumes ({record.get('stop') or record.get('error')})"
    return None


def _failure(record: dict[str, Any]) -> tuple[Any, Any]:
    """What a launch that ended on its own failed with: the failed step's stop, and the CLI's error line."""
    return record.get("stop"), record.get("error")


def _empty_catalog(directory: Path) -> Path:
    """Create an empty, initialised embedded catalog once; return its database file (copied per campaign)."""
    Catalog.open(EmbeddedCatalogSettings(directory=directory)).close()
    return directory / "catalog.db"


@contextmanager
def _work_directory(given: Path | None) -> Iterator[Path]:
    """Yield the given directory (kept), or a temporary one (removed afterwards)."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="simslab-soak-") as name:
        yield Path(name)
