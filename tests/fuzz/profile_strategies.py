"""Hypothesis strategies for profiles: the shipped simulated-lab profile, mutated field by field.

The base is that profile with every default written out (``model_dump``), so a mutation can
reach any field a profile may hold: devices, limits, settle criteria, catalog, live feedback
and every twin parameter; a driver may also be swapped for a real driver's section.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from simslab.profile import load_profile
from tests.conftest import SIM_PROFILE
from tests.fuzz.document_mutations import mutated_documents

__all__ = ["profile_dicts", "BASE_PROFILE", "REAL_DRIVERS"]

BASE_PROFILE: dict[str, Any] = load_profile(SIM_PROFILE).model_dump(mode="json")

REAL_DRIVERS = {
    ("devices", "stage", "driver"): [{"kind": "lakeshore336", "resource": "TCPIP::127.0.0.1::7777::SOCKET"},
                                     {"kind": "lakeshore335", "resource": "ASRL/dev/ttyUSB0::INSTR", "input": "B"}],
    ("devices", "furnace", "driver"): [{"kind": "eurotherm", "port": "/dev/ttyUSB1", "address": 1}],
    ("devices", "potentiostat", "driver"): [{"kind": "keithley2450", "resource": "USB0::0x05E6::0x2450::1::INSTR"},
                                            {"kind": "emstat4", "port": "/dev/ttyACM0"}],
    ("devices", "sims", "driver"): [{"kind": "iontof_handoff", "request_dir": "/tmp/req", "result_dir": "/tmp/res"}],
    ("devices", "sample_handler", "driver"): [{"kind": "operator", "handoff_dir": "/tmp/handoff"}],
}
"""Real-driver sections a mutation may put in place of a twin driver."""


def profile_dicts(max_mutations: int = 4) -> st.SearchStrategy[dict[str, Any]]:
    """Draw a profile mapping: the full simulated-lab profile with 0 to ``max_mutations`` mutations."""
    return mutated_documents([BASE_PROFILE], max_mutations, REAL_DRIVERS)
