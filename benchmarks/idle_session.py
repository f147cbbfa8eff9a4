"""The memory reference: a process that builds the simulated lab's session and runs nothing.

``python -m benchmarks.idle_session``: imports the whole stack, opens the embedded catalog
($SIMSLAB_DATA), builds the twin and connects the devices, then closes. Its peak RSS is what
any campaign pays before the first plan; the demo's peak is compared with it.
"""

from __future__ import annotations

from simslab.session import Session

from .repository import SIM_PROFILE


def main() -> None:
    """Build the session of the shipped simulated-lab profile and close it."""
    Session.from_profile(SIM_PROFILE, {"live": {"progress": False}}).close()


if __name__ == "__main__":
    main()
