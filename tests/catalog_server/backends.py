"""Catalog backends for tests: the embedded default, and a real PostgreSQL + ``tiled serve config``.

``catalog_server`` (session-scoped) starts a private PostgreSQL cluster with the project's own
``scripts/postgres.sh`` and the catalog server with :class:`simslab.catalog_server.CatalogServer`,
on free ports, from ``profiles/server-example.yaml`` with overrides, and tears both down.
``catalog_settings`` runs a test once per backend; the server case is marked ``server``;
``stored_run`` is one run per backend that tests only read.

Without PostgreSQL binaries (and no way to install them) the server cases skip with the reason,
unless SIMSLAB_REQUIRE_SERVER_TESTS=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simslab.catalog import Catalog
from simslab.catalog_server import CatalogServer
from simslab.profile import CatalogSettings, EmbeddedCatalogSettings, ServerCatalogSettings, load_profile
from tests.catalog_server.lab_runs import RecordedRun, record_operando_run

REPO = Path(__file__).resolve().parents[2]
POSTGRES_SCRIPT = REPO / "scripts" / "postgres.sh"
SERVER_PROFILE = REPO / "profiles" / "server-example.yaml"


@dataclass(frozen=True)
class RunningServer:
    """A catalog server for the tests: its client settings, the process, and the key it requires."""

    settings: ServerCatalogSettings
    server: CatalogServer
    api_key: str


@pytest.fixture(scope="session")
def catalog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real PostgreSQL cluster and tiled server on free ports, for the whole test session."""
    _require_postgres()
    # postgres (not root) must traverse every parent of its data directory: pytest's own
    # temporary root is 0700, so the cluster lives in a 0755 directory of /tmp instead.
    cluster_parent = Path(tempfile.mkdtemp(prefix="simslab-pg-"))
    cluster_parent.chmod(0o755)
    cluster = cluster_parent / "cluster"
    password = secrets.token_hex(16)
    api_key = secrets.token_hex(16)
    work = tmp_path_factory.mktemp("catalog-server")
    variables = {"SIMSLAB_TILED_API_KEY": api_key}
    saved = {name: os.environ.get(name) for name in ("SIMSLAB_TILED_API_KEY", "SIMSLAB_DATABASE_URI")}
    started_cluster = False
    try:
        postgres_port = _free_port()
        _postgres("start", str(cluster), str(postgres_port), password=password)
        started_cluster = True
        variables["SIMSLAB_DATABASE_URI"] = f"postgresql://simslab:{password}@127.0.0.1:{postgres_port}/simslab"
        os.environ.update(variables)
        settings = load_profile(SERVER_PROFILE, {"catalog": {
            "uri": f"http://127.0.0.1:{_free_port()}",
            "assets_directory": str(work / "assets"),
            "serve": {"storage_directory": str(work / "server"), "port": None},
        }}).catalog
        assert isinstance(settings, ServerCatalogSettings)
        with CatalogServer.start(settings, ready_timeout_s=120.0) as server:
            yield RunningServer(settings, server, api_key)
    finally:
        if started_cluster:
            _postgres("stop", str(cluster))
        shutil.rmtree(cluster_parent, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


BACKENDS = ["embedded", pytest.param("server", marks=pytest.mark.server)]
"""Parameters running a fixture once per catalog backend; the server case is marked ``server``."""


@pytest.fixture(scope="session")
def embedded_catalog(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedCatalogSettings:
    """One embedded catalog for the session, like the one server: creating a catalog costs a
    ``tiled catalog init`` subprocess. Tests tell their runs apart by uid and campaign id."""
    return EmbeddedCatalogSettings(directory=tmp_path_factory.mktemp("embedded-catalog"))


@pytest.fixture(params=BACKENDS)
def catalog_settings(request: pytest.FixtureRequest, data_dir: Path) -> CatalogSettings:
    """The settings of each catalog backend in turn: the embedded default, then the server.
    $SIMSLAB_DATA (where a server catalog's journals go) is the test's own ``data_dir``."""
    return _settings_of(request)


@dataclass(frozen=True)
class StoredRun:
    """A run stored in a backend's catalog (left open for the session) and what went live."""

    backend: str
    settings: CatalogSettings
    catalog: Catalog
    recorded: RecordedRun


@pytest.fixture(scope="session", params=BACKENDS)
def stored_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoredRun]:
    """One operando run (3 images, 3 monitors) per backend, shared by every test that only reads it."""
    settings = _settings_of(request)
    with pytest.MonkeyPatch.context() as patch:  # a server catalog's journals go to $SIMSLAB_DATA
        patch.setenv("SIMSLAB_DATA", str(tmp_path_factory.mktemp("stored-run")))
        catalog = Catalog.open(settings)
    try:
        recorded = record_operando_run(catalog.writer(), catalog.assets_directory, images=3, seed=3)
        yield StoredRun(request.param, settings, catalog, recorded)
    finally:
        catalog.close()


def _settings_of(request: pytest.FixtureRequest) -> CatalogSettings:
    if request.param == "embedded":
        return request.getfixturevalue("embedded_catalog")
    return request.getfixturevalue("catalog_server").settings


def _require_postgres() -> None:
    """Skip (or, with SIMSLAB_REQUIRE_SERVER_TESTS=1, fail) when PostgreSQL cannot be had."""
    if _postgres_ok("bindir"):
        return
    reason = "PostgreSQL server binaries are absent"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        if _postgres_ok("install"):
            return
        reason += " and 'scripts/postgres.sh install' failed"
    else:
        reason += " and cannot be installed here (needs root and apt-get): run 'scripts/postgres.sh install'"
    if os.environ.get("SIMSLAB_REQUIRE_SERVER_TESTS") == "1":
        pytest.fail(f"{reason} (SIMSLAB_REQUIRE_SERVER_TESTS=1)")
    pytest.skip(reason)


def _postgres_ok(command: str) -> bool:
    result = subprocess.run(["bash", str(POSTGRES_SCRIPT), command], capture_output=True, text=True, timeout=900)
    return result.returncode == 0


def _postgres(*args: str, password: str | None = None) -> None:
    environment = {**os.environ, "SIMSLAB_POSTGRES_THROWAWAY": "1"}  # no fsync: a test cluster is thrown away
    if password is not None:
        environment["SIMSLAB_POSTGRES_PASSWORD"] = password
    result = subprocess.run(["bash", str(POSTGRES_SCRIPT), *args], capture_output=True, text=True, timeout=120,
                            env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/postgres.sh {' '.join(args)} failed: {result.stderr.strip()}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
