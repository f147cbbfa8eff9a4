"""A session: everything a profile describes, built, connected and ready for plans.

``Session.from_profile("profiles/sim.yaml")`` gives the clock, the simulated lab (when any
instrument is simulated), the drivers, the five devices, a RunEngine on the clock's loop, the
catalog with its writer subscribed, and the live callbacks. ``session.namespace()`` is what
``simslab shell`` puts in IPython.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from bluesky import RunEngine
from ophyd_async.core import StaticPathProvider, UUIDFilenameProvider

from simslab.catalog import Catalog
from simslab.clock import Clock, VirtualClock, WallClock
from simslab.devices import make_cryo_stage, make_furnace, make_potentiostat, make_sample_handler, make_tofsims
from simslab.devices.drivers import open_driver
from simslab.live import LiveProgress
from simslab.profile import Profile, load_profile
from simslab.twin_checkpoints import Checkpoint, TwinCheckpoints

__all__ = ["Session", "DEVICE_NAMES"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEVICE_NAMES = ("stage", "furnace", "potentiostat", "sims", "sample_handler")


class Session:
    """The assembled lab of one profile. Use as a context manager, or call :meth:`close`."""

    def __init__(self, profile: Profile, clock: Clock, lab: Any, drivers: dict[str, Any], devices: dict[str, Any],
                 run_engine: RunEngine, catalog: Catalog | None, closers: list[Callable[[], None]]):
        self.profile = profile
        self.clock = clock
        self.lab = lab
        self.drivers = drivers
        self.devices = devices
        self.RE = run_engine
        self.catalog = catalog
        self._closers = closers

    @classmethod
    def from_profile(cls, path: str | Path, overrides: dict[str, Any] | None = None, *, with_catalog: bool = True,
                     resume_campaign: str | None = None) -> Session:
        """Build and connect everything ``path`` describes.

        overrides: merged over the file (tests, CLI flags). with_catalog: False for a session
        whose documents go nowhere but the callbacks you subscribe. resume_campaign: in
        simulation, restore the twin from that campaign's last finished step.
        """
        return cls.build(load_profile(path, overrides), with_catalog=with_catalog, resume_campaign=resume_campaign)

    @classmethod
    def build(cls, profile: Profile, *, with_catalog: bool = True, resume_campaign: str | None = None,
              clock_start_s: float | None = None) -> Session:
        """Build and connect the session of an already validated profile.

        clock_start_s: where a virtual clock starts (epoch s; default: now), e.g. a replay starting
        where its original's twin did (its runs' ``twin_start_s``), so that times read as data repeat.
        """
        closers: list[Callable[[], None]] = []
        catalog = Catalog.open(profile.catalog) if with_catalog else None
        if catalog is not None:
            closers.append(catalog.close)
            catalog.recover()
        checkpoints = TwinCheckpoints(catalog.journal_directory.parent / "twin") if catalog is not None else None
        snapshot = None
        if catalog is not None and checkpoints is not None and resume_campaign is not None and profile.simulated:
            snapshot = _resume_checkpoint(catalog, checkpoints, resume_campaign)
        lab, clock = _simulated_lab(profile, snapshot, clock_start_s)
        drivers = _open_drivers(profile, lab, clock, closers)
        assets = catalog.assets_directory if catalog is not None else Path.cwd() / "simslab-assets"
        devices = _make_devices(profile, drivers, clock, assets)
        run_engine = RunEngine(_run_metadata(profile, lab), loop=clock.loop, call_returns_result=True)
        if isinstance(clock, VirtualClock):
            clock.loop.may_jump = lambda: run_engine.state == "running"
        closers.insert(0, lambda: _stop_loop(clock.loop))  # runs last: closers run in reverse
        if profile.live.publish:
            from simslab.live_view import publish_documents

            closers.append(publish_documents(run_engine, profile.live.publish).close)
        session = cls(profile, clock, lab, drivers, devices, run_engine, catalog, closers)
        session.call(_connect(devices.values()))
        if lab is not None and checkpoints is not None:  # ahead of the writer: see simslab.twin_checkpoints
            run_engine.subscribe(checkpoints.saver(lab))
        if catalog is not None:
            run_engine.subscribe(_plain_descriptors(catalog.writer()))
        if profile.live.progress:
            run_engine.subscribe(LiveProgress(clock))
        if profile.live.plot:
            _subscribe_live_figures(run_engine, assets.parent / "live")
        return session

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the session's event loop (where the devices live) and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.clock.loop).result(timeout)

    def namespace(self) -> dict[str, Any]:
        """Return what an interactive session needs: RE, the devices, catalog, plans."""
        import bluesky.plan_stubs as bps
        import bluesky.plans as bp
        import bluesky.preprocessors as bpp

        import simslab.plans as plans

        return {"session": self, "RE": self.RE, "catalog": self.catalog, "clock": self.clock, "lab": self.lab,
                "plans": plans, "bp": bp, "bps": bps, "bpp": bpp, **self.devices}

    def close(self) -> None:
        """Close drivers, peers and the catalog; stop the event loop."""
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must go on for the rest
                logger.exception("while closing the session")
        self._closers.clear()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resume_checkpoint(catalog: Catalog, checkpoints: TwinCheckpoints, campaign_id: str) -> Checkpoint | None:
    """Return the twin checkpoint of the campaign's last step the catalog holds as finished."""
    finished = {run.step_index for run in catalog.campaign_summaries(campaign_id)
                if run.exit_status == "success" and run.step_index is not None}
    return checkpoints.latest(campaign_id, finished)


def _simulated_lab(profile: Profile, snapshot: Checkpoint | None,
                   clock_start_s: float | None = None) -> tuple[Any, Clock]:
    """Return the twin (None in a lab without one), restored from ``snapshot`` if given, and its clock."""
    if not profile.simulated:
        return None, (VirtualClock(clock_start_s) if profile.clock == "virtual" else WallClock())
    from simslab.simulators.lab import SimulatedLab

    if profile.clock == "virtual":
        clock: Clock = VirtualClock(start_time=snapshot.time_s if snapshot else clock_start_s)
    else:
        clock = WallClock()
    lab = SimulatedLab(profile.twin, clock)
    if snapshot is not None:
        lab.load(snapshot.path)
        logger.info("twin restored from %s", snapshot.path)
    return lab, clock


def _open_drivers(profile: Profile, lab: Any, clock: Clock, closers: list[Callable[[], None]]) -> dict[str, Any]:
    """Return the driver of every instrument (and the LN2 level meter if there is one)."""
    twin = {}
    if lab is not None:
        from simslab.simulators.twin_drivers import make_twin_drivers

        twin = make_twin_drivers(lab)
    devices = profile.devices
    wanted: dict[str, Any] = {name: getattr(devices, name).driver for name in DEVICE_NAMES}
    if devices.stage.level_meter is not None:
        wanted["level_meter"] = devices.stage.level_meter
    if profile.protocol_peers:
        from simslab.protocol_peers import start_peers

        wanted = start_peers(wanted, twin, clock, closers)
    drivers = {}
    for name, settings in wanted.items():
        if settings.kind == "twin":
            drivers[name] = twin[name]
        else:
            drivers[name] = open_driver(settings, name=name, now=clock.now)
        closers.append(drivers[name].close)
    return drivers


def _make_devices(profile: Profile, drivers: dict[str, Any], clock: Clock, assets: Path) -> dict[str, Any]:
    settings = profile.devices
    sims_files = StaticPathProvider(UUIDFilenameProvider(), assets / "sims")
    return {
        "stage": make_cryo_stage(drivers["stage"], settings.stage, clock, level_meter=drivers.get("level_meter")),
        "furnace": make_furnace(drivers["furnace"], settings.furnace, clock),
        "potentiostat": make_potentiostat(drivers["potentiostat"], settings.potentiostat, clock),
        "sims": make_tofsims(drivers["sims"], settings.sims, clock, sims_files),
        "sample_handler": make_sample_handler(drivers["sample_handler"], settings.sample_handler, clock),
    }


def _stop_loop(loop: asyncio.AbstractEventLoop, timeout_s: float = 10.0) -> None:
    """Stop the RunEngine's event loop and wait for its thread: pollers left on a loop that
    runs on while the interpreter shuts down break its final flush of stdout (exit code 120)."""
    from bluesky.run_engine import _ensure_event_loop_running

    thread = _ensure_event_loop_running.loop_to_thread.get(loop)
    loop.call_soon_threadsafe(loop.stop)
    if thread is not None:
        thread.join(timeout_s)


async def _connect(devices: Any) -> None:
    await asyncio.gather(*(device.connect() for device in devices))


def _plain_descriptors(store: Callable[[str, dict], None]) -> Callable[[str, dict], None]:
    """Pass descriptors on with numpy values as plain lists and numbers.

    A reconfigured detector re-emits its streams' descriptors; TiledWriter records each as a
    metadata update through jsonpatch, which cannot serialise numpy values (configuration
    arrays such as the SIMS's masses_u): the second update of a stream failed the run.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value.tolist() if isinstance(value, np.ndarray | np.generic) else value

    def store_plain(name: str, doc: dict) -> None:
        store(name, plain(doc) if name == "descriptor" else doc)

    return store_plain


def _run_metadata(profile: Profile, lab: Any) -> dict[str, Any]:
    """Metadata every run of this session carries (plans add campaign, step and sample)."""
    md: dict[str, Any] = {**profile.metadata.model_dump(), "profile": profile.name, "simulated": profile.simulated}
    if lab is not None:
        md["twin"] = profile.twin.model_dump(mode="json")
        md["twin_seed"] = profile.twin.seed
        md["twin_start_s"] = lab.start_s  # epoch s where the twin's clock started (a replay starts there too)
    return md


def _subscribe_live_figures(run_engine: RunEngine, directory: Path) -> None:
    """Draw the latest image of every mass and the potentiostat curve into ``directory`` as runs go."""
    from simslab.live_view import CampaignWatcher

    run_engine.subscribe(CampaignWatcher(directory))
    logger.info("live figures: latest-image.png and potentiostat.png in %s", directory)
