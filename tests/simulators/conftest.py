"""Fixtures for the twin's tests: parameters come from the shipped sim profile, with overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simslab.profile import load_profile
from simslab.simulators.parameters import TwinParameters
from tests.conftest import SIM_PROFILE


@pytest.fixture
def twin_params() -> Callable[..., TwinParameters]:
    """Return a factory: the ``twin:`` section of profiles/sim.yaml with ``overrides`` merged in."""

    def make(**overrides: Any) -> TwinParameters:
        return load_profile(SIM_PROFILE, {"twin": overrides} if overrides else None).twin

    return make
