"""The command line, through typer's test runner, on the simulated profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simslab.cli import app

from ..conftest import REPO, SIM_PROFILE

runner = CliRunner()


def command_names() -> list[str]:
    return sorted(c.name or c.callback.__name__ for c in app.registered_commands)


@pytest.mark.parametrize("command", command_names())
def test_every_command_has_help(command: str):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "not implemented" not in result.output.lower()
    assert "Usage" in result.output


def test_runs_lists_what_the_catalog_holds(data_dir: Path):
    import bluesky.plans as bp
    from bluesky import RunEngine
    from ophyd.sim import det

    from simslab.catalog import Catalog

    empty = runner.invoke(app, ["runs", "--json"])
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    catalog = Catalog.open()
    engine = RunEngine({})
    engine.subscribe(catalog.writer())
    (uid,) = engine(bp.count([det], 2, md={"campaign_id": "c1", "step": {"index": 3, "kind": "anneal"},
                                           "sample": {"id": "LLTO-7"}}))
    catalog.close()

    rows = json.loads(runner.invoke(app, ["runs", "--json"]).stdout)
    assert rows == [{
        "uid": uid, "start_time": rows[0]["start_time"], "plan_name": "count", "campaign_id": "c1",
        "step_index": 3, "step_kind": "anneal", "sample": "LLTO-7", "exit_status": "success", "reason": "",
    }]
    assert json.loads(runner.invoke(app, ["runs", "--json", "--campaign", "c1"]).stdout) == rows
    assert json.loads(runner.invoke(app, ["runs", "--json", "--campaign", "c2"]).stdout) == []
    table = runner.invoke(app, ["runs"])
    assert table.exit_code == 0 and uid[:8] in table.stdout and "LLTO-7" in table.stdout
    shown = runner.invoke(app, ["show", uid[:8]])
    assert shown.exit_code == 0 and '"campaign_id": "c1"' in shown.stdout
    documents = [json.loads(line) for line in runner.invoke(app, ["show", uid, "--documents"]).stdout.splitlines()]
    assert [name for name, _ in documents].count("event") == 2
    missing = runner.invoke(app, ["show", "nosuchrun"])
    assert missing.exit_code == 2 and "no run 'nosuchrun'" in missing.stderr


def test_bad_profile_is_one_clear_line_and_exit_2(tmp_path: Path, data_dir: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SIM_PROFILE.read_text().replace("clock: virtual", "clock: sundial"))
    result = runner.invoke(app, ["shell", "--profile", str(bad), "--exec", "pass"])
    assert result.exit_code == 2
    assert f"{bad}: clock = 'sundial' is not allowed" in result.stderr
    assert "Traceback" not in result.output


def test_shell_namespace_has_the_bluesky_habit(data_dir: Path):
    code = "print(sorted(k for k in ('RE','stage','furnace','potentiostat','sims','sample_handler','catalog','plans') if k in globals()))"
    result = subprocess.run(
        [sys.executable, "-m", "simslab.cli", "shell", "--profile", str(SIM_PROFILE), "--exec", code],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "['RE', 'catalog', 'furnace', 'plans', 'potentiostat', 'sample_handler', 'sims', 'stage']" in result.stdout
