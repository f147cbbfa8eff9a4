"""The embedded catalog: persistent, shared between processes, and crash-proof."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simslab.catalog import INTERRUPTED_REASON, Catalog
from simslab.run_content import content_differences, run_content

REPO = Path(__file__).resolve().parents[2]


def write_runs_in_another_process(docs_out: Path, *extra: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "tests.simslab.run_writer", str(docs_out), *extra],
        cwd=REPO, env=os.environ.copy(), capture_output=True, timeout=300,
    ).returncode


def live_documents(path: Path) -> dict[str, list]:
    runs: dict[str, list] = {}
    current = None
    for line in path.read_text().splitlines():
        name, doc = json.loads(line)
        if name == "start":
            current = doc["uid"]
        runs.setdefault(current, []).append((name, doc))
    return runs


def test_runs_written_by_one_process_read_back_identical_by_another(data_dir: Path, tmp_path: Path):
    docs_out = tmp_path / "live.jsonl"
    assert write_runs_in_another_process(docs_out) == 0
    live = live_documents(docs_out)
    catalog = Catalog.open()
    try:
        assert len(catalog) == 2
        for uid, documents in live.items():
            back = list(catalog.documents(uid))
            assert content_differences(run_content(documents), run_content(back)) == []
        summaries = {s.uid: s for s in catalog.runs()}
        assert {s.step_kind for s in summaries.values()} == {"exchange", "anneal"}
        assert all(s.exit_status == "success" and s.campaign_id == "c-test" for s in summaries.values())
        assert len(catalog.campaign_runs("c-test")) == 2
    finally:
        catalog.close()


def test_killed_run_is_recovered_from_the_journal_and_marked_interrupted(data_dir: Path, tmp_path: Path):
    docs_out = tmp_path / "live.jsonl"
    # SIGKILL right after the scan's 17th event: TiledWriter still buffers those rows
    assert write_runs_in_another_process(docs_out, "kill-at-event", "17") == -9
    live = live_documents(docs_out)
    catalog = Catalog.open()
    try:
        statuses = sorted(s.exit_status for s in catalog.runs())
        assert statuses == ["running", "success"]  # before recovery the killed run has no stop
        recovered = catalog.recover()
        killed_uid = [uid for uid, docs in live.items() if docs[-1][0] != "stop"][0]
        assert recovered == [killed_uid]
        run = catalog.run(killed_uid)
        stop = run.metadata["stop"]
        assert stop["exit_status"] == "abort" and stop["reason"] == INTERRUPTED_REASON
        # every event the dead process emitted is in the catalog, none lost
        live_events = [d for n, d in live[killed_uid] if n == "event"]
        assert len(live_events) == 17
        assert list(run["primary"].read()["det"]) == pytest.approx([e["data"]["det"] for e in live_events])
        assert catalog.recover() == []  # idempotent
    finally:
        catalog.close()


def test_second_process_sees_a_run_still_running(data_dir: Path):
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from bluesky import RunEngine
    from ophyd.sim import det

    catalog = Catalog.open()
    engine = RunEngine({})
    engine.subscribe(catalog.writer())
    seen: list = []

    @bpp.run_decorator(md={"purpose": "visible while running"})
    def plan():
        yield from bps.trigger_and_read([det])
        listing = subprocess.run(
            [sys.executable, "-m", "simslab.cli", "runs", "--json"], cwd=REPO, env=os.environ.copy(),
            capture_output=True, text=True, timeout=300,
        )
        seen.extend(json.loads(listing.stdout))

    try:
        engine(plan())
    finally:
        catalog.close()
    assert [row["exit_status"] for row in seen] == ["running"]


def test_a_uid_prefix_of_digits_finds_its_run_not_a_scan_id(data_dir: Path):
    from event_model import compose_run

    from simslab.errors import CatalogError
    from simslab.profile import EmbeddedCatalogSettings

    catalog = Catalog.open(EmbeddedCatalogSettings(directory=data_dir))
    try:
        store = catalog.writer()
        for uid, scan_id in (("66078369-0000-4000-8000-000000000001", 7), ("abcdef01-0000-4000-8000-000000000002", 8)):
            bundle = compose_run(uid=uid, metadata={"scan_id": scan_id})
            store("start", bundle.start_doc)
            store("stop", bundle.compose_stop())
        # eight digits of a uid, as `simslab show 66078369` passes them: the uid, though it parses as a number
        assert catalog.run("66078369").metadata["start"]["uid"].startswith("66078369")
        assert catalog.run("8").metadata["start"]["uid"].startswith("abcdef01")  # short digits: a scan id
        assert catalog.run("-1").metadata["start"]["uid"].startswith("abcdef01")  # an index
        with pytest.raises(CatalogError, match="no run '99999999'"):
            catalog.run("99999999")
    finally:
        catalog.close()
    from typer.testing import CliRunner

    from simslab.cli import app

    shown = CliRunner().invoke(app, ["show", "66078369", "--data", str(data_dir)])  # the user's way in
    assert shown.exit_code == 0 and "66078369-0000-4000-8000-000000000001" in shown.output, shown.output
