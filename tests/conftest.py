"""Shared fixtures: sessions and catalogs are built from the shipped profiles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def make_session(data_dir) -> Iterator[Callable[..., Any]]:
    """Return a factory of simulated-lab sessions (tests/plans/sessions.py: ``overrides``, ``with_catalog=``);
    all are closed after the test."""
    from tests.plans.sessions import build_session  # it imports this module's profile paths

    sessions = []

    def make(overrides: dict[str, Any] | None = None, **kwargs: Any):
        session = build_session(overrides, **kwargs)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()
