"""The simulated lab: one world per session, advanced lazily to the session clock.

The world holds the cryo stage, the furnace, the tracer sample and where it is, the operando
cell, the SIMS and its per-region dose ledger, and the fault injector. Nothing runs in the
background: every public method first brings the world to ``clock.now()`` (under a lock, as
protocol peers call in from their own threads), so waiting costs no wall time on a virtual
clock. World events (a transfer ending, an image capture, an injected fault) are applied in
time order as the world passes them.

The sample's temperature is its location's actual one (stage and furnace transients, a
run-out included); the exchange bath holds its immersed edge at the bath's 6Li fraction.
Every component draws from its own stream of ``np.random.SeedSequence(params.seed)``
(sample, imager, cell, faults), so the same seed and plan give the same documents whatever
the order of calls across components, and reads never change the trajectory (see
:mod:`~simslab.simulators.grid_model`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from simslab.clock import Clock
from simslab.devices.drivers.protocols import (
    SAMPLE_LOCATIONS,
    AcquisitionRequest,
    AcquisitionResult,
    AcquisitionState,
)
from simslab.errors import InstrumentError
from simslab.simulators.acquisition import CAPTURES, Acquisition
from simslab.simulators.cell import Cell
from simslab.simulators.cell_windows import CELL_REGIONS, CellWindows
from simslab.simulators.cryo_stage import CryoStage
from simslab.simulators.faults import FaultInjector, PhysicalFaultEvent
from simslab.simulators.furnace import Furnace
from simslab.simulators.lab_state import load_state, save_state
from simslab.simulators.parameters import TwinParameters
from simslab.simulators.sample_history import SampleHistory, ThermalSegment
from simslab.simulators.sims_image import SimsImager, tracer_yield_maps
from simslab.simulators.tracer_sample import TracerSample

__all__ = ["SimulatedLab", "TRACER_REGION", "REGIONS", "IN_TRANSFER"]

logger = logging.getLogger(__name__)

TRACER_REGION = "diffusion_window"
REGIONS = (TRACER_REGION, *CELL_REGIONS)
IN_TRANSFER = "in_transfer"
_STREAMS = ("sample", "imager", "cell", "faults")
_SNAPSHOT_VERSION = 1


class SimulatedLab:
    """The simulated world of one session, on ``clock`` (virtual or manual)."""

    def __init__(self, params: TwinParameters, clock: Clock):
        self.params, self.clock = params, clock
        self._lock = threading.RLock()
        self.start_s = self._time_s = clock.now()
        seeds = dict(zip(_STREAMS, np.random.SeedSequence(params.seed).spawn(len(_STREAMS)), strict=True))
        self._rngs = {name: np.random.default_rng(seeds[name]) for name in ("sample", "imager", "cell")}
        self.stage = CryoStage(params.stage, self.start_s)
        self.furnace = Furnace(params.furnace, self.start_s)
        self.cell = Cell(params.cell, self.start_s)
        self.cell_windows = CellWindows(params.cell, params.sims, self._rngs["cell"])
        self.sample = TracerSample(params.sample, params.diffusion, params.exchange, self._rngs["sample"])
        self.imager = SimsImager(params.sims, self._rngs["imager"])
        self.faults = FaultInjector(params.faults, seeds["faults"], self.start_s)
        self._location = "storage"
        self._transfer: tuple[str, float] | None = None  # (destination, arrival epoch s)
        self._locations: list[tuple[float, str]] = [(self.start_s, "storage")]
        self._history = SampleHistory(self.start_s)
        self._acquisition: Acquisition | None = None
        self._dose: dict[str, float] = dict.fromkeys(REGIONS, 0.0)
        self._models = (self.stage, self.furnace, self.cell)
        self._settled: tuple[float, tuple[Any, ...]] | None = None  # see _settled_at

    @contextmanager
    def at_now(self) -> Iterator[float]:
        """Hold the world's lock, bring it to ``clock.now()`` and yield that time (epoch s)."""
        with self._lock:
            now = self.clock.now()
            yield now if self._settled_at(now) else self._advance()

    # --- the tracer sample -----------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the sample is: one of SAMPLE_LOCATIONS, or 'in_transfer'."""
        with self.at_now():
            return self._location

    def request_transfer(self, location: str, note: str = "") -> None:
        """Start moving the sample to ``location``; it spends ``transfer_s`` at room temperature."""
        if location not in SAMPLE_LOCATIONS:
            raise ValueError(f"location must be one of {SAMPLE_LOCATIONS}, got {location!r}")
        with self.at_now() as now:
            if self._transfer is not None:
                raise InstrumentError("sample_handler", f"transfer to {location}", None, "a transfer is in progress")
            if location == self._location:
                return
            self._change_location(now, IN_TRANSFER)
            self._transfer = (location, now + self.params.transfer_s)
            logger.info("sample leaves %s for %s %s", self._locations[-2][1], location, note)
            self._advance()

    def transfer_complete(self) -> bool:
        """Return True once the last requested transfer has arrived."""
        with self.at_now():
            return self._transfer is None

    def sample_temperature_k(self) -> float:
        """Return the sample's temperature now, in K (its location's actual temperature)."""
        with self.at_now() as now:
            return self._location_temperature_k(self._location, now)

    def sample_thermal_history(self) -> list[ThermalSegment]:
        """Return the sample's committed thermal history since the start, merged within 2 K."""
        with self.at_now():
            return list(self._history.log)

    def location_history(self) -> list[tuple[float, str]]:
        """Return (epoch s, location) of every location change since the start."""
        with self.at_now():
            return list(self._locations)

    def updated_sample(self) -> TracerSample:
        """Return the tracer sample with its history replayed up to the last committed time.

        For ground truth (profiles, grains). Replaying cuts the pending history where the
        plan's images would not, which changes later results in their last bits: a run that
        must repeat bit for bit reads ground truth only at its end.
        """
        with self.at_now():
            self._replay_sample(self._history.end_s)
            return self.sample

    # --- the SIMS --------------------------------------------------------------------------------

    def start_acquisition(self, request: AcquisitionRequest) -> None:
        """Start an acquisition now; refuse if one runs or the region is not in the chamber."""
        with self.at_now() as now:
            command = f"start {request.kind} on {request.region}"
            if self._acquisition is not None and self._acquisition.state == "running":
                raise InstrumentError("sims", command, None, "an acquisition is already running")
            if request.region not in REGIONS:
                raise InstrumentError("sims", command, None, f"unknown region; the twin has {REGIONS}")
            if request.region == TRACER_REGION and self._location != "cryo_stage":
                raise InstrumentError("sims", command, None, f"no sample on the SIMS stage (it is {self._location})")
            if request.integration_s <= 0 or request.primary.current_a < 0:
                raise InstrumentError("sims", command, None, "integration_s must be > 0 and the current >= 0")
            self._acquisition = Acquisition(request, now)
            self._advance()

    def acquisition_state(self) -> AcquisitionState:
        """Return the state of the current or last acquisition."""
        with self.at_now() as now:
            acq = self._acquisition
            if acq is None:
                return AcquisitionState("idle")
            end = acq.ended_s if acq.ended_s is not None else now
            return AcquisitionState(acq.state, end - acq.started_s, acq.message)  # type: ignore[arg-type]

    def fetch_result(self) -> AcquisitionResult:
        """Return the counts of the finished acquisition (built once, then kept)."""
        with self.at_now():
            acq = self._acquisition
            if acq is None or acq.state != "done":
                state = "none" if acq is None else acq.state
                raise InstrumentError("sims", "fetch result", None, f"no finished acquisition (state {state})")
            if acq.result is None:
                tracer = acq.request.region == TRACER_REGION
                pixel_size_m = self.sample.pixel_size_m if tracer else self.cell_windows.pixel_size_m
                maps = acq.mean_maps()
                acq.result = self.imager.acquire(acq.request, maps, pixel_size_m, acq.started_s, acq.finished_s)
                acq.result.metadata.update({"region": acq.request.region, "simulated": True, **acq.notes})
            return acq.result

    def abort_acquisition(self, message: str = "aborted by the host") -> None:
        """Stop the running acquisition now (the beams blank); no-op if none runs."""
        with self.at_now() as now:
            self._end_acquisition(now, "aborted", message)

    def dose_ions_per_m2(self, region: str | None = None) -> float | dict[str, float]:
        """Return the primary-ion dose ledger in ions/m^2: of one region, or all of them."""
        with self.at_now():
            return dict(self._dose) if region is None else self._dose[region]

    # --- state -----------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Return the whole world at the present clock time as plain data and arrays.

        Non-mutating: taking a snapshot never changes the continuation.
        """
        with self.at_now() as now:
            return {
                "version": _SNAPSHOT_VERSION,
                "params": self.params.model_dump(mode="json"),
                "time_s": now,
                "start_s": self.start_s,
                "rngs": {name: rng.bit_generator.state for name, rng in self._rngs.items()},
                "stage": self.stage.snapshot(),
                "furnace": self.furnace.snapshot(),
                "cell": self.cell.snapshot(),
                "sample": self.sample.snapshot(),
                "faults": self.faults.snapshot(),
                "location": self._location,
                "transfer": list(self._transfer) if self._transfer else None,
                "locations": [list(item) for item in self._locations],
                "history": self._history.snapshot(),
                "acquisition": self._acquisition.snapshot() if self._acquisition else None,
                "dose": dict(self._dose),
            }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put the world back to a :meth:`snapshot` of a lab with the same parameters.

        The clock must not be earlier than the snapshot's ``time_s``; the world continues
        from there as the original would have.
        """
        with self._lock:
            if snapshot.get("version") != _SNAPSHOT_VERSION:
                raise ValueError(f"snapshot version {snapshot.get('version')} is not {_SNAPSHOT_VERSION}")
            if snapshot["params"] != self.params.model_dump(mode="json"):
                raise ValueError("the snapshot was taken with other twin parameters")
            if self.clock.now() < snapshot["time_s"]:
                raise ValueError(f"the clock ({self.clock.now()}) is before the snapshot ({snapshot['time_s']})")
            for name, rng in self._rngs.items():
                rng.bit_generator.state = snapshot["rngs"][name]
            self.start_s, self._time_s = float(snapshot["start_s"]), float(snapshot["time_s"])
            self.stage.restore(snapshot["stage"])
            self.furnace.restore(snapshot["furnace"])
            self.cell.restore(snapshot["cell"])
            self.sample.restore(snapshot["sample"])
            self.faults.restore(snapshot["faults"])
            self._location = snapshot["location"]
            self._transfer = (snapshot["transfer"][0], float(snapshot["transfer"][1])) if snapshot["transfer"] else None
            self._locations = [(float(t), str(where)) for t, where in snapshot["locations"]]
            self._history.restore(snapshot["history"])
            acq = snapshot["acquisition"]
            self._acquisition = Acquisition.from_snapshot(acq) if acq is not None else None
            self._dose = {region: float(dose) for region, dose in snapshot["dose"].items()}
            self._settled = None

    def save(self, path: str | Path) -> Path:
        """Write :meth:`snapshot` to an .npz file at ``path``; return the path written."""
        return save_state(self.snapshot(), path)

    def load(self, path: str | Path) -> None:
        """Restore the world from a file written by :meth:`save`."""
        self.restore(load_state(path))

    # --- the world's clockwork -------------------------------------------------------------------

    def _advance(self) -> float:
        now = self.clock.now()
        if now < self._time_s:
            raise RuntimeError(f"the clock went back from {self._time_s} to {now}")
        while True:
            event_s = self._next_event_s()
            if event_s > now:
                break
            self._apply_events(event_s)
        for model in self._models:
            model.advance_to(now)
        self._collect_history(now)
        self._time_s = now
        self._settled = (now, tuple(model.state for model in self._models))
        return now

    def _settled_at(self, now: float) -> bool:
        """Return True if the world was advanced to ``now`` and no model changed since.

        Then advancing again would change nothing: every event up to ``now`` is applied, the
        models are committed and their traces collected. A device reads several signals at
        one virtual instant, so most calls find the world settled. A model's committed state
        is a frozen dataclass that every change replaces, hence the identity test; changes
        to the world itself (a transfer, an acquisition) advance it explicitly.
        """
        settled = self._settled
        return (
            settled is not None
            and settled[0] == now
            and all(model.state is state for model, state in zip(self._models, settled[1], strict=True))
        )

    def _next_event_s(self) -> float:
        times = [self.faults.next_event_s()]
        if self._transfer is not None:
            times.append(self._transfer[1])
        if self._acquisition is not None:
            times.append(self._acquisition.next_event_s())
        return min(times)

    def _apply_events(self, time_s: float) -> None:
        """Apply every world event due at ``time_s``."""
        for event in self.faults.pop_due(time_s):
            self._apply_fault(event)
        if self._transfer is not None and self._transfer[1] <= time_s:
            destination, self._transfer = self._transfer[0], None
            self._change_location(time_s, destination)
        acq = self._acquisition
        while acq is not None and acq.state == "running" and acq.next_event_s() <= time_s:
            if acq.captures_done < CAPTURES:
                region = acq.request.region
                cell_maps = None if region == TRACER_REGION else self._cell_maps(region, time_s)
                acq.pass_capture(cell_maps)  # the tracer's captures wait for the end: see below
            else:
                if acq.request.region == TRACER_REGION:
                    self._capture_tracer(acq)
                self._end_acquisition(time_s, "done", "")

    def _apply_fault(self, event: PhysicalFaultEvent) -> None:
        t, onset = event.time_s, event.phase == "onset"
        if event.kind == "thermocouple_break":
            self.furnace.set_sensor_break(t, onset)
        elif event.kind == "heater_fail":
            self.furnace.set_heater_fail(t, onset)
        elif event.kind == "ln2_runout":
            self.stage.run_out(t, event.duration_s)
        elif event.kind == "compliance":
            self.cell.set_contact_fault(t, onset)
        elif event.kind == "sims_abort":
            if self._acquisition is None or self._acquisition.state != "running":
                logger.debug("sims_abort at %s: no acquisition running, nothing to abort", t)
                return
            self._end_acquisition(t, "aborted", "the instrument aborted the acquisition (injected)")
        if onset:
            detail = "until reset" if event.duration_s is None else f"for {event.duration_s:g} s"
            self.faults.record(t, event.kind, event.device, detail)

    def _end_acquisition(self, time_s: float, state: str, message: str) -> None:
        acq = self._acquisition
        if acq is None or acq.state != "running":
            return
        acq.state, acq.ended_s, acq.message = state, time_s, message
        self._dose[acq.request.region] += acq.dose_ions_per_m2(time_s)
        request = acq.request
        elapsed_s = time_s - acq.started_s
        logger.info("acquisition %s on %s %s after %.0f s", request.output_name, request.region, state, elapsed_s)

    def _cell_maps(self, region: str, time_s: float) -> dict[str, np.ndarray]:
        return self.cell_windows.yield_maps(region, self.cell, self.cell.state_at(time_s))

    def _capture_tracer(self, acq: Acquisition) -> None:
        """Capture the tracer window over the finished analysis (the world is at its end).

        Replaying the sample's window is the costly part of the twin, so when the sample's
        temperature stayed within the history's 2 K over the analysis one capture at its
        middle stands for the average; otherwise the four capture times are replayed in turn.
        """
        self._commit_location_model(acq.finished_s)
        self._collect_history(acq.finished_s)
        during = [s for s in self._history.pending if s.end_s > acq.analysis_start_s and s.start_s < acq.finished_s]
        spread_k = max((s.max_k for s in during), default=0.0) - min((s.min_k for s in during), default=0.0)
        if spread_k <= self._history.tolerance_k:
            times = [0.5 * (acq.analysis_start_s + acq.finished_s)]
        else:
            times = acq.capture_times_s()
        if during:
            acq.notes["sample_temperature_min_k"] = min(s.min_k for s in during)
            acq.notes["sample_temperature_max_k"] = max(s.max_k for s in during)
        acq.notes["window_captures"] = len(times)
        for time_s in times:
            self._replay_sample(time_s)
            acq.add_maps(tracer_yield_maps(self.sample.window_fraction, self.params.sims))

    def _change_location(self, time_s: float, location: str) -> None:
        """Move the sample at ``time_s``, its history complete up to then."""
        self._commit_location_model(time_s)
        self._collect_history(time_s)
        if self._acquisition is not None and self._acquisition.request.region == TRACER_REGION:
            self._end_acquisition(time_s, "failed", "the sample left the SIMS stage during the acquisition")
        self._location = location
        self._commit_location_model(time_s)
        self.stage.drain_trace(), self.furnace.drain_trace()
        self._locations.append((time_s, location))

    def _commit_location_model(self, time_s: float) -> None:
        model = {"cryo_stage": self.stage, "furnace": self.furnace}.get(self._location)
        if model is not None and model.committed_s < time_s:
            model.commit_to(time_s)

    def _collect_history(self, until_s: float) -> None:
        """Append the sample's history up to ``until_s`` (or its location model's committed time)."""
        stage_trace, furnace_trace = self.stage.drain_trace(), self.furnace.drain_trace()
        immersed = self._location == "exchange_bath"
        if self._location in ("cryo_stage", "furnace"):
            for start_s, end_s, mean_k in stage_trace if self._location == "cryo_stage" else furnace_trace:
                self._history.append(start_s, end_s, mean_k, immersed, self._location)
        else:
            temperature_k = self._location_temperature_k(self._location, until_s)
            self._history.append(self._history.end_s, until_s, temperature_k, immersed, self._location)

    def _replay_sample(self, until_s: float) -> None:
        for segment in self._history.pop_until(until_s):
            self.sample.advance(segment.duration_s, segment.temperature_k, segment.immersed)

    def _location_temperature_k(self, location: str, time_s: float) -> float:
        if location == "cryo_stage":
            return self.stage.state_at(time_s).temperature_k
        if location == "furnace":
            return self.furnace.state_at(time_s).temperature_k
        if location == "exchange_bath":
            return self.params.exchange.temperature_k
        return self.params.room_temperature_k
