"""The catalog at scale: tiled's own server on a PostgreSQL catalog (``simslab serve``).

The verified recipe of design.md: ``tiled serve config FILE`` (``serve catalog`` can set neither
the root spec nor the json-seq exporter) with a ``catalog`` tree on ``postgresql://``, root spec
CatalogOfBlueskyRuns 3.0, writable storage (a directory for arrays and a ``postgresql://``
database for tables), readable storage holding the assets directory the detectors write to,
the json-seq exporter registered for ``run.documents()``, and an API key required for every
read and write.

Secrets never touch the disk here: the config file names environment variables (tiled expands
``${VAR}`` in its config) and the server process receives the API key and the database URIs in
its environment, not on its command line. The server's own log prints the database URI with
its password, so it goes to a file only its owner can read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from simslab.catalog import ROOT_SPECS
from simslab.errors import CatalogError
from simslab.profile import ServerCatalogSettings, data_directory

__all__ = ["CatalogServer", "server_config", "database_uris", "bind_address", "redact"]

logger = logging.getLogger(__name__)

CATALOG_URI_VAR = "SIMSLAB_SERVE_CATALOG_URI"
TABLES_URI_VAR = "SIMSLAB_SERVE_TABLES_URI"
JSON_SEQ_EXPORTER = "bluesky_tiled_plugins.exporters:json_seq_exporter"


class CatalogServer:
    """A running ``tiled serve config`` process serving the catalog a profile names."""

    def __init__(self, process: subprocess.Popen, uri: str, config_path: Path, log_path: Path):
        self.process = process
        self.uri = uri
        self.config_path = config_path
        self.log_path = log_path

    @classmethod
    def start(cls, settings: ServerCatalogSettings, ready_timeout_s: float = 60.0) -> CatalogServer:
        """Initialise the catalog database if new, start the server, and wait until it answers.

        Raises CatalogError naming what is missing (API key, database URI) or, if the server
        exits or does not answer within ``ready_timeout_s``, where its log is.
        """
        key = settings.api_key()
        if not key or not key.isalnum():
            raise CatalogError(f"${settings.api_key_env} must hold the server's API key, letters and digits only "
                               f"(tiled's single-user key); it is {'unset' if key is None else 'not alphanumeric'}")
        catalog_uri, tables_uri = database_uris(settings)
        storage = _storage_directory(settings)
        assets = _assets_directory(settings)
        for folder in (storage, storage / "data", assets):
            folder.mkdir(parents=True, exist_ok=True)
        config_path = storage / "tiled-config.yml"
        config_path.write_text(yaml.safe_dump(server_config(settings, storage / "data", assets), sort_keys=False))
        environment = {**os.environ, "TILED_SINGLE_USER_API_KEY": key,
                       CATALOG_URI_VAR: catalog_uri, TABLES_URI_VAR: tables_uri}
        environment.pop("TILED_API_KEY", None)
        log_path = storage / "server.log"
        host, port = bind_address(settings)
        _check_port_free(host, port)  # else /healthz could be answered by another server
        _initialize_catalog(catalog_uri)
        with _private_log(log_path) as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tiled", "serve", "config", str(config_path)],
                env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        server = cls(process, f"http://{_client_host(host)}:{port}", config_path, log_path)
        try:
            server.wait_ready(ready_timeout_s)
        except BaseException:
            server.stop()
            raise
        logger.info("catalog server %s serving %s (log %s)", server.uri, redact(catalog_uri), log_path)
        return server

    def wait_ready(self, timeout_s: float) -> None:
        """Wait until the server answers /healthz; raise CatalogError if it exits or times out."""
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CatalogError(f"the tiled server exited with status {self.process.returncode}: "
                                   f"see {self.log_path}")
            try:
                if httpx.get(f"{self.uri}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise CatalogError(f"the tiled server did not answer on {self.uri} within {timeout_s:g} s: see {self.log_path}")

    def wait(self) -> int:
        """Block until the server exits; return its exit status."""
        return self.process.wait()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server (SIGTERM: uvicorn shuts down gracefully; SIGKILL after ``timeout_s``)."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("the tiled server did not stop within %g s: killing it", timeout_s)
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> CatalogServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def server_config(settings: ServerCatalogSettings, storage_directory: Path, assets_directory: Path) -> dict[str, Any]:
    """Return tiled's server configuration; database URIs appear as ``${VAR}`` references only."""
    host, port = bind_address(settings)
    return {
        "authentication": {"allow_anonymous_access": False},  # the key comes from TILED_SINGLE_USER_API_KEY
        "trees": [{
            "path": "/",
            "tree": "catalog",
            "args": {
                "uri": f"${{{CATALOG_URI_VAR}}}",
                "specs": ROOT_SPECS,
                "writable_storage": [str(storage_directory), f"${{{TABLES_URI_VAR}}}"],
                "readable_storage": [str(assets_directory)],
                "init_if_not_exists": False,  # done beforehand, without the password on a command line
            },
        }],
        "media_types": {"BlueskyRun": {"application/json-seq": JSON_SEQ_EXPORTER}},
        "uvicorn": {"host": host, "port": port},
    }


def database_uris(settings: ServerCatalogSettings) -> tuple[str, str]:
    """Return the catalog and tables database URIs from the environment variable the profile names.

    The variable holds ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE``; tables go to the
    database ``serve.tables_database`` (default ``DATABASE_tables``) on the same server.
    """
    variable = settings.serve.database_uri_env
    uri = settings.serve.database_uri()
    if not uri:
        raise CatalogError(f"${variable} is unset: it must hold the catalog's PostgreSQL URI, "
                           "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+")[0]
    database = parts.path.lstrip("/")
    if scheme != "postgresql" or not parts.hostname or not database or "/" in database:
        raise CatalogError(f"${variable} = {redact(uri)} is not allowed: a URI "
                           "postgresql://USER:PASSWORD@HOST:PORT/DATABASE")
    tables = settings.serve.tables_database or f"{database}_tables"
    catalog_uri = urlunsplit(("postgresql", parts.netloc, f"/{database}", parts.query, ""))
    tables_uri = urlunsplit(("postgresql", parts.netloc, f"/{tables}", parts.query, ""))
    return catalog_uri, tables_uri


def bind_address(settings: ServerCatalogSettings) -> tuple[str, int]:
    """Return the (host, port) the server binds: ``serve.host``, ``serve.port`` else the port of ``uri``."""
    parts = urlsplit(settings.uri)
    port = settings.serve.port or parts.port or (443 if parts.scheme == "https" else 80)
    return settings.serve.host, port


def redact(uri: str) -> str:
    """Return a URI with its password replaced by ``***`` (for logs and messages)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _initialize_catalog(catalog_uri: str) -> None:
    """Create tiled's catalog tables if the database is new (what ``tiled catalog init
    --if-not-exists`` does, here in-process so the password appears on no command line)."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from tiled.alembic_utils import UninitializedDatabase, check_database, stamp_head
    from tiled.catalog.alembic_constants import ALEMBIC_DIR, ALEMBIC_INI_TEMPLATE_PATH
    from tiled.catalog.core import ALL_REVISIONS, REQUIRED_REVISION, initialize_database
    from tiled.utils import ensure_specified_sql_driver

    uri = ensure_specified_sql_driver(catalog_uri)

    async def create_tables_if_new() -> None:
        engine = create_async_engine(uri)
        try:
            await check_database(engine, REQUIRED_REVISION, ALL_REVISIONS)
        except UninitializedDatabase:
            logger.info("catalog database %s is new: creating tiled's tables", redact(catalog_uri))
            await initialize_database(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(create_tables_if_new())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # alembic's, about tiled's ini file
            stamp_head(ALEMBIC_INI_TEMPLATE_PATH, ALEMBIC_DIR, uri)
    except Exception as err:
        message = str(err).replace(catalog_uri, redact(catalog_uri))
        raise CatalogError(f"cannot initialise the catalog database {redact(catalog_uri)}: {message}") from None


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a closing socket is no obstacle
        try:
            probe.bind((host, port))
        except OSError as err:
            raise CatalogError(f"cannot serve on {host}:{port}: {err.strerror} (another server running?)") from None


def _private_log(path: Path) -> Any:
    """Open a log file for appending, readable by its owner only (it may show the database password)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)
    return os.fdopen(descriptor, "ab")


def _storage_directory(settings: ServerCatalogSettings) -> Path:
    configured = settings.serve.storage_directory
    return configured.expanduser().resolve() if configured else data_directory() / "server"


def _assets_directory(settings: ServerCatalogSettings) -> Path:
    configured = settings.assets_directory
    return configured.expanduser().resolve() if configured else data_directory() / "assets"


def _client_host(host: str) -> str:
    """The address a local client uses to reach a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
