"""The catalog of runs: an embedded on-disk tiled catalog by default, or a tiled server.

Embedded (design.md, verified recipe): a SQLite catalog plus array files in one directory,
served in-process by tiled's app through an ASGI test client: no server, no port. A second
process opening the same directory sees every run, finished or running. The json-seq
exporter of bluesky-tiled-plugins is registered so ``run.documents()`` works (replay).

Writes go through :meth:`Catalog.writer`: a journal of every document (crash-proof) and a
batched TiledWriter (fast). :meth:`Catalog.recover` rebuilds, from the journals, the runs a
killed process left without a stop document, and marks them as interrupted.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from simslab.errors import CatalogError
from simslab.journal import DocumentJournal, journal_files, read_journal
from simslab.profile import CatalogSettings, EmbeddedCatalogSettings, data_directory

__all__ = ["Catalog", "RunSummary", "INTERRUPTED_REASON"]

logger = logging.getLogger(__name__)

ROOT_SPECS = [{"name": "CatalogOfBlueskyRuns", "version": "3.0"}]
INTERRUPTED_REASON = "interrupted: the process ended before the run finished (recovered from the journal)"


@dataclass(frozen=True)
class RunSummary:
    """One row of ``simslab runs``."""

    uid: str
    start_time: str
    plan_name: str
    campaign_id: str | None
    step_index: int | None
    step_kind: str | None
    sample: str | None
    exit_status: str
    reason: str = ""
    """Why the run stopped, from its stop document ("" when it says nothing or has not stopped)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Catalog:
    """Runs in a tiled catalog, read and written through one client.

    tiled is imported inside the methods that need it: it takes about a second to import,
    and commands such as ``simslab --help`` should not pay for it.
    """

    def __init__(self, client: Any, assets_directory: Path, journal_directory: Path, batch_size: int,
                 closer: Callable[[], None] | None = None):
        self.client = client
        self.assets_directory = assets_directory
        self.journal_directory = journal_directory
        self.batch_size = batch_size
        self._closer = closer

    @classmethod
    def open(cls, settings: CatalogSettings = EmbeddedCatalogSettings()) -> Catalog:
        """Open the catalog a profile names (creating an embedded one on first use)."""
        _quiet_tiled()
        if isinstance(settings, EmbeddedCatalogSettings):
            return cls._open_embedded(data_directory(settings.directory), settings.batch_size)
        return cls._open_server(settings)

    @classmethod
    def _open_embedded(cls, directory: Path, batch_size: int) -> Catalog:
        from tiled.catalog import from_uri
        from tiled.client import Context, from_context
        from tiled.server.app import build_app

        assets = directory / "assets"
        for folder in (directory, directory / "data", assets):
            folder.mkdir(parents=True, exist_ok=True)
        database = directory / "catalog.db"
        try:
            adapter = from_uri(
                f"sqlite:///{database}",
                specs=ROOT_SPECS,
                writable_storage=[str(directory / "data"), f"sqlite:///{directory / 'tables.db'}"],
                readable_storage=[str(assets)],
                init_if_not_exists=not database.exists(),  # the init spawns a subprocess: only once
            )
            context = Context.from_app(build_app(adapter, serialization_registry=_registry()))
        except Exception as err:
            raise CatalogError(f"cannot open the embedded catalog in {directory}: {err}") from err
        return cls(from_context(context), assets, directory / "journal", batch_size, context.close)

    @classmethod
    def _open_server(cls, settings: Any) -> Catalog:
        from tiled.client import from_uri

        key = settings.api_key()
        if not key:
            raise CatalogError(f"the tiled server {settings.uri} needs an API key: set ${settings.api_key_env}")
        try:
            client = from_uri(settings.uri, api_key=key)
        except Exception as err:
            raise CatalogError(f"cannot reach the tiled server at {settings.uri}: {err}") from err
        assets = settings.assets_directory or data_directory() / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        return cls(client, Path(assets).resolve(), data_directory() / "journal", settings.batch_size,
                   client.context.close)

    def writer(self) -> Callable[[str, dict], None]:
        """Return the callback that stores documents: journal first, then TiledWriter."""
        from bluesky_tiled_plugins import TiledWriter

        journal = DocumentJournal(self.journal_directory)
        tiled_writer = TiledWriter(self.client, batch_size=self.batch_size)

        def store(name: str, doc: dict) -> None:
            journal(name, doc)
            tiled_writer(name, doc)

        return store

    def __len__(self) -> int:
        return len(self.client)

    def run(self, key: str | int) -> Any:
        """Return a run by uid, partial uid (5+ characters), scan id or index (-1: the latest).

        Text as typed on a command line is accepted: "-1" is an index, and digits are tried
        as a partial uid first (a uid may start with eight digits), then as a scan id.
        """
        for candidate in _run_lookups(key):
            try:
                return self.client[candidate]
            except (KeyError, IndexError):
                continue
        raise CatalogError(f"no run {key!r} in the catalog")

    def runs(self) -> list[RunSummary]:
        """Return one summary per run, oldest first."""
        return [summarize(uid, run.metadata) for uid, run in self.client.items()]

    def campaign_runs(self, campaign_id: str) -> list[Any]:
        """Return the runs of a campaign, oldest first."""
        from tiled.queries import Key

        return list(self.client.search(Key("start.campaign_id") == campaign_id).values())

    def campaign_summaries(self, campaign_id: str) -> list[RunSummary]:
        """Return the summary of each run of a campaign, oldest first (found by a catalog search)."""
        return [summarize(run.metadata["start"]["uid"], run.metadata) for run in self.campaign_runs(campaign_id)]

    def documents(self, key: str | int) -> Iterator[tuple[str, dict]]:
        """Yield a run's documents back out of the catalog (for replay and re-streaming)."""
        yield from self.run(key).documents()

    def recover(self) -> list[str]:
        """Rebuild runs a killed process left unfinished; return their uids.

        For each journal whose run has no stop document in the catalog, the partial run is
        replaced by all of its journalled documents plus, if the journal has no stop either,
        a stop document with exit_status 'abort' and the reason INTERRUPTED_REASON.
        """
        from bluesky_tiled_plugins import TiledWriter

        recovered = []
        for path in journal_files(self.journal_directory):
            uid = path.stem
            existing = self.client.get(uid) if uid in self.client else None
            if existing is not None and existing.metadata.get("stop") is not None:
                continue
            documents = list(read_journal(path))
            if not documents or documents[0][0] != "start":
                continue
            if existing is not None:  # rows tiled stored itself go (the journal has them); detector files stay
                self.client.delete_contents(uid, recursive=True, external_only=False)
            if documents[-1][0] != "stop":
                documents.append(("stop", _interrupted_stop(documents)))
                with open(path, "a", encoding="utf-8") as journal:
                    journal.write(json.dumps(list(documents[-1])) + "\n")
            writer = TiledWriter(self.client, batch_size=self.batch_size)
            for name, doc in documents:
                writer(name, doc)
            recovered.append(uid)
            logger.warning("recovered run %s from its journal (%d documents)", uid, len(documents))
        return recovered

    def close(self) -> None:
        """Release the client (and the in-process app of an embedded catalog)."""
        if self._closer is not None:
            self._closer()
            self._closer = None


def summarize(uid: str, metadata: dict) -> RunSummary:
    """Return the summary row of a run from its metadata (start and stop documents)."""
    start = metadata.get("start") or {}
    stop = metadata.get("stop") or {}
    step = start.get("step") or {}
    sample = start.get("sample") or {}
    return RunSummary(
        uid=uid,
        start_time=datetime.fromtimestamp(start.get("time", 0), tz=timezone.utc).isoformat(timespec="seconds"),
        plan_name=start.get("plan_name", ""),
        campaign_id=start.get("campaign_id"),
        step_index=step.get("index"),
        step_kind=step.get("kind"),
        sample=sample.get("id") if isinstance(sample, dict) else sample,
        exit_status=stop.get("exit_status", "running") if stop else "running",
        reason=stop.get("reason", "") if stop else "",
    )


def _interrupted_stop(documents: list[tuple[str, dict]]) -> dict:
    start = documents[0][1]
    counts: dict[str, int] = {}
    names = {}
    for name, doc in documents:
        if name == "descriptor":
            names[doc["uid"]] = doc.get("name", "primary")
        elif name == "event":
            stream = names.get(doc["descriptor"], "primary")
            counts[stream] = counts.get(stream, 0) + 1
    last = max(doc.get("time", start["time"]) for _, doc in documents)
    return {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "time": last,
        "exit_status": "abort",
        "reason": INTERRUPTED_REASON,
        "num_events": counts,
    }


def _quiet_tiled() -> None:
    """Keep tiled's start-up chatter (a version banner, a test-client deprecation) off the console."""
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from tiled.server import app

    app.logger.setLevel(logging.WARNING)


def _registry() -> Any:
    from bluesky_tiled_plugins.exporters import json_seq_exporter
    from tiled.media_type_registration import default_serialization_registry

    registry = copy.deepcopy(default_serialization_registry)  # a shallow copy would mutate tiled's
    registry.register("BlueskyRun", "application/json-seq", json_seq_exporter)
    return registry


def _run_lookups(key: str | int) -> list[str | int]:
    """Return what a run key may mean to the catalog client, the likeliest first."""
    if isinstance(key, int) or not key.strip().lstrip("-").isdigit():
        return [key.strip() if isinstance(key, str) else key]
    number = int(key)
    return [key.strip(), number] if number > 0 and len(key.strip()) >= 5 else [number]
