"""The soak's checks: what the catalog holds after the last resume, against the launches' own logs.

Every count is a number of failures; each must be zero.

- ``runs_without_stop``: runs of the campaign in the catalog without a stop document.
- ``runs_missing``: runs a launch opened (its log holds the start) that the catalog lacks.
- ``readings_lost``: for every step run that stopped in success, the events the RunEngine
  emitted (per stream, seq_num and value) and the image frames it announced (StreamDatum
  indices per data key) that the catalog lacks or holds with other values.
- ``readings_lost_unfinished``: the same for runs that failed, were aborted or were killed
  (the journal must bring back everything emitted before a kill).
- ``steps_not_exactly_once``: planned steps with two or more successful runs, and, in a
  campaign whose last launch says it finished, steps with none.
- ``unsafe_end_states``: instruments (furnace, potentiostat, SIMS: see
  :mod:`benchmarks.soak_instruments`) found unsafe where the campaign left them to the next
  process or to the scientist: when a launch ends on its own (success, a fault that stopped
  the step, a crash), and after a kill, at the first run the resumed launch opens (or at its
  end if it opens none), once the kill's hazards were put back.
- ``campaigns_incomplete``: campaigns not finished when the soak stopped resuming them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from simslab.run_content import run_content

from .soak_log import LaunchLog

__all__ = ["CampaignCounts", "COUNT_NAMES", "check_campaign", "lost_readings", "steps_not_exactly_once",
           "unsafe_end_states"]

COUNT_NAMES = ("runs_without_stop", "runs_missing", "readings_lost", "readings_lost_unfinished",
               "unsafe_end_states", "campaigns_incomplete", "steps_not_exactly_once")


@dataclass
class CampaignCounts:
    """The counts of one campaign, and one line per failure saying what and where."""

    runs_without_stop: int = 0
    runs_missing: int = 0
    readings_lost: int = 0
    readings_lost_unfinished: int = 0
    unsafe_end_states: int = 0
    campaigns_incomplete: int = 0
    steps_not_exactly_once: int = 0
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}


def check_campaign(catalog_runs: dict[str, list[tuple[str, dict]]], launches: Sequence[LaunchLog],
                   planned_steps: Sequence[int], finished: bool) -> CampaignCounts:
    """Count the failures of one campaign.

    catalog_runs: each of the campaign's runs in the catalog, by uid, as documents read back;
    launches: the launch logs in order; planned_steps: the step indices the campaign plans;
    finished: the last launch exited 0 (it says the campaign is done).
    """
    counts = CampaignCounts(campaigns_incomplete=0 if finished else 1)
    if not finished:
        counts.problems.append("not finished when the soak stopped resuming it")
    contents = {uid: run_content(documents) for uid, documents in catalog_runs.items()}
    for uid, content in contents.items():
        if not content["stop"]:
            counts.runs_without_stop += 1
            counts.problems.append(f"run {uid[:8]} (step {_step(content)}) has no stop document")
    for log in launches:
        for uid, documents in log.runs().items():
            logged = run_content(documents)
            success = logged["stop"].get("exit_status") == "success"
            if uid not in contents:
                counts.runs_missing += 1
                counts.problems.append(f"run {uid[:8]} (step {_step(logged)}) is not in the catalog")
                continue
            lost = lost_readings(logged, contents[uid])
            if lost:
                counts.problems.append(f"run {uid[:8]} (step {_step(logged)}): {lost} readings lost")
                if success:
                    counts.readings_lost += lost
                else:
                    counts.readings_lost_unfinished += lost
    repeated = steps_not_exactly_once(contents.values(), planned_steps, finished)
    counts.steps_not_exactly_once = len(repeated)
    counts.problems += [f"step {index} has {n} successful runs" for index, n in repeated.items()]
    unsafe = unsafe_end_states(launches)
    counts.unsafe_end_states = len(unsafe)
    counts.problems += unsafe
    return counts


def lost_readings(logged: dict[str, Any], stored: dict[str, Any]) -> int:
    """Return how many of ``logged``'s events and image frames ``stored`` lacks (run contents).

    An event counts once if the catalog has no event of its stream with its seq_num and the
    same value for every data key it carried; a frame counts once per missing index.
    """
    lost = 0
    for stream, content in logged["streams"].items():
        held = Counter(_event_key(event) for event in stored["streams"].get(stream, {}).get("events", []))
        for event in content["events"]:
            key = _event_key(event)
            if held[key] > 0:
                held[key] -= 1
            else:
                lost += 1
    for data_key, indices in logged["stream_indices"].items():
        lost += len(set(indices) - set(stored["stream_indices"].get(data_key, [])))
    return lost


def steps_not_exactly_once(contents: Iterable[dict[str, Any]], planned_steps: Sequence[int],
                           finished: bool) -> dict[int, int]:
    """Return {step index: successful runs} for the steps repeated, and (if ``finished``) those never done."""
    successes = Counter(_step(c) for c in contents if c["stop"].get("exit_status") == "success")
    wrong = {index: n for index, n in successes.items() if n > 1}
    if finished:
        wrong.update({index: 0 for index in planned_steps if successes[index] == 0})
    return dict(sorted(wrong.items(), key=lambda item: str(item[0])))


def unsafe_end_states(launches: Sequence[LaunchLog]) -> list[str]:
    """Return one line per instrument found unsafe where a launch left the campaign (see the module docstring)."""
    found = []
    killed_before = False
    for number, log in enumerate(launches):
        checks = []
        if killed_before:
            first = log.state("first_start") or log.state("exit")
            if first is not None:
                checks.append(("after the kill, when the resume opened its first run", first))
        if log.exit_code is not None and log.state("exit") is not None:
            checks.append((f"when launch {number} ended (exit {log.exit_code})", log.state("exit")))
        for where, state in checks:
            found += [f"launch {number}: {instrument} not safe {where}" for instrument in state.unsafe()]
        killed_before = log.exit_code is None
    return found


def _event_key(event: dict[str, Any]) -> tuple[int, str]:
    return event["seq_num"], json.dumps(event["data"], sort_keys=True)


def _step(content: dict[str, Any]) -> Any:
    return (content["start"].get("step") or {}).get("index")
