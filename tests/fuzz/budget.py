"""How long the fuzz tests look: a few dozen examples each in ``make test``, more on request.

``make test`` runs each fuzz test with its small budget and a fixed seed (derandomized), so a
test run is repeatable and bounded (the fuzz folder takes well under a minute). Setting
``SIMSLAB_FUZZ_SCALE=N`` multiplies every budget by N and draws fresh random examples: that is
how a long search (a soak, a nightly job) looks further.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["fuzz_settings", "SCALE"]

SCALE = int(os.environ.get("SIMSLAB_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int) -> settings:
    """Return hypothesis settings for ``examples`` x SCALE examples, no per-example deadline.

    Drivers time out on purpose in these tests, so a deadline would only measure the timeouts.
    """
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
