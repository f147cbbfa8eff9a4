"""Shared fixtures: sessions and catalogs are built from the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog_server.backends import (  # noqa: F401 (fixtures: both catalog backends)
    catalog_server, catalog_settings, embedded_catalog, stored_run,
)

REPO = Path(__file__).resolve().parent.parent
SIM_PROFILE = REPO / "profiles" / "sim.yaml"
LAB_PROFILE = REPO / "profiles" / "lab-example.yaml"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh embedded-catalog directory, also set as $SIMSLAB_DATA."""
    directory = tmp_path / "simslab-data"
    monkeypatch.setenv("SIMSLAB_DATA", str(directory))
    return directory
