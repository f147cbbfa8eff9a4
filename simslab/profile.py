"""Profiles: which instruments a session drives, where its data go, and the simulated lab.

A profile is a YAML file validated once, here, into typed settings. A bad file fails at load
with the file, the field path, the bad value and what is allowed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from simslab.devices.drivers.settings import TwinDriverSettings
from simslab.devices.settings import (
    CryoStageSettings,
    FurnaceSettings,
    PotentiostatSettings,
    SampleHandlerSettings,
    SimsSettings,
)
from simslab.errors import ValidationError, ValidationErrors
from simslab.simulators.parameters import TwinParameters

__all__ = [
    "Profile",
    "EmbeddedCatalogSettings",
    "ServerCatalogSettings",
    "CatalogServeSettings",
    "DevicesSettings",
    "load_profile",
    "validation_errors",
    "load_yaml",
    "deep_merge",
    "DEFAULT_DATA_DIR",
    "data_directory",
]

DEFAULT_DATA_DIR = Path("simslab-data")


def data_directory(configured: Path | None = None) -> Path:
    """Return the embedded catalog's directory: configured, else $SIMSLAB_DATA, else ./simslab-data."""
    if configured is not None:
        return configured.expanduser().resolve()
    return Path(os.environ.get("SIMSLAB_DATA", DEFAULT_DATA_DIR)).expanduser().resolve()


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedCatalogSettings(_Settings):
    """An on-disk catalog (SQLite plus array files) opened in-process: nothing to start."""

    kind: Literal["embedded"] = "embedded"
    directory: Path | None = Field(None, description="default: $SIMSLAB_DATA, else ./simslab-data")
    batch_size: int = Field(1000, ge=1, description="rows TiledWriter buffers before writing")


class CatalogServeSettings(_Settings):
    """How ``simslab serve`` runs the tiled server on PostgreSQL (secrets come from the environment)."""

    database_uri_env: str = Field(
        "SIMSLAB_DATABASE_URI", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    )
    tables_database: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="database for tabular data on the same server (default: <catalog database>_tables)",
    )
    storage_directory: Path | None = Field(
        None, description="where the server writes arrays (default: the data directory's server/)"
    )
    host: str = Field("127.0.0.1", min_length=1, description="address to bind (0.0.0.0 exposes it on the network)")
    port: int | None = Field(None, ge=1, le=65535, description="port to bind (default: the port of uri)")

    @model_validator(mode="before")
    @classmethod
    def _no_database_uri_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "database_uri" in data:
            raise ValueError("database_uri must not be written in a profile (it holds a password): set "
                             "database_uri_env to the name of an environment variable holding it")
        return data

    def database_uri(self) -> str | None:
        """Return the PostgreSQL URI from the environment (None if the variable is unset)."""
        return os.environ.get(self.database_uri_env)


class ServerCatalogSettings(_Settings):
    """A tiled server (e.g. on PostgreSQL). The API key is read from an environment variable."""

    kind: Literal["tiled"]
    uri: str = Field(pattern=r"^https?://")
    api_key_env: str = Field("SIMSLAB_TILED_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    assets_directory: Path | None = Field(
        None, description="where detectors write HDF5; must be in the server's readable storage"
    )
    batch_size: int = Field(1000, ge=1)
    serve: CatalogServeSettings = CatalogServeSettings()

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise ValueError("api_key must not be written in a profile: set api_key_env to the name of "
                             "an environment variable holding it")
        return data

    def api_key(self) -> str | None:
        """Return the API key from the environment (None if the variable is unset)."""
        return os.environ.get(self.api_key_env)


CatalogSettings = Annotated[EmbeddedCatalogSettings | ServerCatalogSettings, Field(discriminator="kind")]


class MetadataDefaults(BaseModel):
    """Metadata added to every run's start document (more keys are allowed)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    operator: str = "unknown"
    lab: str = "unknown"
    instrument: str = "ToF-SIMS"


class DevicesSettings(_Settings):
    """The five instruments of a session; each defaults to its twin."""

    stage: CryoStageSettings = CryoStageSettings()
    furnace: FurnaceSettings = FurnaceSettings()
    potentiostat: PotentiostatSettings = PotentiostatSettings()
    sims: SimsSettings = SimsSettings()
    sample_handler: SampleHandlerSettings = SampleHandlerSettings()

    def uses_twin(self) -> bool:
        """Return True if any instrument is simulated by the twin."""
        return any(isinstance(getattr(self, n).driver, TwinDriverSettings) for n in type(self).model_fields)


class LiveSettings(_Settings):
    """Live feedback while plans run."""

    progress: bool = True
    plot: bool = Field(False, description="draw the latest image of every mass and the potentiostat curve into "
                                         "PNGs beside the catalog's assets (live/), as `simslab watch` does")
    publish: str | None = Field(
        None, pattern=r"^[A-Za-z0-9.\-]+:[0-9]{1,5}$",
        description="host:port of a 0MQ proxy to publish documents to (simslab watch runs one)",
    )


class Profile(_Settings):
    """One lab (or the simulated lab): devices, clock, catalog, metadata and twin."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    clock: Literal["wall", "virtual"] = "wall"
    catalog: CatalogSettings = EmbeddedCatalogSettings()
    metadata: MetadataDefaults = MetadataDefaults()
    devices: DevicesSettings = DevicesSettings()
    protocol_peers: bool = Field(
        False, description="run the real drivers against protocol peers of the twin instead of instruments"
    )
    live: LiveSettings = LiveSettings()
    twin: TwinParameters = TwinParameters()
    source: str = Field("<memory>", exclude=True, description="the file it was read from")

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.protocol_peers and self.clock != "virtual":
            raise ValueError("protocol_peers needs clock: virtual (the peers answer from the simulated lab)")
        return self

    @property
    def simulated(self) -> bool:
        """True when any instrument is the twin or a protocol peer of it."""
        return self.protocol_peers or self.devices.uses_twin()


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping, turning syntax errors into a ValidationError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValidationError(str(path), "<file>", None, f"a readable YAML file ({err.strerror})") from err
    except UnicodeDecodeError as err:
        raise ValidationError(str(path), f"byte {err.start}", None, "UTF-8 text") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "<file>"
        raise ValidationError(str(path), where, None, f"valid YAML ({getattr(err, 'problem', err)})") from err
    if not isinstance(data, dict):
        raise ValidationError(str(path), "<file>", type(data).__name__, "a YAML mapping at the top level")
    return data


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``overrides`` merged in, recursively for nested mappings.

    A mapping that names another ``kind`` (another driver, another catalog) replaces the
    file's mapping instead of merging into it: its fields belong to the other kind.
    """
    merged = dict(base)
    for key, value in overrides.items():
        switches_kind = isinstance(value, dict) and "kind" in value and value["kind"] != (merged.get(key) or {}).get("kind")
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not switches_kind:
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def validation_errors(source: str, err: pydantic.ValidationError, data: Any = None) -> ValidationErrors:
    """Turn pydantic's report into simslab's: file, field path, value, what is allowed.

    ``data`` is the validated input; with it, the tags pydantic adds to the location of a
    tagged union (the ``kind`` value) are dropped so the path reads as the file is written.
    """
    found = []
    for item in err.errors(include_url=False):
        path = _field_path(data, item["loc"]) or "<top>"
        value = item.get("input")
        allowed = item["msg"].removeprefix("Value error, ")
        ctx = item.get("ctx") or {}
        if "expected" in ctx:
            allowed = f"one of {ctx['expected']}"
        if item["type"] == "union_tag_invalid":
            path, value, allowed = f"{path}.{ctx['discriminator'].strip(chr(39))}", ctx["tag"], f"one of {ctx['expected_tags']}"
        elif item["type"] == "missing":
            value = "<missing>"
        elif isinstance(value, dict):
            value = "{...}"
        found.append(ValidationError(source, path, value, allowed))
    return ValidationErrors(found)


def _field_path(data: Any, loc: tuple) -> str:
    parts = []
    for part in loc:
        if isinstance(data, dict) and part not in data and data.get("kind") == part:
            continue  # a tagged-union tag, not a key of the file
        parts.append(f"[{part}]" if isinstance(part, int) else str(part))
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            data = None
    return ".".join(parts).replace(".[", "[")


def load_profile(path: str | Path, overrides: dict[str, Any] | None = None) -> Profile:
    """Read and validate a profile file; ``overrides`` are merged over it (tests, CLI flags)."""
    path = Path(path)
    data = load_yaml(path)
    if overrides:
        data = deep_merge(data, overrides)
    try:
        return Profile.model_validate({**data, "source": str(path)})
    except pydantic.ValidationError as err:
        raise validation_errors(str(path), err, data) from None
