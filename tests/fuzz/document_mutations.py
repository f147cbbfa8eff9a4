"""Hypothesis strategies that mutate YAML documents (profiles, campaigns) field by field.

A document is a nested mapping with lists; a mutation picks any key or list item and scales
a number (0, -1, 0.5 ... 10 times: often still valid, sometimes out of range), replaces a
value by one of another type, deletes it, adds an unknown key beside it, or puts in one of
the given ``sections`` (whole sub-documents, valid or spoiled). The result is a mixture of
valid and invalid documents, each a small step from a real one.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

__all__ = ["mutated_documents", "raw_files", "VALUES"]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e3, 1e3),
    st.text(max_size=12),
    st.sampled_from(["twin", "embedded", "tiled", "virtual", "wall", "hold", "warm", "image", "anneal", "storage",
                     "operando", "", "1e-3", "-1"]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=6), SCALARS, max_size=3),
)
Path_ = tuple


@st.composite
def mutated_documents(draw: st.DrawFn, bases: Sequence[Mapping[str, Any]], max_mutations: int = 4,
                      sections: Mapping[Path_, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, Any]:
    """Draw one of ``bases`` with 0 to ``max_mutations`` mutations (see the module docstring)."""
    document = copy.deepcopy(dict(draw(st.sampled_from(list(bases)))))
    sections = sections or {}
    actions = ["scale", "scale", "replace", "delete", "add"] + (["section"] if sections else [])
    for _ in range(draw(st.integers(0, max_mutations))):
        action = draw(st.sampled_from(actions))
        if action == "section":
            where = draw(st.sampled_from(sorted(sections)))
            section = copy.deepcopy(dict(draw(st.sampled_from(list(sections[where])))))
            if draw(st.booleans()):  # spoil one of its fields
                section[draw(st.sampled_from(sorted(section)))] = draw(VALUES)
            parent = _at(document, where[:-1])
            if isinstance(parent, dict):  # an earlier mutation may have replaced or removed it
                parent[where[-1]] = section
            continue
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(document, path[:-1]), path[-1]
        value = parent[key]
        if action == "scale" and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = type(value)(value * draw(st.sampled_from([0, -1, 0.5, 0.9, 1.1, 2, 10])))
        elif action in ("replace", "scale"):
            parent[key] = draw(VALUES)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):  # "add": an unknown key beside this one
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return document


def raw_files() -> st.SearchStrategy[bytes]:
    """Draw raw file contents: YAML-ish text, YAML tags, binary noise, non-UTF-8 bytes."""
    return st.one_of(
        st.text(max_size=200).map(lambda text: text.encode("utf-8")),
        st.sampled_from([b"", b"- a\n- b\n", b"name: [", b"!!python/object:os.system {}", b"name: x\n\tclock: wall",
                         b"a: &x [*x]", b"name: x\ndevices: 3\n", b"\xff\xfe\x00n\x00a\x00m\x00e", b"name: \xe9t\xe9"]),
        st.binary(max_size=200),
    )


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path and list index path of a nested document."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    paths = []
    for key, value in items:
        paths.append((*prefix, key))
        paths.extend(_paths(value, (*prefix, key)))
    return paths


def _at(node: Any, path: Path_) -> Any:
    """Return the value at a path, or None where the path no longer exists."""
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node
