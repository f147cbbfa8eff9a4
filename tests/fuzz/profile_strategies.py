"""Hypothesis strategies for profile files: the shipped profile, mutated field by field.

The base is the simulated-lab profile with every default written out (``model_dump``), so a
mutation can reach any field a profile may hold: devices, limits, settle criteria, catalog,
live feedback and every twin parameter. Mutations scale a number (0, -1, 0.5 ... 10 times),
replace a value by one of another type or range, delete a key, add an unknown one, or swap a
driver for a real driver's section (valid or not): a mixture of valid and invalid profiles.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from simslab.profile import load_profile
from tests.conftest import SIM_PROFILE

__all__ = ["profile_dicts", "yaml_texts", "BASE_PROFILE"]

BASE_PROFILE: dict[str, Any] = load_profile(SIM_PROFILE).model_dump(mode="json")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e3, 1e3),
    st.text(max_size=12),
    st.sampled_from(["twin", "embedded", "tiled", "virtual", "wall", "hold", "warm", "image", "", "1e-3", "-1"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
)
REAL_DRIVERS = {
    ("devices", "stage", "driver"): [{"kind": "lakeshore336", "resource": "TCPIP::127.0.0.1::7777::SOCKET"},
                                     {"kind": "lakeshore335", "resource": "ASRL/dev/ttyUSB0::INSTR", "input": "B"}],
    ("devices", "furnace", "driver"): [{"kind": "eurotherm", "port": "/dev/ttyUSB1", "address": 1}],
    ("devices", "potentiostat", "driver"): [{"kind": "keithley2450", "resource": "USB0::0x05E6::0x2450::1::INSTR"},
                                            {"kind": "emstat4", "port": "/dev/ttyACM0"}],
    ("devices", "sims", "driver"): [{"kind": "iontof_handoff", "request_dir": "/tmp/req", "result_dir": "/tmp/res"}],
    ("devices", "sample_handler", "driver"): [{"kind": "operator", "handoff_dir": "/tmp/handoff"}],
}


@st.composite
def profile_dicts(draw: st.DrawFn, max_mutations: int = 4) -> dict[str, Any]:
    """Draw a profile mapping: the full simulated-lab profile with 0 to ``max_mutations`` mutations."""
    profile = copy.deepcopy(BASE_PROFILE)
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = _paths(profile)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _at(profile, path[:-1])
        action = draw(st.sampled_from(["scale", "scale", "replace", "delete", "add", "driver"]))
        value = parent[path[-1]]
        if action == "scale" and isinstance(value, (int, float)) and not isinstance(value, bool):
            # a plausible neighbour of a valid number: often still valid, sometimes out of range
            parent[path[-1]] = type(value)(value * draw(st.sampled_from([0, -1, 0.5, 0.9, 1.1, 2, 10])))
        elif action in ("replace", "scale"):
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
        elif action == "driver":
            where = draw(st.sampled_from(sorted(REAL_DRIVERS)))
            section = dict(draw(st.sampled_from(REAL_DRIVERS[where])))
            if draw(st.booleans()):  # spoil one field of the real driver's section
                section[draw(st.sampled_from(sorted(section)))] = draw(VALUES)
            device = _at(profile, where[:-1])
            if isinstance(device, dict):  # an earlier mutation may have replaced or removed it
                device[where[-1]] = section
    return profile


def yaml_texts() -> st.SearchStrategy[bytes]:
    """Draw raw file contents: YAML-ish text, YAML tags, binary noise, non-UTF-8 bytes."""
    return st.one_of(
        st.text(max_size=200).map(lambda text: text.encode("utf-8")),
        st.sampled_from([b"", b"- a\n- b\n", b"name: [", b"!!python/object:os.system {}", b"name: x\n\tclock: wall",
                         b"a: &x [*x]", b"name: x\ndevices: 3\n", b"\xff\xfe\x00n\x00a\x00m\x00e", b"name: \xe9t\xe9"]),
        st.binary(max_size=200),
    )


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a nested mapping (lists are leaves); the top-level keys included."""
    paths = []
    if isinstance(node, dict):
        for key, value in node.items():
            paths.append((*prefix, key))
            paths.extend(_paths(value, (*prefix, key)))
    return paths


def _at(node: Any, path: tuple) -> Any:
    """Return the value at a key path, or None where the path no longer exists."""
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
