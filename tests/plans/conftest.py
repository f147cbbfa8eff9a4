"""Fixtures for the plan tests: sessions of profiles/sim.yaml (small twin window, no catalog)."""

from __future__ import annotations

import pytest

from simslab.session import Session

from .sessions import DocumentLog


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
