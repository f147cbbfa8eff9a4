"""Export of a stored run as HDF5, CSV and TIFF, read back, on both catalog backends."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import yaml
from typer.testing import CliRunner

from simslab.cli import app
from simslab.errors import ValidationError
from simslab.export import export_run
from tests.catalog_server.lab_runs import MASSES

MONITORS = {"stage-temperature_monitor": ("stage-temperature", "K"),
            "potentiostat-voltage_monitor": ("potentiostat-voltage", "V"),
            "potentiostat-current_monitor": ("potentiostat-current", "A")}


@pytest.fixture
def stored(stored_run):
    return stored_run.catalog, stored_run.recorded


def test_hdf5_holds_the_whole_run_with_units(stored, tmp_path: Path) -> None:
    catalog, recorded = stored
    (path,) = export_run(catalog.run(recorded.uid), "hdf5", tmp_path)

    with h5py.File(path, "r") as h5:
        assert json.loads(h5.attrs["start"])["uid"] == recorded.uid
        assert json.loads(h5.attrs["stop"])["exit_status"] == "success"
        assert set(h5) == {"primary", *MONITORS}
        for key, _ in MASSES.values():
            images = h5["primary"][key]
            np.testing.assert_array_equal(images[()], recorded.frames[key])  # bit-identical counts
            assert images.dtype == np.uint32 and images.attrs["units"] == "counts"
        for stream, (key, units) in MONITORS.items():
            assert h5[stream][key].attrs["units"] == units
            np.testing.assert_array_equal(h5[stream][key][()], _live_values(recorded.documents, stream, key))
            assert h5[stream]["time"].attrs["units"] == "s"
        assert h5["primary"]["sims-dose"].attrs["units"] == "ions/m^2"
        regions = [r.decode() for r in h5["primary"]["sims-acquired_region"][()]]
        assert regions == _live_values(recorded.documents, "primary", "sims-acquired_region", cast=str)


def test_csv_has_one_file_per_scalar_stream_with_units_in_the_header(stored, tmp_path: Path) -> None:
    catalog, recorded = stored
    files = {path.name.split("_", 1)[1].removesuffix(".csv"): path
             for path in export_run(catalog.run(recorded.uid), "csv", tmp_path)}

    assert set(files) == {"primary", *MONITORS}
    for stream, (key, units) in MONITORS.items():
        with open(files[stream], newline="") as table:
            rows = list(csv.reader(table))
        assert rows[0] == ["time (s)", "seq_num", f"{key} ({units})"]
        # Written with repr precision: the values come back exactly as they were read live.
        assert [float(row[2]) for row in rows[1:]] == _live_values(recorded.documents, stream, key)
    with open(files["primary"], newline="") as table:
        header = next(csv.reader(table))
    assert header == ["time (s)", "seq_num", "sims-dose (ions/m^2)", "sims-acquired_region"]  # no images


def test_tiff_stacks_per_mass_are_bit_identical(stored, tmp_path: Path) -> None:
    catalog, recorded = stored
    files = export_run(catalog.run(recorded.uid), "tiff", tmp_path)

    assert len(files) == len(MASSES)
    for label, (key, mass_u) in MASSES.items():
        (path,) = [f for f in files if f.name.endswith(f"_primary_{key}.tif")]
        with tifffile.TiffFile(path) as tiff:
            stack = tiff.asarray()
            described = tiff.shaped_metadata[0]
        np.testing.assert_array_equal(stack, recorded.frames[key])
        assert stack.dtype == np.uint32
        assert (described["units"], described["mass_label"], described["mass_u"]) == ("counts", label, mass_u)


def test_unknown_format_is_refused_before_writing(stored, tmp_path: Path) -> None:
    catalog, recorded = stored
    with pytest.raises(ValidationError, match="hdf5, csv, tiff"):
        export_run(catalog.run(recorded.uid), "xlsx", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_command_writes_files_and_reports_a_missing_run(stored_run, tmp_path: Path) -> None:
    recorded = stored_run.recorded
    if stored_run.backend == "embedded":
        catalog_option = ["--data", str(stored_run.settings.directory)]
    else:  # the server's settings as a profile file, as a user would have them
        profile = tmp_path / "server.yaml"
        profile.write_text(yaml.safe_dump({"name": "test-server",
                                           "catalog": json.loads(stored_run.settings.model_dump_json())}))
        catalog_option = ["--profile", str(profile)]
    runner = CliRunner()
    done = runner.invoke(app, ["export", recorded.uid[:8], "--format", "tiff", "--out", str(tmp_path / "tiff"),
                               *catalog_option])
    assert done.exit_code == 0, done.output
    assert sorted(Path(line).name for line in done.output.split()) == \
        sorted(f"{recorded.uid[:8]}_primary_{key}.tif" for key, _ in MASSES.values())

    missing = runner.invoke(app, ["export", "deadbeef", "--out", str(tmp_path), *catalog_option])
    assert missing.exit_code == 2
    assert "no run 'deadbeef'" in missing.output and "Traceback" not in missing.output


def _live_values(documents: list[tuple[str, dict]], stream: str, key: str, cast: type = float) -> list:
    """A stream's readings of ``key`` in seq_num order, as the live events carried them."""
    descriptors = {doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream}
    events = sorted((doc for name, doc in documents if name == "event" and doc["descriptor"] in descriptors),
                    key=lambda doc: doc["seq_num"])
    return [cast(event["data"][key]) for event in events]
