"""The same catalog tests on both backends: the embedded default and the PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from bluesky_tiled_plugins import TiledWriter

from simslab.catalog import INTERRUPTED_REASON, Catalog
from simslab.journal import DocumentJournal
from simslab.run_content import content_differences, run_content
from tests.catalog_server.lab_runs import MASSES, record_operando_run

REPO = Path(__file__).resolve().parents[2]


def test_run_written_here_reads_back_identical_in_another_process(stored_run) -> None:
    recorded = stored_run.recorded
    reader = subprocess.run(
        [sys.executable, "-m", "tests.catalog_server.read_run", stored_run.settings.model_dump_json(), recorded.uid],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert reader.returncode == 0, reader.stderr[-2000:]
    served = json.loads(reader.stdout)

    # Content, not form: uids, stream datum chunking and order legitimately differ (run_content).
    assert content_differences(run_content(recorded.documents), served["content"]) == []
    # Counts are integers: the served images must sum exactly to what the detector wrote.
    assert served["image_sums"] == {key: int(frames.sum()) for key, frames in recorded.frames.items()}


def test_images_come_back_bit_identical(stored_run) -> None:
    primary = stored_run.catalog.run(stored_run.recorded.uid)["primary"]
    for key, _ in MASSES.values():
        served = primary[key].read()
        assert served.dtype == np.uint32
        np.testing.assert_array_equal(served, stored_run.recorded.frames[key])


def test_campaign_runs_finds_only_that_campaigns_runs(stored_run) -> None:
    campaign = f"c-{uuid.uuid4().hex[:8]}"  # the stored run belongs to another campaign, "operando-test"
    catalog = stored_run.catalog
    writer = catalog.writer()
    uids = [record_operando_run(writer, catalog.assets_directory, images=1, monitors=False,
                                md={"campaign_id": campaign, "step": {"index": i, "kind": "anneal"}}).uid
            for i in range(2)]

    found = [run.metadata["start"]["uid"] for run in catalog.campaign_runs(campaign)]
    summaries = {row.uid: row for row in catalog.runs()}
    assert sorted(found) == sorted(uids)
    assert [summaries[uid].step_index for uid in uids] == [0, 1]
    assert all(summaries[uid].exit_status == "success" for uid in uids)
    assert summaries[stored_run.recorded.uid].campaign_id == "operando-test"


@pytest.mark.parametrize("flushed_rows", [False, True], ids=["nothing-flushed", "rows-flushed"])
def test_recover_rebuilds_a_run_whose_process_died(catalog_settings, flushed_rows) -> None:
    """Also when the writer had already put rows into tiled's own (internally managed) table storage."""
    catalog = Catalog.open(catalog_settings)
    try:
        recorded = record_operando_run(lambda name, doc: None, catalog.assets_directory, images=3)  # not stored
        cut = next(i for i, (name, _) in enumerate(recorded.documents) if name == "event" and i > 8)
        # A killed process: the journal has every document so far, TiledWriter only what it flushed.
        journal = DocumentJournal(catalog.journal_directory)
        writer = TiledWriter(catalog.client, batch_size=1 if flushed_rows else catalog.batch_size)
        for name, doc in recorded.documents[:cut]:
            journal(name, doc)
            writer(name, doc)
        journal.close()
    finally:
        catalog.close()

    catalog = Catalog.open(catalog_settings)
    try:
        assert recorded.uid in catalog.recover()
        stop = catalog.run(recorded.uid).metadata["stop"]
        content = run_content(catalog.documents(recorded.uid))
    finally:
        catalog.close()
    assert stop["exit_status"] == "abort" and stop["reason"] == INTERRUPTED_REASON
    expected = run_content(recorded.documents[:cut])
    assert content["streams"] == expected["streams"]
