"""The live view: a session publishes documents over 0MQ, ``simslab watch`` follows them."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bluesky import RunEngine

from simslab.errors import ValidationError
from simslab.live_view import CampaignWatcher, proxy_addresses, publish_documents
from tests.catalog_server.lab_runs import MASSES, record_operando_run

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_watcher_follows_progress_images_and_the_cell(tmp_path: Path) -> None:
    recorded = record_operando_run(lambda name, doc: None, tmp_path, images=3)
    updates = []
    watcher = CampaignWatcher(tmp_path / "watch", updates.append, plot_interval_s=0.0)
    for name, doc in recorded.documents:
        watcher(name, doc)

    status = watcher.status
    assert (status.campaign_id, status.step_index, status.step_kind) == ("operando-test", 0, "operando")
    assert (status.run_uid, status.run_state, status.runs_finished) == (recorded.uid, "success", 1)
    assert status.images_shown == 3
    # The picture is of the newest frame, read back from the detector's HDF5 file: its sums match exactly.
    for key, _ in MASSES.values():
        assert f"{key} sum={recorded.frames[key][-1].sum():.4g}" in status.image_summary
    assert status.voltage_v == pytest.approx(3.35, abs=1e-12)  # the last voltage set, 3.2 + 3 x 0.05 V
    assert status.current_a == pytest.approx(6e-6, rel=1e-12)
    assert status.temperatures_k == {"stage-temperature": pytest.approx(163.45, abs=1e-9)}
    for picture in (status.image_path, status.cell_path):
        assert picture.read_bytes()[:8] == PNG_MAGIC
    # Elapsed time by the documents' clock: from the run's start to its stop.
    start, stop = recorded.documents[0][1], recorded.documents[-1][1]
    assert status.elapsed_s == pytest.approx(stop["time"] - start["time"], abs=1e-9)
    assert "operando-test" in status.summary() and recorded.uid[:8] in status.summary()


def test_watcher_ignores_events_of_a_run_it_joined_midway(tmp_path: Path) -> None:
    recorded = record_operando_run(lambda name, doc: None, tmp_path, images=2)
    watcher = CampaignWatcher(tmp_path / "watch")
    joined = [(n, d) for n, d in recorded.documents if n in ("event", "stream_datum", "stop")]
    for name, doc in joined:
        watcher(name, doc)
    assert watcher.status.images_shown == 0 and watcher.status.runs_finished == 1


def test_bad_addresses_are_refused_with_the_expected_form() -> None:
    for address in ("localhost", "127.0.0.1:", "127.0.0.1:70000", ":5577"):
        with pytest.raises(ValidationError, match="HOST:PORT"):
            proxy_addresses(address)
    assert proxy_addresses("127.0.0.1:5577") == ("127.0.0.1:5577", "127.0.0.1:5578")


def test_documents_published_by_a_session_reach_watch_in_another_process(tmp_path: Path) -> None:
    port = _free_port_pair()
    address = f"127.0.0.1:{port}"
    watch_dir = tmp_path / "watch"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "simslab.cli", "watch", "--address", address, "--directory", str(watch_dir),
         "--runs", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout], daemon=True).start()
    run_engine = RunEngine({}, call_returns_result=True)
    publisher = publish_documents(run_engine, address)
    try:
        # 0MQ drops what is published before the proxy and its subscriber are connected: send a
        # probe (a start without a stop, so it does not count as a finished run) until watch shows it.
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while not any("probe" in line for line in seen):
            assert time.monotonic() < deadline, f"watch never showed the probe; it printed {seen}"
            publisher("start", {"uid": "probe-run", "time": time.time(), "plan_name": "probe"})
            seen.extend(_drain(lines, 0.3))
        recorded = record_operando_run(lambda name, doc: None, tmp_path, images=3, run_engine=run_engine)
        assert watcher.wait(timeout=60) == 0  # --runs 1: exits once the real run has stopped
    finally:
        publisher.close()
        if watcher.poll() is None:
            watcher.send_signal(signal.SIGINT)
            watcher.wait(10)
    seen.extend(_drain(lines, 0.5))
    shown = "\n".join(seen)
    assert f"{recorded.uid[:8]} success" in shown
    assert "image 3:" in shown and "cell 3.3500 V" in shown
    assert (watch_dir / "latest-image.png").read_bytes()[:8] == PNG_MAGIC
    assert (watch_dir / "potentiostat.png").read_bytes()[:8] == PNG_MAGIC


def _drain(lines: queue.Queue[str], wait_s: float) -> list[str]:
    found, deadline = [], time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            found.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            break
    return found


def _free_port_pair() -> int:
    """A port p with p and p + 1 free on the loopback (the proxy's in and out)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65535:
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def test_a_session_with_live_plot_draws_the_latest_image_as_it_is_taken(tmp_path: Path) -> None:
    from simslab import plans
    from tests.plans.sessions import SHORT_OPERANDO_IMAGE, build_session

    session = build_session({"catalog": {"kind": "embedded", "directory": str(tmp_path / "data")},
                             "live": {"plot": True}}, with_catalog=True)
    try:
        session.RE(plans.sims_image(session.devices["sims"], acquisition=SHORT_OPERANDO_IMAGE))
        live = session.catalog.assets_directory.parent / "live"
    finally:
        session.close()
    assert (live / "latest-image.png").read_bytes()[:8] == PNG_MAGIC
    assert not (live / "potentiostat.png").exists()  # no cell run, no curve
