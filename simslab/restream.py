"""Re-stream a stored run through callbacks (analysis, live plots, exporters) as it came live.

The catalog gives a run's documents back in its own order: descriptors and events by time,
then every stream resource, one stream datum per resource covering the whole run, then the
stop document (design.md). :func:`live_order` restores the order bluesky emitted them in:

- descriptors and events are merged by time (a descriptor before an event of equal time);
- before each event that references external data (images in HDF5), the stream resource of
  each such key (before its first use) and that event's stream datum, key by key in the
  descriptor's order, as the RunEngine emits them after a detector's ``collect_asset_docs``;
- the catalog's one datum per resource is split into one datum per event, each covering that
  event's frames (uids ``<resource uid>/<n>``, as event-model composes them live);
- the stop document last.

What cannot be restored: the uids of events, stream resources and stream datums (the catalog
synthesizes them); how the detector chunked its datums (assumed: one per event, with the same
number of frames each; a datum whose frames do not divide evenly among its events is passed on
whole, before its first event); the relative order of documents of different streams with equal
timestamps (kept in the catalog's order, stream by stream); the order of resources within one
event (taken from the descriptor's data keys, which is the ToF-SIMS device's own order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from event_model import unpack_event_page

__all__ = ["live_order", "restream", "restream_run"]

logger = logging.getLogger(__name__)

Callback = Callable[[str, dict], Any]
_RANK = {"descriptor": 0, "event": 1}


def restream(documents: Iterable[tuple[str, dict]], *callbacks: Callback) -> int:
    """Send documents, in their live order, to every callback; return how many were sent."""
    count = 0
    for name, doc in live_order(documents):
        for callback in callbacks:
            callback(name, doc)
        count += 1
    return count


def restream_run(catalog: Any, key: str | int, *callbacks: Callback) -> int:
    """Re-stream a run of a :class:`simslab.catalog.Catalog` (uid, partial uid or index) to callbacks."""
    return restream(catalog.documents(key), *callbacks)


def live_order(documents: Iterable[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:
    """Yield a stored run's documents in the order they came live (see the module docstring)."""
    start: dict | None = None
    stop: dict | None = None
    timeline: list[tuple[str, dict]] = []
    resources: dict[str, dict] = {}
    datums: list[dict] = []
    others: list[tuple[str, dict]] = []
    for name, doc in documents:
        if name == "start":
            start = doc
        elif name == "stop":
            stop = doc
        elif name in _RANK:
            timeline.append((name, doc))
        elif name == "event_page":
            timeline.extend(("event", event) for event in unpack_event_page(doc))
        elif name == "stream_resource":
            resources[doc["uid"]] = doc
        elif name == "stream_datum":
            datums.append(doc)
        else:
            others.append((name, doc))
    if start is not None:
        yield "start", start
    timeline.sort(key=lambda item: (item[1].get("time", 0.0), _RANK[item[0]]))  # stable: ties keep catalog order
    stream_of = {doc["uid"]: doc.get("name", "primary") for name, doc in timeline if name == "descriptor"}
    key_order = {stream_of[doc["uid"]]: list(doc.get("data_keys", {})) for name, doc in timeline
                 if name == "descriptor"}
    before_event, leftovers = _datums_by_event(datums, resources, stream_of)
    announced: set[str] = set()
    for name, doc in timeline:
        if name == "event":
            stream = stream_of.get(doc["descriptor"])
            pending = before_event.pop((stream, doc["seq_num"]), [])
            order = key_order.get(stream, [])
            pending.sort(key=lambda d: _position(order, resources[d["stream_resource"]]["data_key"]))
            for datum in pending:
                yield from _announce(resources[datum["stream_resource"]], announced)
                yield "stream_datum", datum
        yield name, doc
    for datums_left in before_event.values():
        leftovers.extend(datums_left)
    for datum in leftovers:
        yield from _announce(resources[datum["stream_resource"]], announced)
        yield "stream_datum", datum
    for resource in resources.values():
        yield from _announce(resource, announced)
    if others:
        logger.warning("re-streaming: %d documents of kinds %s passed on before the stop, order unknown",
                       len(others), sorted({name for name, _ in others}))
    yield from others
    if stop is not None:
        yield "stop", stop


def _datums_by_event(datums: list[dict], resources: dict[str, dict],
                     stream_of: dict[str, str]) -> tuple[dict[tuple[str | None, int], list[dict]], list[dict]]:
    """Split each stored datum into one per event; key them by (stream, seq_num) of their event."""
    by_event: dict[tuple[str | None, int], list[dict]] = {}
    leftovers: list[dict] = []
    for datum in datums:
        if datum["stream_resource"] not in resources:
            logger.warning("re-streaming: stream datum %s names an unknown resource: dropped", datum["uid"])
            continue
        stream = stream_of.get(datum.get("descriptor", ""))
        for piece in _per_event(datum):
            if stream is None:
                leftovers.append(piece)
            else:
                by_event.setdefault((stream, piece["seq_nums"]["start"]), []).append(piece)
    return by_event, leftovers


def _per_event(datum: dict) -> list[dict]:
    """One datum per event when the frames divide evenly among the events, else the datum whole."""
    first_event, end_event = datum["seq_nums"]["start"], datum["seq_nums"]["stop"]
    first_frame, end_frame = datum["indices"]["start"], datum["indices"]["stop"]
    events, frames = end_event - first_event, end_frame - first_frame
    if events <= 1 or frames % events:
        return [datum]
    per_event = frames // events
    return [{**datum,
             "uid": f"{datum['stream_resource']}/{n}",
             "seq_nums": {"start": first_event + n, "stop": first_event + n + 1},
             "indices": {"start": first_frame + n * per_event, "stop": first_frame + (n + 1) * per_event}}
            for n in range(events)]


def _announce(resource: dict, announced: set[str]) -> Iterator[tuple[str, dict]]:
    if resource["uid"] not in announced:
        announced.add(resource["uid"])
        yield "stream_resource", resource


def _position(order: list[str], key: str) -> int:
    return order.index(key) if key in order else len(order)
