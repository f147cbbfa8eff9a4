"""Where the benchmarks find the checkout they run from and the shipped simulated-lab profile."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["REPOSITORY", "SIM_PROFILE"]

REPOSITORY = Path(__file__).resolve().parent.parent
"""The checkout holding ``benchmarks/`` (child processes import it from here)."""

SIM_PROFILE = Path(str(files("simslab.profiles"))) / "sim.yaml"
"""The shipped profile of the simulated lab (what ``simslab demo`` runs on)."""
