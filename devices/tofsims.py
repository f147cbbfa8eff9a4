"""The ToF-SIMS acquisition as a bluesky detector writing HDF5 (StreamResource/StreamDatum).

Configuration signals say how an acquisition is taken (kind, region, primary beam, raster,
pixels, integration time, mass list, sputter and cleaning beams, flood gun); they go into
``read_configuration`` and each acquisition's request is also kept in the HDF5 file beside its
frame. ``trigger()`` builds an :class:`AcquisitionRequest`, refuses it if it would exceed the
region's dose budget, starts it, polls the driver every ``settings.poll_s`` until done, fetches
the counts and appends one frame per mass to the run's HDF5 file (:mod:`.sims_writer`).

Data keys are safe names (``sims-Li6`` for "6Li+") carrying the label and m/z in the datakey.
Changing the kind, pixels or masses changes the data keys' shapes: take such acquisitions in
a new run (the writer refuses a data key whose frames change shape within one run's file).
``bps.configure(sims, region=..., ...)`` changes settings and makes bluesky emit a new
descriptor with the new configuration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
from bluesky.protocols import Reading, Stoppable, StreamAsset, Triggerable, WritesStreamAssets
from event_model import DataKey
from scipy.constants import elementary_charge as ELEMENTARY_CHARGE_C
from ophyd_async.core import (
    Array1D,
    AsyncStatus,
    DeviceMock,
    PathProvider,
    SignalRW,
    StandardReadable,
    StrictEnum,
    default_mock_class,
    derived_signal_r,
    set_mock_value,
)
from ophyd_async.core import StandardReadableFormat as Format

from simslab.clock import Clock
from simslab.devices.drivers.protocols import (
    AcquisitionRequest,
    AcquisitionResult,
    AcquisitionState,
    Beam,
    MassChannel,
    SimsDriver,
)
from simslab.errors import InstrumentError, InstrumentTimeout, InterlockError, ValidationError

from .action import DeviceAction
from .clocked_signal import ClockedSoftSignalBackend, clocked_signal_r_and_setter, clocked_signal_rw
from .driver_port import DriverPort, SharedRead
from .driver_signal import DriverCommand, DriverConnector, callback_on_mock_call, driver_signal_r
from .settings import SimsSettings
from .sims_frames import (
    counts_as_uint32,
    expected_frame_shape,
    frame_dims,
    mass_data_key,
    request_record_json,
    stream_datakey,
)
from .sims_writer import SimsHdfWriter

__all__ = ["ToFSims", "ToFSimsMock", "AcquisitionKind", "AcquisitionPhase", "mass_data_key", "make_tofsims"]

logger = logging.getLogger(__name__)



class AcquisitionKind(StrictEnum):
    IMAGE = "image"
    LINE_SCAN = "line_scan"
    DEPTH_PROFILE = "depth_profile"
    SPECTRUM = "spectrum"


class AcquisitionPhase(StrictEnum):
    IDLE = "idle"
    RUNNING = "running"
    DONE = "done"
    ABORTED = "aborted"
    FAILED = "failed"


class ToFSimsMock(DeviceMock["ToFSims"]):
    """Mock behaviour: acquisitions finish at once with zero counts of the requested shape."""

    async def connect(self, device: ToFSims) -> None:
        set_mock_value(device.acquisition_state, AcquisitionPhase.IDLE)
        requests: list[AcquisitionRequest] = []

        def start(request: AcquisitionRequest) -> None:
            requests.append(request)
            set_mock_value(device.acquisition_state, AcquisitionPhase.DONE)

        def fetch() -> AcquisitionResult:
            request = requests[-1]
            shape = expected_frame_shape(request.kind, request.pixels, request.sputter_cycles) or (1,)
            counts = {m.label: np.zeros(shape, dtype=np.uint32) for m in request.masses}
            primary_ions = request.primary.current_a * request.integration_s / ELEMENTARY_CHARGE_C
            return AcquisitionResult(counts, primary_ions, 0.0, request.integration_s)

        callback_on_mock_call(device.start_acquisition, start)
        callback_on_mock_call(device.fetch_result, fetch)


@default_mock_class(ToFSimsMock)
class ToFSims(StandardReadable, Triggerable, WritesStreamAssets, Stoppable):
    """The ToF-SIMS. Read per trigger: one HDF5-backed key per mass (counts), ``dose`` (the
    region's accumulated dose, ions/m^2), ``primary_ions``, ``elapsed`` (s) and ``acquired_region``
    of the last acquisition. Not read: acquisition_state, acquisition_elapsed (s),
    acquisition_message (the driver's view while one runs). Configuration: kind, region,
    raster_x/raster_y (m), pixels_x/pixels_y, primary_species/energy (eV)/current (A),
    integration_time (s), mass_labels, masses_u (u), sputter_* (species, energy, current,
    raster_x/y, cycles, time), cleaning_* (species, energy, current, raster_x/y, time), flood_gun.
    A beam whose species is empty is not used.
    """

    def __init__(
        self,
        driver: SimsDriver | None,
        settings: SimsSettings,
        clock: Clock,
        path_provider: PathProvider,
        name: str = "",
    ) -> None:
        self.settings = settings
        self._clock = clock
        port = DriverPort(driver, "sims")
        state = SharedRead[AcquisitionState](port, lambda d: d.read_acquisition())
        acq = settings.acquisition
        self._config_backends: dict[str, ClockedSoftSignalBackend] = {}
        config = self._config_signal
        with self.add_children_as_readables(Format.CONFIG_SIGNAL):
            self.kind = config("kind", AcquisitionKind, AcquisitionKind(acq.kind), "")
            self.region = config("region", str, acq.region, "")
            self.raster_x = config("raster_x", float, acq.primary.raster_m[0], "m")
            self.raster_y = config("raster_y", float, acq.primary.raster_m[1], "m")
            self.pixels_x = config("pixels_x", int, acq.pixels[0], "pixels")
            self.pixels_y = config("pixels_y", int, acq.pixels[1], "pixels")
            self.primary_species = config("primary_species", str, acq.primary.species, "")
            self.primary_energy = config("primary_energy", float, acq.primary.energy_ev, "eV")
            self.primary_current = config("primary_current", float, acq.primary.current_a, "A")
            self.integration_time = config("integration_time", float, acq.integration_s, "s")
            self.mass_labels = config("mass_labels", Sequence[str], [m.label for m in acq.masses], "")
            self.masses_u = config("masses_u", Array1D[np.float64], np.array([m.mass_u for m in acq.masses]), "u")
            self.sputter_species = config("sputter_species", str, acq.sputter.species, "")
            self.sputter_energy = config("sputter_energy", float, acq.sputter.energy_ev, "eV")
            self.sputter_current = config("sputter_current", float, acq.sputter.current_a, "A")
            self.sputter_raster_x = config("sputter_raster_x", float, acq.sputter.raster_m[0], "m")
            self.sputter_raster_y = config("sputter_raster_y", float, acq.sputter.raster_m[1], "m")
            self.sputter_cycles = config("sputter_cycles", int, acq.sputter_cycles, "cycles")
            self.sputter_time = config("sputter_time", float, acq.sputter_time_s, "s")
            self.cleaning_species = config("cleaning_species", str, acq.cleaning.species, "")
            self.cleaning_energy = config("cleaning_energy", float, acq.cleaning.energy_ev, "eV")
            self.cleaning_current = config("cleaning_current", float, acq.cleaning.current_a, "A")
            self.cleaning_raster_x = config("cleaning_raster_x", float, acq.cleaning.raster_m[0], "m")
            self.cleaning_raster_y = config("cleaning_raster_y", float, acq.cleaning.raster_m[1], "m")
            self.cleaning_time = config("cleaning_time", float, acq.cleaning_time_s, "s")
            self.flood_gun = config("flood_gun", bool, acq.flood_gun, "")
        self._ledger: dict[str, float] = {}
        with self.add_children_as_readables(Format.UNCACHED_SIGNAL):
            self.dose = derived_signal_r(self._region_dose, derived_units="ions/m^2", region=self.region)
            self.primary_ions, self._set_primary_ions = clocked_signal_r_and_setter(float, 0.0, clock, units="ions")
            self.elapsed, self._set_elapsed = clocked_signal_r_and_setter(float, 0.0, clock, units="s")
            self.acquired_region, self._set_acquired_region = clocked_signal_r_and_setter(str, "", clock, units="")
        self.acquisition_state = driver_signal_r(
            AcquisitionPhase, state.field(lambda s: AcquisitionPhase(s.state)), "sims:acquisition.state", clock,
            units="",
        )
        self.acquisition_elapsed = driver_signal_r(
            float, state.field(lambda s: s.elapsed_s), "sims:acquisition.elapsed_s", clock, units="s"
        )
        self.acquisition_message = driver_signal_r(
            str, state.field(lambda s: s.message), "sims:acquisition.message", clock, units=""
        )
        self.start_acquisition = DriverCommand(port, lambda d, request: d.start_acquisition(request))
        self.fetch_result = DriverCommand(port, lambda d: d.fetch_result(), timeout_s=120.0)
        self.abort_acquisition = DriverCommand(port, lambda d: d.abort())
        self._writer = SimsHdfWriter(path_provider, name or "sims")
        self._action = DeviceAction(lambda: self.name, self.safe_state)
        self._request_count = 0
        super().__init__(name=name, connector=DriverConnector(port))

    # --- dose ledger -----------------------------------------------------------------------

    def seed_dose(self, region: str, dose_ions_per_m2: float) -> None:
        """Add an earlier dose (ions/m^2) to a region's ledger, so a resumed campaign keeps its budget."""
        if not dose_ions_per_m2 >= 0:
            raise ValidationError(self.name, "dose_ions_per_m2", dose_ions_per_m2, ">= 0 ions/m^2")
        self._ledger[region] = self._ledger.get(region, 0.0) + float(dose_ions_per_m2)

    def dose_ledger(self) -> dict[str, float]:
        """Return the accumulated primary-ion dose per region in ions/m^2 (a copy)."""
        return dict(self._ledger)

    def remaining_dose(self, region: str) -> float:
        """Return how much dose (ions/m^2) the region's budget still allows."""
        return self.settings.dose_budget_ions_per_m2 - self._ledger.get(region, 0.0)

    # --- bluesky verbs ---------------------------------------------------------------------

    def set_name(self, name: str, *, child_name_separator: str | None = None) -> None:
        super().set_name(name, child_name_separator=child_name_separator)
        self._writer.device_name = name

    @AsyncStatus.wrap
    async def stage(self) -> None:
        """Start a new HDF5 file for this run."""
        await super().stage()
        self._writer.open_run()

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        """Close the run's HDF5 file."""
        await super().unstage()
        self._writer.close_run()

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        """Take one acquisition with the present configuration; complete once its frames are on disk."""
        request = await self.build_request()
        self.check_dose(request)
        await self._action.run(self._acquire(request))

    async def describe(self) -> dict[str, DataKey]:
        return {**await super().describe(), **await self._stream_datakeys()}

    async def collect_asset_docs(self, index: int | None = None) -> AsyncIterator[StreamAsset]:
        for doc in self._writer.collect_asset_docs():
            yield doc

    async def get_index(self) -> int:
        labels = await self.mass_labels.get_value()
        return self._writer.frames_written(mass_data_key(self.name, labels[0])) if labels else 0

    @property
    def hints(self) -> dict[str, list[str]]:
        labels = self._config_backends["mass_labels"].reading["value"]
        return {"fields": [mass_data_key(self.name, label) for label in labels]}

    def configure(self, **settings: Any) -> tuple[dict[str, Reading], dict[str, Reading]]:
        """Change configuration signals by attribute name; return (old, new) readings (bluesky's ``configure``)."""
        unknown = sorted(set(settings) - set(self._config_backends))
        if unknown:
            raise ValidationError(self.name, unknown[0], settings[unknown[0]],
                                  f"one of {', '.join(sorted(self._config_backends))}")
        old = self._config_readings()
        for attribute, value in settings.items():
            self._config_backends[attribute].set_value(value)
        return old, self._config_readings()

    async def stop(self, success: bool = False) -> None:
        """Abort the acquisition in progress (if any)."""
        if self._action.stop(success):
            await self.abort_acquisition.call()

    async def safe_state(self) -> None:
        """Abort any acquisition and blank the beams."""
        await self._action.cancel()
        await self.abort_acquisition.call()
        logger.info("%s: safe state: acquisition aborted, beams blanked", self.name)

    # --- requests ------------------------------------------------------------------------------

    async def build_request(self) -> AcquisitionRequest:
        """Return the acquisition the present configuration describes; raise ValidationError if it is not one."""
        values = self._configuration()
        labels, masses_u = list(values["mass_labels"]), [float(m) for m in values["masses_u"]]
        if not labels or len(labels) != len(masses_u):
            raise ValidationError(self.name, "mass_labels/masses_u", (labels, masses_u),
                                  "one m/z per label, at least one mass")
        keys = [mass_data_key(self.name, label) for label in labels]
        if len(set(keys)) != len(keys):
            raise ValidationError(self.name, "mass_labels", labels, "labels with distinct data keys")
        kind = AcquisitionKind(values["kind"]).value
        for field in ("raster_x", "raster_y", "primary_energy", "primary_current", "integration_time"):
            if not values[field] > 0:
                raise ValidationError(self.name, field, values[field], "> 0")
        for field in ("pixels_x", "pixels_y"):
            if not values[field] >= 1:
                raise ValidationError(self.name, field, values[field], ">= 1 pixel")
        sputter = _beam(values, "sputter")
        if kind == "depth_profile" and (sputter is None or values["sputter_cycles"] < 1):
            raise ValidationError(self.name, "sputter_cycles", values["sputter_cycles"],
                                  ">= 1 with a sputter beam for a depth profile")
        self._request_count += 1
        return AcquisitionRequest(
            kind=kind,
            region=values["region"],
            masses=tuple(MassChannel(label, mass) for label, mass in zip(labels, masses_u, strict=True)),
            primary=Beam(values["primary_species"], values["primary_energy"], values["primary_current"],
                         (values["raster_x"], values["raster_y"])),
            pixels=(values["pixels_x"], values["pixels_y"]),
            integration_s=values["integration_time"],
            output_name=f"{self.name}_{values['region']}_{self._clock.now():.0f}_{self._request_count:04d}",
            sputter=sputter if values["sputter_cycles"] > 0 else None,
            sputter_cycles=values["sputter_cycles"],
            sputter_time_s=values["sputter_time"],
            cleaning=_beam(values, "cleaning") if values["cleaning_time"] > 0 else None,
            cleaning_time_s=values["cleaning_time"],
            flood_gun=values["flood_gun"],
        )

    def check_dose(self, request: AcquisitionRequest) -> None:
        """Raise InterlockError if the request's expected dose would exceed the region's budget."""
        area_m2 = request.raster_m[0] * request.raster_m[1]
        expected = request.primary.current_a * request.integration_s / ELEMENTARY_CHARGE_C / area_m2
        spent = self._ledger.get(request.region, 0.0)
        budget = self.settings.dose_budget_ions_per_m2
        if spent + expected > budget:
            raise InterlockError(
                f"{self.name}: acquisition refused: region {request.region!r} has {spent:.3g} ions/m^2, this one "
                f"adds {expected:.3g}, above the dose budget {budget:.3g} ions/m^2"
            )

    # --- the acquisition -------------------------------------------------------------------

    async def _acquire(self, request: AcquisitionRequest) -> None:
        loop = asyncio.get_running_loop()
        expected_s = request.integration_s + request.cleaning_time_s + request.sputter_cycles * request.sputter_time_s
        deadline = loop.time() + expected_s + self.settings.timeout_grace_s
        await self.start_acquisition.call(request)
        logger.info("%s: %s of %s started (%s)", self.name, request.kind, request.region, request.output_name)
        while True:
            phase = await self.acquisition_state.get_value()
            if phase == AcquisitionPhase.DONE:
                break
            if phase in (AcquisitionPhase.ABORTED, AcquisitionPhase.FAILED):
                message = await self.acquisition_message.get_value()
                raise InstrumentError(self.name, f"acquire {request.output_name}", message,
                                      f"acquisition {phase.value}")
            if loop.time() >= deadline:
                raise InstrumentTimeout(self.name, f"acquire {request.output_name}", None,
                                        f"not done {expected_s + self.settings.timeout_grace_s:g} s after the start")
            await asyncio.sleep(min(self.settings.poll_s, max(deadline - loop.time(), 0.0)))
        result = await self.fetch_result.call()
        await self._store(request, result)

    async def _store(self, request: AcquisitionRequest, result: AcquisitionResult) -> None:
        missing = [m.label for m in request.masses if m.label not in result.counts]
        if missing:
            raise InstrumentError(self.name, f"fetch {request.output_name}", None, f"no counts for {missing}")
        frames = {
            mass_data_key(self.name, m.label): counts_as_uint32(self.name, request, m.label, result.counts[m.label])
            for m in request.masses
        }
        shapes = {frame.shape for frame in frames.values()}
        if len(shapes) != 1:
            raise InstrumentError(self.name, f"fetch {request.output_name}", None,
                                  f"mass arrays differ in shape {shapes}")
        shape = shapes.pop()
        if request.kind == "depth_profile" and result.depth_m is not None:
            frames[f"{self.name}-depth"] = np.asarray(result.depth_m, dtype=np.float64)
        if request.kind == "spectrum" and result.mass_axis_u is not None:
            frames[f"{self.name}-mass_axis"] = np.asarray(result.mass_axis_u, dtype=np.float64)
        layout = f"{request.kind}_{'x'.join(str(n) for n in shape)}"
        await self._writer.append(layout, frames, request_record_json(request, result))
        area_m2 = request.raster_m[0] * request.raster_m[1]
        self._ledger[request.region] = self._ledger.get(request.region, 0.0) + result.primary_ions / area_m2
        self._set_primary_ions(result.primary_ions)
        self._set_elapsed(result.finished_s - result.started_s)
        self._set_acquired_region(request.region)

    async def _stream_datakeys(self) -> dict[str, DataKey]:
        kind, labels, masses_u, nx, ny, cycles = await asyncio.gather(
            self.kind.get_value(), self.mass_labels.get_value(), self.masses_u.get_value(),
            self.pixels_x.get_value(), self.pixels_y.get_value(), self.sputter_cycles.get_value(),
        )
        kind = AcquisitionKind(kind).value
        source = f"hdf5://{self._writer.file_path}" if self._writer.file_path else f"hdf5://{self.name}"
        keys: dict[str, DataKey] = {}
        expected = expected_frame_shape(kind, (nx, ny), cycles)
        for label, mass_u in zip(labels, masses_u, strict=False):
            key = mass_data_key(self.name, label)
            shape = self._writer.frame_shape(key) or expected or ()
            keys[key] = stream_datakey(source, shape, "<u4", "counts", frame_dims(kind, len(shape)),
                                    mass_label=label, mass_u=float(mass_u))
        for key, units, dim in ((f"{self.name}-depth", "m", "cycle"), (f"{self.name}-mass_axis", "u", "channel")):
            shape = self._writer.frame_shape(key)
            if shape is not None:
                keys[key] = stream_datakey(source, shape, "<f8", units, (dim,))
        return keys

    def _config_signal(self, attribute: str, datatype: Any, initial: Any, units: str) -> SignalRW:
        signal, backend = clocked_signal_rw(datatype, initial, self._clock, units)
        self._config_backends[attribute] = backend
        return signal

    def _configuration(self) -> dict[str, Any]:
        """Return the configuration values by attribute name, straight from their soft backends.

        The configuration is held in memory (mock mode keeps the same backends), so reading
        its ~26 signals one by one would only add an await and a task per signal to every trigger.
        """
        return {attribute: backend.reading["value"] for attribute, backend in self._config_backends.items()}

    def _config_readings(self) -> dict[str, Reading]:
        return {getattr(self, attribute).name: dict(backend.reading)
                for attribute, backend in self._config_backends.items()}

    def _region_dose(self, region: str) -> float:
        return self._ledger.get(region, 0.0)


def make_tofsims(driver: SimsDriver | None, settings: SimsSettings, clock: Clock, path_provider: PathProvider,
                 name: str = "sims") -> ToFSims:
    """Build the ToF-SIMS detector (not yet connected); files go where ``path_provider`` says."""
    return ToFSims(driver, settings, clock, path_provider, name=name)


def _beam(values: dict[str, Any], prefix: str) -> Beam | None:
    species = values[f"{prefix}_species"]
    if not species:
        return None
    return Beam(species, values[f"{prefix}_energy"], values[f"{prefix}_current"],
                (values[f"{prefix}_raster_x"], values[f"{prefix}_raster_y"]))
