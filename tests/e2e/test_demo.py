"""`simslab demo`: the demo campaign runs on the simulated lab, leaves its runs in the catalog and writes its report."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from simslab.analysis.whole_map_geometry import FOUND_IN_C_BIAS
from simslab.catalog import Catalog
from simslab.profile import EmbeddedCatalogSettings

WALL_LIMIT_S = 120.0
"""The demo's promise: under two minutes of wall time (on an unloaded 2-core machine)."""


@pytest.mark.slow
def test_simslab_demo_exits_0_and_leaves_every_run_in_the_catalog(tmp_path):
    data = tmp_path / "data"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "simslab.cli", "demo", "--data", str(data)],
                            env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=900)
    wall_s = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"runs in {data}" in result.stdout
    catalog = Catalog.open(EmbeddedCatalogSettings(directory=data))
    try:
        summaries = [r for r in catalog.runs() if r.campaign_id and r.campaign_id.startswith("demo-")]
    finally:
        catalog.close()
    assert [r.step_kind for r in summaries] == ["exchange", "cryo_sims"] + ["anneal", "cryo_sims"] * 3 + ["operando"]
    assert all(r.exit_status == "success" for r in summaries)
    (page,) = (data / "reports").glob("demo-*/index.html")
    assert FOUND_IN_C_BIAS in page.read_text()  # no etched image in the demo: the report says how biased
    figures = page.parent / "figures"
    assert len(list(figures.glob("*.png"))) >= 10
    assert {p.stem for p in figures.glob("*.png")} == {p.stem for p in figures.glob("*.svg")}
    print(f"simslab demo: {wall_s:.0f} s wall time")  # reported; the limit holds on an unloaded machine
    if os.environ.get("SIMSLAB_CHECK_DEMO_TIME"):
        assert wall_s < WALL_LIMIT_S
