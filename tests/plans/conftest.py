"""Fixtures for the plan tests: sessions of profiles/sim.yaml (small twin window, no catalog)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simslab.session import Session

from .sessions import DocumentLog, build_session


@pytest.fixture
def make_session(data_dir) -> Iterator[Callable[..., Session]]:
    """Return a factory of sessions (``overrides``, ``with_catalog=``); all are closed after the test."""
    sessions: list[Session] = []

    def make(overrides: dict[str, Any] | None = None, **kwargs: Any) -> Session:
        session = build_session(overrides, **kwargs)
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


@pytest.fixture
def session(make_session) -> Session:
    """A session of the simulated lab without a catalog."""
    return make_session()


@pytest.fixture
def docs(session: Session) -> DocumentLog:
    """Every document the session's RunEngine emits."""
    log = DocumentLog()
    session.RE.subscribe(log)
    return log
