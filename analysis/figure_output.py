"""Making and writing figures: Agg canvas (no display, no pyplot state), PNG and SVG.

Field units appear only here and in the axis labels: um, cm^2/s, degrees C, uAh.
Figures are built on a bare ``matplotlib.figure.Figure`` with an Agg canvas, so they are
safe in threads and in a process that never opens a window.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = [
    "PlotSeries",
    "new_figure",
    "save_figure",
    "UM_PER_M",
    "CM2_PER_M2",
    "UAH_PER_C",
    "celsius",
    "DEFAULT_DPI",
    "FORMATS",
]

UM_PER_M = 1e6
CM2_PER_M2 = 1e4
UAH_PER_C = 1.0 / 3.6e-3
DEFAULT_DPI = 100
FORMATS = ("png", "svg")


@dataclasses.dataclass(frozen=True)
class PlotSeries:
    """One labelled data series in SI units: x, y and optional y errors."""

    label: str
    x: np.ndarray
    y: np.ndarray
    y_err: np.ndarray | None = None


def celsius(temperature_k: np.ndarray | float) -> np.ndarray:
    """Return degrees Celsius for kelvin."""
    return np.asarray(temperature_k, dtype=float) - 273.15


def new_figure(width_in: float = 6.4, height_in: float = 4.8) -> Figure:
    """Return an empty figure on an Agg canvas with constrained layout."""
    figure = Figure(figsize=(width_in, height_in), dpi=DEFAULT_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``figure`` as each format beside ``path`` (suffix replaced); return the paths written.

    The pixel size of the PNG is the figure size times DEFAULT_DPI (no tight cropping), so
    a reader can rely on it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        figure.savefig(target, format=fmt, dpi=DEFAULT_DPI)
        written.append(target)
        figure.set_layout_engine("none")  # keep the layout the first save computed: the others reuse it
    return written
