"""What a run recorded, in a form two runs can be compared by.

Documents re-emitted by the catalog equal the live ones in content but not in form
(design.md): event and resource uids are synthesized, stream datums are merged into one per
resource, tuples come back as lists, the normalizer adds ``dtype_numpy``, and the order
differs, and stream resources come back with the catalog's own reader parameters.
:func:`run_content` keeps the content and drops the form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["run_content", "content_differences"]

_SHIPPING_FIELDS = {"uid", "filled", "dtype_numpy", "descriptor", "run_start", "stream_resource"}
# how a reader opens an asset, which the catalog rewrites (drops chunk_shape, adds HDF5 options)
_READER_PARAMETERS = {"chunk_shape", "swmr", "locking", "join_method"}


def run_content(documents: Iterable[tuple[str, dict]]) -> dict[str, Any]:
    """Return a run's content: start, each stream's keys, configuration and events, assets, stop.

    Events are keyed by stream name and ordered by seq_num; a repeated seq_num (a step redone
    after a suspension) keeps every copy, in order. Stream datums are reduced to the set of
    indices written per data key.
    """
    start: dict = {}
    stop: dict = {}
    streams: dict[str, dict] = {}
    descriptor_stream: dict[str, str] = {}
    resource_key: dict[str, str] = {}
    resources: dict[str, dict] = {}
    indices: dict[str, set[int]] = {}
    for name, doc in documents:
        doc = _plain(doc)
        if name == "start":
            start = doc
        elif name == "stop":
            stop = _without(doc, {"time"} | _SHIPPING_FIELDS)
        elif name == "descriptor":
            stream = doc.get("name", "primary")
            descriptor_stream[doc["uid"]] = stream
            streams.setdefault(stream, {"events": []}).update(
                data_keys=_without(doc["data_keys"], _SHIPPING_FIELDS),
                configuration=_without(doc.get("configuration", {}), _SHIPPING_FIELDS),
            )
        elif name == "event":
            event = {k: doc[k] for k in ("seq_num", "data", "timestamps")}
            streams[descriptor_stream[doc["descriptor"]]]["events"].append(event)
        elif name == "stream_resource":
            resource_key[doc["uid"]] = doc["data_key"]
            resource = _without(doc, _SHIPPING_FIELDS)
            resource["parameters"] = _without(resource.get("parameters", {}), _READER_PARAMETERS)
            resources[doc["data_key"]] = resource
        elif name == "stream_datum":
            key = resource_key[doc["stream_resource"]]
            indices.setdefault(key, set()).update(range(doc["indices"]["start"], doc["indices"]["stop"]))
    for stream in streams.values():
        stream["events"].sort(key=lambda e: e["seq_num"])
    return {
        "start": start,
        "streams": streams,
        "stream_resources": resources,
        "stream_indices": {k: sorted(v) for k, v in indices.items()},
        "stop": stop,
    }


def content_differences(a: dict[str, Any], b: dict[str, Any], path: str = "") -> list[str]:
    """Return human-readable differences between two contents (empty if equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                found.append(f"{where}: only in {'second' if key not in a else 'first'}")
            else:
                found.extend(content_differences(a[key], b[key], where))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in content_differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {_short(a)} != {_short(b)}"]


def _plain(doc: dict) -> dict:
    """JSON round trip: tuples become lists, numpy scalars become numbers."""
    return json.loads(json.dumps(doc, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _without(value: Any, fields: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, fields) for k, v in value.items() if k not in fields}
    if isinstance(value, list):
        return [_without(v, fields) for v in value]
    return value


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
