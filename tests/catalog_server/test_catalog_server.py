"""The running catalog server: key required, loopback only, no secret on disk or command line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import psutil
import pytest

pytestmark = pytest.mark.server

# Runs in a process whose environment holds no key at all: the tiled client silently picks up
# TILED_API_KEY from the environment, which would hide a server that lets anyone in.
_ANONYMOUS_CLIENT = """
import json, sys
import httpx
from tiled.client import from_uri
uri = sys.argv[1]
found = {
    "no_key": httpx.get(f"{uri}/api/v1/metadata/").status_code,
    "wrong_key": httpx.get(f"{uri}/api/v1/metadata/", headers={"Authorization": "Apikey wrong0key"}).status_code,
    "write_no_key": httpx.post(f"{uri}/api/v1/metadata/", json={}).status_code,
}
try:
    from_uri(uri)
    found["client"] = "connected"
except Exception as err:
    found["client"] = type(err).__name__
print(json.dumps(found))
"""


def test_requests_without_the_key_are_refused(catalog_server) -> None:
    environment = {k: v for k, v in os.environ.items() if "API_KEY" not in k}
    result = subprocess.run([sys.executable, "-c", _ANONYMOUS_CLIENT, catalog_server.server.uri],
                            capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert (found["no_key"], found["wrong_key"]) == (401, 401)
    assert found["write_no_key"] in (401, 405)  # refused: unauthenticated, or no such write route at all
    assert found["client"] != "connected"


def test_the_server_listens_on_the_loopback_only(catalog_server) -> None:
    process = psutil.Process(catalog_server.server.process.pid)
    connections = getattr(process, "net_connections", process.connections)(kind="inet")  # psutil < 6: connections
    listening = [c.laddr for c in connections if c.status == psutil.CONN_LISTEN]
    assert listening and all(address.ip == "127.0.0.1" for address in listening)


def test_no_secret_in_the_config_file_or_on_the_command_line(catalog_server) -> None:
    password = os.environ["SIMSLAB_DATABASE_URI"].split(":")[2].split("@")[0]
    secrets = (password, catalog_server.api_key)
    config = catalog_server.server.config_path.read_text()
    command_line = " ".join(psutil.Process(catalog_server.server.process.pid).cmdline())
    assert not any(secret in config or secret in command_line for secret in secrets)
    # tiled logs the database URI with its password: its log must be private to its owner.
    assert stat.S_IMODE(catalog_server.server.log_path.stat().st_mode) == 0o600
