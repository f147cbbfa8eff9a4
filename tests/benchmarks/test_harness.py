"""The benchmark harness: ratio = value / reference, targets decide pass, the JSON carries both."""

from __future__ import annotations

import json
import math
import operator
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.harness import SUITES, BenchConfig, FigureSpec, Suite, Target, run_benchmarks, write_figures
from benchmarks.timing import interleaved_medians
from simslab.cli import app
from tests.benchmarks import fake_suites

JSON_KEYS = {"name", "value", "unit", "reference", "ratio", "target", "pass"}
PREFIXES = ("orchestration", "ingest", "campaign", "analysis_", "twin_", "memory")
TARGET_TEXT = re.compile(r"^(value|ratio) (>=|>|<=|<) (\S+)( \S+)?$")
COMPARE = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}

FAKE = Suite("fake", "tests.benchmarks.fake_suites", ("fake_",))
BROKEN = Suite("broken", "tests.benchmarks.fake_suites", ("broken_",), "measure_broken", "BROKEN_SPECS")


def check_schema(objects: list[dict]) -> None:
    """Every JSON object has the seven keys, ratio = value/reference, and pass agrees with its target."""
    for entry in objects:
        assert set(entry) == JSON_KEYS, entry
        assert isinstance(entry["name"], str) and isinstance(entry["unit"], str)
        quantity, comparison, bound, _unit = TARGET_TEXT.match(entry["target"]).groups()
        if entry["value"] is not None and entry["reference"] not in (None, 0):
            assert entry["ratio"] == pytest.approx(entry["value"] / entry["reference"], rel=1e-12)
        else:
            assert entry["ratio"] is None
        bounded = entry[quantity]
        assert entry["pass"] is (bounded is not None and COMPARE[comparison](bounded, float(bound)))


def test_a_figure_divides_value_by_reference_and_its_target_decides_pass():
    spec = FigureSpec("ingest_x", "MB/s", Target("ratio", ">=", 0.5), "")
    assert spec.measured(3.0, 12.0).ratio == 0.25
    assert not spec.measured(3.0, 12.0).passed  # 0.25 < 0.5
    assert spec.measured(12.0, 3.0).passed  # ratio 4
    budget = FigureSpec("analysis_x_s", "s", Target("value", "<", 1.0, "s"), "")
    assert budget.measured(0.9, 100.0).passed and not budget.measured(1.0, 0.001).passed  # the value counts
    assert not spec.missing("no instrument").passed and spec.missing("no instrument").ratio is None
    assert spec.measured(1.0, 0.0).ratio is None  # no division by a zero reference
    assert not Target("value", "<", 1.0).holds(math.nan, None)
    assert str(budget.target) == "value < 1 s" and str(spec.target) == "ratio >= 0.5"
    assert set(spec.measured(1.0, 2.0).to_dict()) == JSON_KEYS


def test_the_json_of_a_run_holds_every_figure_with_ratio_value_over_reference(tmp_path: Path):
    figures = run_benchmarks(BenchConfig.quick(work_dir=tmp_path / "work"), suites=[FAKE])
    path = tmp_path / "out" / "bench.json"
    write_figures(figures, path)
    written = json.loads(path.read_text())
    check_schema(written)
    by_name = {entry["name"]: entry for entry in written}
    assert by_name["fake_fast_ratio"]["ratio"] == 1.5 and by_name["fake_fast_ratio"]["pass"] is True
    assert by_name["fake_slow_ratio"]["ratio"] == 0.25 and by_name["fake_slow_ratio"]["pass"] is False
    assert by_name["fake_budget_s"]["pass"] is True  # 0.25 s < 1 s, whatever its ratio
    # promised but not returned: reported unmeasured, never silently dropped
    assert by_name["fake_promised_s"]["value"] is None and by_name["fake_promised_s"]["pass"] is False


def test_a_failing_suite_reports_its_figures_unmeasured_and_the_others_survive(tmp_path: Path):
    figures = run_benchmarks(BenchConfig.quick(work_dir=tmp_path), suites=[BROKEN, FAKE])
    names = {figure.name: figure for figure in figures}
    assert names["broken_figure_s"].value is None and not names["broken_figure_s"].passed
    assert "caught fire" in names["broken_figure_s"].about
    assert names["fake_fast_ratio"].value == 3.0


def test_only_runs_the_suites_whose_figures_start_with_the_prefix(tmp_path: Path):
    fake_suites.CALLS.clear()
    figures = run_benchmarks(BenchConfig.quick(work_dir=tmp_path), only="fake_slow", suites=[BROKEN, FAKE])
    assert fake_suites.CALLS == ["measure"]  # the broken suite never ran
    assert [figure.name for figure in figures] == ["fake_slow_ratio"]
    with pytest.raises(ValueError, match="matches no figure"):
        run_benchmarks(BenchConfig.quick(work_dir=tmp_path), only="nothing", suites=[FAKE])


def test_measurements_alternate_their_order_and_report_medians():
    calls: list[str] = []
    values = {"a": iter([5.0, 1.0, 3.0]), "b": iter([10.0, 30.0, 20.0])}

    def measure(name: str):
        return lambda: calls.append(name) or next(values[name])

    medians = interleaved_medians({"a": measure("a"), "b": measure("b")}, repeats=3)
    assert calls == ["a", "b", "b", "a", "a", "b"]  # ABBA: neither always goes first
    assert medians == {"a": 3.0, "b": 20.0}


def test_the_suites_of_make_bench_cover_every_figure_prefix():
    assert {p.rstrip("_") for suite in SUITES for p in suite.prefixes} == {p.rstrip("_") for p in PREFIXES}


def test_simslab_bench_measures_orchestration_and_writes_the_json(tmp_path: Path):
    """The real orchestration suite, in its smallest configuration, through the command line."""
    path = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--only", "orchestration", "--quick", "--json", str(path)])
    written = json.loads(path.read_text())
    check_schema(written)
    assert [entry["name"] for entry in written] == ["orchestration_stage_events_per_s"]
    assert written[0]["value"] > 0 and written[0]["reference"] > 0, result.output
    assert result.exit_code == (0 if written[0]["pass"] else 1), result.output


def test_an_unknown_prefix_is_refused_by_the_command_line():
    result = CliRunner().invoke(app, ["bench", "--only", "nosuch"])
    assert result.exit_code == 2 and "matches no figure" in result.output


def test_the_campaign_suite_measures_a_child_campaign(tmp_path: Path):
    from tests.benchmarks.fake_demo import ALLOCATED_MB, SIMULATED_GAP_S

    config = BenchConfig.quick(work_dir=tmp_path, extra={
        "demo_command": [sys.executable, "-m", "tests.benchmarks.fake_demo"],
        "baseline_command": [sys.executable, "-c", "pass"],
    })
    campaign_suite = [suite for suite in SUITES if suite.name == "campaign"]
    figures = {figure.name: figure for figure in run_benchmarks(config, suites=campaign_suite)}
    check_schema([figure.to_dict() for figure in figures.values()])
    wall, simulated, memory = (figures[n] for n in ("campaign_demo_wall_s", "campaign_demo_simulated_s",
                                                     "memory_demo_peak_rss_mb"))
    # the readings of the two runs are stamped on the virtual clock, one gap apart (plus the
    # few virtual milliseconds the loop advances while it waits for real work)
    assert simulated.value == pytest.approx(SIMULATED_GAP_S, abs=1.0)
    assert simulated.reference == wall.value and simulated.ratio == pytest.approx(SIMULATED_GAP_S / wall.value, rel=1e-3)
    assert memory.value >= ALLOCATED_MB  # the ballast alone, on top of Python and the stack
    assert memory.reference < memory.value  # a bare `python -c pass`


def test_the_orchestration_reference_emits_the_data_keys_of_the_stage():
    """The soft-signal mirror reads like the stage (names, dtypes, shapes, values, hints), so the
    two runs of the orchestration figure emit documents of one shape and only the path differs."""
    import asyncio

    from benchmarks.orchestration import soft_mirror
    from simslab.clock import ManualClock
    from simslab.devices import make_cryo_stage
    from simslab.profile import load_profile
    from tests.conftest import SIM_PROFILE

    async def describe_both():
        stage = make_cryo_stage(None, load_profile(SIM_PROFILE).devices.stage, ManualClock(1.7e9))
        await stage.connect(mock=True)
        mirror = soft_mirror(stage.name, await stage.read(), await stage.read_configuration(),
                             stage.hints["fields"])
        await mirror.connect()
        return [(await d.describe(), await d.describe_configuration(), await d.read(), d.hints) for d in (stage, mirror)]

    (keys, config, reading, hints), (mirror_keys, mirror_config, mirror_reading, mirror_hints) = asyncio.run(describe_both())
    assert list(mirror_keys) == list(keys) and list(mirror_config) == list(config)
    for key in keys:
        assert (mirror_keys[key]["dtype"], mirror_keys[key]["shape"]) == (keys[key]["dtype"], keys[key]["shape"])
        assert mirror_reading[key]["value"] == reading[key]["value"]
    assert mirror_hints == hints
