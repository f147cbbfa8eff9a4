"""Re-streaming a stored run: callbacks see what they saw live, on both catalog backends."""

from __future__ import annotations

import pytest
from bluesky.callbacks import LiveTable

from simslab.restream import live_order, restream, restream_run
from simslab.run_content import content_differences, run_content


@pytest.fixture
def stored(stored_run):
    return stored_run.catalog, stored_run.recorded


def test_a_bluesky_live_table_prints_the_same_from_the_catalog(stored) -> None:
    catalog, recorded = stored
    live_lines: list[str] = []
    replayed_lines: list[str] = []
    live_table = LiveTable(["sims-dose"], out=live_lines.append)
    for name, doc in recorded.documents:
        live_table(name, doc)

    restream_run(catalog, recorded.uid, LiveTable(["sims-dose"], out=replayed_lines.append))

    assert len(live_lines) >= 3 + 4  # header lines, three rows, footer: the table really printed
    assert replayed_lines == live_lines


def test_documents_come_back_in_the_live_order(stored) -> None:
    catalog, recorded = stored
    seen: list[tuple[str, dict]] = []
    count = restream_run(catalog, recorded.uid, lambda name, doc: seen.append((name, doc)))

    assert count == len(recorded.documents)
    assert [_position(name, doc, seen) for name, doc in seen] == \
        [_position(name, doc, recorded.documents) for name, doc in recorded.documents]


def test_restreamed_content_equals_the_live_content(stored) -> None:
    catalog, recorded = stored
    seen: list[tuple[str, dict]] = []
    restream(catalog.documents(recorded.uid), lambda name, doc: seen.append((name, doc)))
    assert content_differences(run_content(recorded.documents), run_content(seen)) == []


def test_a_stored_datum_is_split_into_one_per_event() -> None:
    # Two frames per event for events 1-3, as the catalog stores it: one datum for the whole run.
    documents = [
        ("start", {"uid": "run", "time": 0.0}),
        ("descriptor", {"uid": "d", "name": "primary", "time": 1.0, "data_keys": {"img": {"shape": [2, 2]}}}),
        *[("event", {"uid": f"e{n}", "descriptor": "d", "seq_num": n, "time": 1.0 + n, "data": {},
                     "timestamps": {}}) for n in (1, 2, 3)],
        ("stream_resource", {"uid": "r", "data_key": "img", "uri": "file:///x.h5", "parameters": {}}),
        ("stream_datum", {"uid": "r-all", "stream_resource": "r", "descriptor": "d",
                          "indices": {"start": 0, "stop": 6}, "seq_nums": {"start": 1, "stop": 4}}),
        ("stop", {"uid": "s", "run_start": "run", "time": 9.0}),
    ]
    ordered = list(live_order(documents))

    names = [name for name, _ in ordered]
    assert names == ["start", "descriptor", "stream_resource", "stream_datum", "event", "stream_datum", "event",
                     "stream_datum", "event", "stop"]
    datums = [doc for name, doc in ordered if name == "stream_datum"]
    assert [d["indices"] for d in datums] == [{"start": 0, "stop": 2}, {"start": 2, "stop": 4},
                                              {"start": 4, "stop": 6}]
    assert [d["uid"] for d in datums] == ["r/0", "r/1", "r/2"]


def test_a_datum_whose_frames_do_not_divide_among_its_events_is_passed_whole() -> None:
    documents = [
        ("start", {"uid": "run", "time": 0.0}),
        ("descriptor", {"uid": "d", "name": "primary", "time": 1.0, "data_keys": {"img": {}}}),
        *[("event", {"uid": f"e{n}", "descriptor": "d", "seq_num": n, "time": 1.0 + n, "data": {},
                     "timestamps": {}}) for n in (1, 2)],
        ("stream_resource", {"uid": "r", "data_key": "img", "uri": "file:///x.h5", "parameters": {}}),
        ("stream_datum", {"uid": "r-all", "stream_resource": "r", "descriptor": "d",
                          "indices": {"start": 0, "stop": 3}, "seq_nums": {"start": 1, "stop": 3}}),
        ("stop", {"uid": "s", "run_start": "run", "time": 9.0}),
    ]
    names = [name for name, _ in live_order(documents)]
    assert names == ["start", "descriptor", "stream_resource", "stream_datum", "event", "event", "stop"]


def _position(name: str, doc: dict, documents: list[tuple[str, dict]]) -> tuple:
    """What identifies a document regardless of its uid: its kind and where it belongs."""
    streams = {d["uid"]: d.get("name") for n, d in documents if n == "descriptor"}
    resources = {d["uid"]: d["data_key"] for n, d in documents if n == "stream_resource"}
    if name == "descriptor":
        return name, doc.get("name")
    if name == "event":
        return name, streams[doc["descriptor"]], doc["seq_num"]
    if name == "stream_resource":
        return name, doc["data_key"]
    if name == "stream_datum":
        return name, resources[doc["stream_resource"]], doc["seq_nums"]["start"], doc["indices"]["start"]
    return (name,)
