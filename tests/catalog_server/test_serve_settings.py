"""How ``simslab serve`` reads its settings: secrets from the environment, the verified config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from simslab.catalog_server import CatalogServer, bind_address, database_uris, redact, server_config
from simslab.cli import app
from simslab.errors import CatalogError, SimslabError
from simslab.profile import ServerCatalogSettings, load_profile
from tests.catalog_server.backends import SERVER_PROFILE

SIM_PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "sim.yaml"


def _settings(**serve) -> ServerCatalogSettings:
    catalog = load_profile(SERVER_PROFILE, {"catalog": {"serve": serve}} if serve else None).catalog
    assert isinstance(catalog, ServerCatalogSettings)
    return catalog


def test_tables_go_to_a_sibling_database_of_the_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMSLAB_DATABASE_URI", "postgresql+asyncpg://lab:s3cret@db.example:5433/simslab")
    assert database_uris(_settings()) == ("postgresql://lab:s3cret@db.example:5433/simslab",
                                          "postgresql://lab:s3cret@db.example:5433/simslab_tables")
    assert database_uris(_settings(tables_database="arrays"))[1] == "postgresql://lab:s3cret@db.example:5433/arrays"


def test_a_missing_or_wrong_database_uri_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIMSLAB_DATABASE_URI", raising=False)
    with pytest.raises(CatalogError, match=r"\$SIMSLAB_DATABASE_URI is unset"):
        database_uris(_settings())
    monkeypatch.setenv("SIMSLAB_DATABASE_URI", "mysql://lab:s3cret@db/simslab")
    with pytest.raises(CatalogError) as refused:
        database_uris(_settings())
    assert "s3cret" not in str(refused.value) and "mysql://lab:***@db/simslab" in str(refused.value)


def test_the_database_uri_cannot_be_written_in_a_profile() -> None:
    with pytest.raises(SimslabError, match="database_uri must not be written in a profile"):
        _settings(database_uri="postgresql://lab:s3cret@db/simslab")


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://lab:s3cret@127.0.0.1:5432/simslab") == "postgresql://lab:***@127.0.0.1:5432/simslab"
    assert redact("postgresql://lab@127.0.0.1/simslab") == "postgresql://lab@127.0.0.1/simslab"


def test_server_config_is_the_verified_recipe(tmp_path: Path) -> None:
    settings = _settings()
    config = server_config(settings, tmp_path / "data", tmp_path / "assets")
    (tree,) = config["trees"]
    assert tree["tree"] == "catalog" and tree["path"] == "/"
    assert tree["args"]["specs"] == [{"name": "CatalogOfBlueskyRuns", "version": "3.0"}]
    assert tree["args"]["writable_storage"] == [str(tmp_path / "data"), "${SIMSLAB_SERVE_TABLES_URI}"]
    assert tree["args"]["readable_storage"] == [str(tmp_path / "assets")]
    assert tree["args"]["uri"] == "${SIMSLAB_SERVE_CATALOG_URI}"  # the password stays in the environment
    assert config["media_types"]["BlueskyRun"]["application/json-seq"] == \
        "bluesky_tiled_plugins.exporters:json_seq_exporter"
    assert config["authentication"] == {"allow_anonymous_access": False}
    assert config["uvicorn"] == {"host": "127.0.0.1", "port": 8000}
    yaml.safe_dump(config)  # it must serialise as tiled's YAML config


def test_bind_port_defaults_to_the_port_of_the_uri() -> None:
    assert bind_address(_settings(port=None)) == ("127.0.0.1", 8000)
    assert bind_address(_settings(port=9100, host="0.0.0.0")) == ("0.0.0.0", 9100)


def test_a_key_that_tiled_would_reject_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setenv("SIMSLAB_TILED_API_KEY", "not-alphanumeric!")
    with pytest.raises(CatalogError, match="letters and digits only"):
        CatalogServer.start(_settings(storage_directory=str(tmp_path / "server")))
    assert not (tmp_path / "server").exists()


def test_serve_refuses_an_embedded_catalog_in_one_line() -> None:
    result = CliRunner().invoke(app, ["serve", "--profile", str(SIM_PROFILE)])
    assert result.exit_code == 2
    assert "serve needs a tiled server catalog" in result.output and "Traceback" not in result.output
