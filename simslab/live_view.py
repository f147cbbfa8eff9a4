"""Watch a running campaign from a second process, over bluesky's 0MQ proxy (``simslab watch``).

A session whose profile sets ``live.publish: "HOST:PORT"`` publishes every document to that
address (:func:`publish_documents`). ``simslab watch --address HOST:PORT`` runs bluesky's
``Proxy`` there (documents in on PORT, out on PORT + 1) unless one already runs, subscribes
with a ``RemoteDispatcher``, and follows the campaign with a :class:`CampaignWatcher`: step,
plan, run and elapsed time; the latest image of every mass as ``latest-image.png`` and the
potentiostat curve as ``potentiostat.png`` in a watch directory (matplotlib Agg, written
atomically), and a :class:`WatchStatus` per change for the caller to print.

Documents travel as JSON, not bluesky's default pickle: a subscriber never unpickles what
arrives on a port. The publisher never blocks the RunEngine: with no proxy or no subscriber,
0MQ drops the documents, and a watcher joining late starts from the next document (the first
few after it subscribes can be lost while 0MQ connects). Images are read from the HDF5 files
the stream resources name, so the watcher must see the same files (same machine or share).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from simslab.errors import ValidationError

__all__ = ["publish_documents", "LivePublisher", "watch", "CampaignWatcher", "WatchStatus", "proxy_addresses",
           "parse_address"]

logger = logging.getLogger(__name__)


class LivePublisher:
    """A callback publishing documents to a 0MQ proxy (subscribed to a RunEngine until closed)."""

    def __init__(self, run_engine: Any, address: str):
        from bluesky.callbacks.zmq import Publisher

        host, port = parse_address(address)
        self.address = f"{host}:{port}"
        self._run_engine = run_engine
        self._publisher = Publisher(self.address, serializer=_to_json)
        self._token = run_engine.subscribe(self)
        logger.info("publishing documents to the 0MQ proxy at %s", self.address)

    def __call__(self, name: str, doc: dict) -> None:
        """Publish one document (dropped by 0MQ if nobody listens); never raises into the RunEngine."""
        try:
            self._publisher(name, doc)
        except Exception:  # the live view must never stop a campaign
            logger.exception("live view: could not publish a %s document", name)

    def close(self) -> None:
        """Stop publishing and release the socket."""
        if self._token is not None:
            self._run_engine.unsubscribe(self._token)
            self._token = None
            self._publisher.close()


def publish_documents(run_engine: Any, address: str) -> LivePublisher:
    """Publish every document of ``run_engine`` to the 0MQ proxy at ``HOST:PORT``.

    For the session: ``if profile.live.publish: closers.append(publish_documents(RE,
    profile.live.publish).close)``. Never blocks: unheard documents are dropped.
    """
    return LivePublisher(run_engine, address)


def proxy_addresses(address: str) -> tuple[str, str]:
    """Return the proxy's (in, out) addresses for a publish address: PORT and PORT + 1."""
    host, port = parse_address(address)
    if port >= 65535:
        raise ValidationError("live", "publish", address, "a port below 65535 (subscribers use port + 1)")
    return f"{host}:{port}", f"{host}:{port + 1}"


def parse_address(address: str) -> tuple[str, int]:
    """Split ``HOST:PORT``; raise ValidationError naming the expected form."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValidationError("live", "address", address, "HOST:PORT with a port 1-65535, e.g. 127.0.0.1:5577")
    return host, int(port)


@dataclass(frozen=True)
class WatchStatus:
    """What the watcher knows after the latest document (times in s by the documents' clock)."""

    directory: Path
    campaign_id: str | None = None
    step_index: int | None = None
    step_kind: str | None = None
    plan_name: str | None = None
    run_uid: str | None = None
    run_state: str = "waiting"
    runs_started: int = 0
    runs_finished: int = 0
    elapsed_s: float = 0.0
    images_shown: int = 0
    image_path: Path | None = None
    image_summary: str = ""
    cell_path: Path | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    temperatures_k: dict[str, float] = field(default_factory=dict)
    problem: str = ""

    def replace(self, **changes: Any) -> WatchStatus:
        return dataclasses.replace(self, **changes)

    def summary(self) -> str:
        """One compact line: campaign, step, plan, run, elapsed, latest image and cell readings."""
        from simslab.live import format_duration

        parts = [f"campaign {self.campaign_id}" if self.campaign_id else "no campaign"]
        if self.step_index is not None:
            parts.append(f"step {self.step_index} {self.step_kind or ''}".rstrip())
        if self.run_uid:
            parts.append(f"{self.plan_name or 'run'} {self.run_uid[:8]} {self.run_state}")
        parts.append(f"elapsed {format_duration(self.elapsed_s)}")
        if self.image_summary:
            parts.append(f"image {self.images_shown}: {self.image_summary}")
        if self.voltage_v is not None or self.current_a is not None:
            cell = [f"{self.voltage_v:.4f} V" if self.voltage_v is not None else "",
                    f"{self.current_a:.3g} A" if self.current_a is not None else ""]
            parts.append("cell " + " ".join(c for c in cell if c))
        parts.extend(f"{key} {value:.2f} K" for key, value in self.temperatures_k.items())
        if self.problem:
            parts.append(f"({self.problem})")
        return " | ".join(parts)


class CampaignWatcher:
    """A bluesky callback following a campaign: progress, latest images, potentiostat curve.

    ``on_update`` receives a :class:`WatchStatus` after a run starts or stops, an image is
    written, or the potentiostat curve is redrawn (at most every ``plot_interval_s`` of wall
    time, and at each stop).
    """

    def __init__(self, directory: Path, on_update: Callable[[WatchStatus], None] | None = None,
                 plot_interval_s: float = 2.0):
        self.figures = LiveFigures(Path(directory), plot_interval_s)
        self.on_update = on_update
        self.status = WatchStatus(directory=self.figures.directory)
        self._streams: dict[str, tuple[str, dict]] = {}  # descriptor uid -> (stream name, data keys)
        self._resources: dict[str, dict] = {}
        self._pending_frames: dict[str, tuple[dict, int]] = {}  # data key -> (resource, frame index)
        self._campaign_start: dict[str, float] = {}

    def __call__(self, name: str, doc: dict) -> None:
        handlers = {"start": self._start, "descriptor": self._descriptor, "stream_resource": self._stream_resource,
                    "stream_datum": self._stream_datum, "event": self._event, "event_page": self._event_page,
                    "stop": self._stop}
        try:
            handlers.get(name, lambda doc: None)(doc)
        except Exception:  # a watcher must survive any odd document
            logger.exception("watch: could not follow a %s document", name)

    def _start(self, doc: dict) -> None:
        campaign = doc.get("campaign_id")
        step = doc.get("step") or {}
        self._campaign_start.setdefault(campaign or doc["uid"], doc.get("time", 0.0))
        self.figures.new_run()
        self.status = self.status.replace(
            campaign_id=campaign, step_index=step.get("index"), step_kind=step.get("kind"),
            plan_name=doc.get("plan_name"), run_uid=doc["uid"], run_state="running",
            runs_started=self.status.runs_started + 1, problem="",
        )
        self._touch(doc)
        self._emit()

    def _descriptor(self, doc: dict) -> None:
        self._streams[doc["uid"]] = (doc.get("name", "primary"), doc.get("data_keys", {}))

    def _stream_resource(self, doc: dict) -> None:
        self._resources[doc["uid"]] = doc

    def _stream_datum(self, doc: dict) -> None:
        resource = self._resources.get(doc["stream_resource"])
        if resource is not None and doc["indices"]["stop"] > doc["indices"]["start"]:
            self._pending_frames[resource["data_key"]] = (resource, doc["indices"]["stop"] - 1)

    def _event(self, doc: dict) -> None:
        stream, data_keys = self._streams.get(doc["descriptor"], (None, {}))
        if stream is None:
            return  # joined mid-run: the descriptor went by before we subscribed
        self._touch(doc)
        images = {key: self._pending_frames.pop(key) for key in list(self._pending_frames) if key in data_keys}
        if images:
            self.status = self.figures.show_images(self.status, images, data_keys, stream)
            self._emit()
        updated = False
        for key, value in doc.get("data", {}).items():
            units = (data_keys.get(key) or {}).get("units")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and units in ("V", "A", "K"):
                updated = self._scalar(key, units, float(value), doc["timestamps"].get(key, doc["time"])) or updated
        if updated:
            self.status = self.figures.plot_cell(self.status)
            self._emit()

    def _event_page(self, doc: dict) -> None:
        from event_model import unpack_event_page

        for event in unpack_event_page(doc):
            self._event(event)

    def _scalar(self, key: str, units: str, value: float, time_s: float) -> bool:
        """Record a temperature (K) or a cell reading (V, A); return True for a cell reading."""
        if units == "K":
            self.status = self.status.replace(temperatures_k={**self.status.temperatures_k, key: value})
            return False
        self.figures.add_cell_point(key, units, time_s, value)
        return True

    def _stop(self, doc: dict) -> None:
        self._touch(doc)
        self.status = self.figures.plot_cell(self.status, force=True)
        self.status = self.status.replace(run_state=doc.get("exit_status", "done"),
                                          runs_finished=self.status.runs_finished + 1)
        self._pending_frames.clear()
        self._emit()

    def _touch(self, doc: dict) -> None:
        first = self._campaign_start.get(self.status.campaign_id or self.status.run_uid or "", doc.get("time", 0.0))
        self.status = self.status.replace(elapsed_s=max(0.0, doc.get("time", first) - first))

    def _emit(self) -> None:
        if self.on_update is not None:
            self.on_update(self.status)


def watch(address: str, directory: Path, on_update: Callable[[WatchStatus], None] | None = None, *,
          runs: int | None = None, stop: threading.Event | None = None, serve_proxy: bool = True) -> WatchStatus:
    """Follow the documents published to ``address`` until ``runs`` runs stopped or ``stop`` is set.

    Runs the 0MQ proxy for ``address`` in this process unless ``serve_proxy`` is False or one
    already listens there; blocks; returns the last status. Ctrl-C ends it too.
    """
    from bluesky.callbacks.zmq import RemoteDispatcher

    in_address, out_address = proxy_addresses(address)
    if serve_proxy:
        _start_proxy(in_address, out_address)
    watcher = CampaignWatcher(directory, on_update)
    dispatcher = RemoteDispatcher(out_address, deserializer=json.loads)
    dispatcher.subscribe(watcher)

    def check_done() -> None:
        if (stop is not None and stop.is_set()) or (runs is not None and watcher.status.runs_finished >= runs):
            for task in asyncio.all_tasks(dispatcher.loop):
                task.cancel()
        else:
            dispatcher.loop.call_later(0.1, check_done)

    dispatcher.loop.call_soon(check_done)
    try:
        dispatcher.start()
    except (asyncio.CancelledError, KeyboardInterrupt):
        pass
    return watcher.status


def _start_proxy(in_address: str, out_address: str) -> None:
    """Run bluesky's Proxy in a daemon thread (it lives as long as this process), unless the
    in-address is taken, which means a proxy already serves it."""
    import zmq
    from bluesky.callbacks.zmq import Proxy

    try:
        proxy = Proxy(in_address, out_address)
    except zmq.ZMQError as err:
        if err.errno != zmq.EADDRINUSE:
            raise
        logger.info("a 0MQ proxy already listens on %s: subscribing to %s", in_address, out_address)
        return
    threading.Thread(target=proxy.start, name="simslab-0mq-proxy", daemon=True).start()
    logger.info("0MQ proxy: documents in on %s, out on %s", in_address, out_address)


def _to_json(doc: dict) -> bytes:
    return json.dumps(doc, default=_jsonable).encode()


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "value") and hasattr(value, "name"):  # enums (ophyd-async StrictEnum readings)
        return value.value
    return str(value)  # paths and the like: a watcher only shows them


class LiveFigures:
    """The watch directory's pictures: ``latest-image.png`` (every mass of the latest
    acquisition) and ``potentiostat.png`` (voltage and current of the current run vs time)."""

    MAX_PANELS = 6

    def __init__(self, directory: Path, plot_interval_s: float):
        self.directory = directory.expanduser().resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.plot_interval_s = plot_interval_s
        self._cell: dict[str, tuple[str, list[float], list[float]]] = {}  # key -> (units, times, values)
        self._last_plot = float("-inf")

    def new_run(self) -> None:
        self._cell.clear()

    def show_images(self, status: WatchStatus, images: dict[str, tuple[dict, int]], data_keys: dict,
                    stream: str) -> WatchStatus:
        """Read each key's newest frame from its HDF5 file and draw them side by side."""
        import h5py

        frames, problems = {}, []
        for key, (resource, index) in images.items():
            if len((data_keys.get(key) or {}).get("shape") or ()) < 2:
                continue  # a line scan or spectrum, not an image
            path = Path(urlsplit(resource["uri"]).path)
            try:
                with h5py.File(path, "r", locking=False) as h5:
                    frame = np.asarray(h5[resource["parameters"]["dataset"]][index])
            except (OSError, KeyError, IndexError) as err:
                problems.append(f"{key} not readable from {path}: {err}")
                continue
            frames[key] = frame.reshape(-1, *frame.shape[-2:]).sum(axis=0)  # depth profiles: total counts
        if not frames:
            return status.replace(problem="; ".join(problems)) if problems else status
        shown = list(frames.items())[: self.MAX_PANELS]
        figure, canvas = _figure(width_in=3.2 * len(shown), height_in=3.4)
        for n, (key, frame) in enumerate(shown, 1):
            axes = figure.add_subplot(1, len(shown), n)
            picture = axes.imshow(frame, cmap="viridis", origin="upper")
            label = (data_keys.get(key) or {}).get("mass_label", key)
            axes.set_title(f"{label}  sum {frame.sum():.4g}", fontsize=9)
            axes.set_xticks([])
            axes.set_yticks([])
            figure.colorbar(picture, ax=axes, fraction=0.046, pad=0.04, label="counts")
        figure.suptitle(f"{stream} image {status.images_shown + 1}, run {(status.run_uid or '')[:8]}", fontsize=10)
        figure.tight_layout()
        path = _save(figure, canvas, self.directory / "latest-image.png")
        summary = ", ".join(f"{key} sum={frame.sum():.4g} max={frame.max():.4g}" for key, frame in frames.items())
        return status.replace(images_shown=status.images_shown + 1, image_path=path, image_summary=summary,
                              problem="; ".join(problems))

    def add_cell_point(self, key: str, units: str, time_s: float, value: float) -> None:
        _, times, values = self._cell.setdefault(key, (units, [], []))
        times.append(time_s)
        values.append(value)

    def plot_cell(self, status: WatchStatus, force: bool = False) -> WatchStatus:
        """Redraw the potentiostat curve if due (every plot_interval_s, or when forced)."""
        latest = {units: values[-1] for units, _, values in self._cell.values()}
        status = status.replace(voltage_v=latest.get("V", status.voltage_v),
                                current_a=latest.get("A", status.current_a))
        now = time.monotonic()
        if not self._cell or (not force and now - self._last_plot < self.plot_interval_s):
            return status
        self._last_plot = now
        figure, canvas = _figure(width_in=7.0, height_in=3.6)
        axes = figure.add_subplot(1, 1, 1)
        origin = min(times[0] for _, times, _ in self._cell.values())
        twin = None
        for key, (units, times, values) in self._cell.items():
            target = axes if units == "V" else (twin := twin or axes.twinx())
            elapsed = np.asarray(times) - origin
            target.plot(elapsed, values, drawstyle="steps-post", color="C0" if units == "V" else "C3", label=key)
            target.set_ylabel(f"{key} ({units})")
        axes.set_xlabel(f"time since the run's first reading (s), run {(status.run_uid or '')[:8]}")
        figure.tight_layout()
        return status.replace(cell_path=_save(figure, canvas, self.directory / "potentiostat.png"))


def _figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    """A matplotlib figure on the Agg canvas, without pyplot (no global state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), dpi=100)
    return figure, FigureCanvasAgg(figure)


def _save(figure: Any, canvas: Any, path: Path) -> Path:
    """Write a PNG atomically, so a viewer never opens half a file."""
    partial = path.with_suffix(".partial.png")
    canvas.print_png(str(partial))
    os.replace(partial, path)
    return path
