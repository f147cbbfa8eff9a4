"""Reading a cryo-SIMS run: the 6Li/7Li count maps, their geometry, the stage during the image.

A cryo-SIMS run (``plans.cryo_sims``) holds one map in its ``image`` stream and usually a
line scan in ``line_scan``; the stage temperature is monitored over the whole run. The map's
pixel size is its raster over its pixels (configuration of the ``sims`` device); its columns
run along the diffusion direction, column 0 nearest the immersed edge. Where the map sits
on the sample (its left edge's distance from the immersed edge) is read from the start
document (see :func:`window_origin`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from simslab.errors import CatalogError

from .read_streams import RunNode, metadata_number, monitor_stream

__all__ = ["CryoImage", "LineScan", "read_cryo_image", "window_origin", "STAGE_TEMPERATURE", "LI6", "LI7"]

log = logging.getLogger(__name__)

STAGE_TEMPERATURE = "stage-temperature"
LI6, LI7 = "6Li+", "7Li+"


@dataclasses.dataclass(frozen=True)
class LineScan:
    """A line of 6Li/7Li counts along x (the diffusion direction), ``pixel_size_m`` apart, below the surface."""

    i6: np.ndarray
    i7: np.ndarray
    pixel_size_m: float
    raster_m: tuple[float, float]
    primary_ions: float
    start_s: float
    end_s: float
    sputter_time_s: float


@dataclasses.dataclass(frozen=True)
class CryoImage:
    """One cryo-SIMS map and what the analysis needs beside it (SI units, session-clock times).

    i6, i7: counts (ny, nx); pixel_size_m: (x, y) = raster / pixels; start_s, end_s: the
    acquisition (cleaning included), the counts come from its last ``integration_s``;
    stage_time_s, stage_temperature_k: the monitored stage during the acquisition;
    window_origin_m: the map's left edge from the immersed edge (None: not recorded), with
    ``origin_source`` saying where it came from; step_index / after: the campaign step.
    """

    uid: str
    step_index: int | None
    after: str | None
    label: str
    i6: np.ndarray
    i7: np.ndarray
    pixel_size_m: tuple[float, float]
    raster_m: tuple[float, float]
    integration_s: float
    primary_ions: float
    primary_current_a: float
    start_s: float
    end_s: float
    stage_time_s: np.ndarray
    stage_temperature_k: np.ndarray
    imaging_temperature_k: float | None
    window_origin_m: float | None
    origin_source: str
    region: str
    line_scan: LineScan | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.i6.shape  # type: ignore[return-value]

    @property
    def integration_start_s(self) -> float:
        """When the counts began to be collected (the end minus the integration time)."""
        return self.end_s - self.integration_s


def read_cryo_image(node: RunNode, *, line_scan: bool = True) -> CryoImage:
    """Read the map (first event of ``image``), its stage trace and (``line_scan``) line scan from a cryo-SIMS run."""
    start, uid = node.start, node.uid
    columns = node.columns("image")
    if columns is None or len(columns) == 0:
        raise CatalogError(f"run {uid[:8]} ({node.plan_name}) has no image: not a finished cryo-SIMS run")
    frames = _li_frames(node, "image")
    i6, i7 = frames[LI6][0], frames[LI7][0]
    config = node.configuration("image", at_wall_time_s=float(columns.wall_time_s[0]))
    raster = (float(config["raster_x"]), float(config["raster_y"]))
    ny, nx = i6.shape
    end_s = float(columns.times("sims-elapsed")[0])
    elapsed_s = float(columns.column("sims-elapsed")[0])
    stage = node.columns(monitor_stream(STAGE_TEMPERATURE))
    stage_t = stage.times(STAGE_TEMPERATURE) if stage is not None else np.zeros(0)
    stage_k = stage.column(STAGE_TEMPERATURE) if stage is not None else np.zeros(0)
    if stage_t.size:
        stage_t, stage_k = _with_ends(stage_t, stage_k, end_s - elapsed_s, end_s)
    origin, source = window_origin(start)
    step = start.get("step") or {}
    return CryoImage(
        uid=uid,
        step_index=step.get("index"),
        after=step.get("after"),
        label=str(step.get("label") or start.get("plan_name", "")),
        i6=i6,
        i7=i7,
        pixel_size_m=(raster[0] / nx, raster[1] / ny),
        raster_m=raster,
        integration_s=float(config.get("integration_time", elapsed_s)),
        primary_ions=float(columns.column("sims-primary_ions")[0]),
        primary_current_a=float(config.get("primary_current", np.nan)),
        start_s=end_s - elapsed_s,
        end_s=end_s,
        stage_time_s=stage_t,
        stage_temperature_k=stage_k,
        imaging_temperature_k=metadata_number((start.get("imaging") or {}).get("temperature_k")),
        window_origin_m=origin,
        origin_source=source,
        region=str(config.get("region", "")),
        line_scan=_line_scan(node) if line_scan else None,
    )


def window_origin(start: dict[str, Any]) -> tuple[float | None, str]:
    """Return the map's left edge from the immersed edge (m) and where the value came from.

    Looked up in order: ``imaging.window_origin_m`` (recorded by the plan), the sample's
    ``window_origin_m`` (given in the campaign file), and, for a simulated run, the twin's
    ``sample.window_offset_m`` (the simulated stage position). None when none is recorded.
    """
    candidates = (
        ((start.get("imaging") or {}).get("window_origin_m"), "imaging.window_origin_m"),
        ((start.get("sample") or {}).get("window_origin_m"), "sample.window_origin_m"),
    )
    for value, where in candidates:
        number = metadata_number(value)
        if number is not None:
            return number, where
    if start.get("simulated"):
        number = metadata_number(((start.get("twin") or {}).get("sample") or {}).get("window_offset_m"))
        if number is not None:
            return number, "twin.sample.window_offset_m (simulated stage position)"
    return None, "not recorded"


def _li_frames(node: RunNode, stream: str) -> dict[str, np.ndarray]:
    keys = node.mass_keys(stream)
    missing = [label for label in (LI6, LI7) if label not in keys]
    if missing:
        raise CatalogError(f"run {node.uid[:8]}: stream {stream!r} has no {', '.join(missing)} channel (it has "
                           f"{', '.join(keys) or 'none'})")
    return {label: node.frames(stream, keys[label]) for label in (LI6, LI7)}


def _line_scan(node: RunNode) -> LineScan | None:
    columns = node.columns("line_scan")
    if columns is None or len(columns) == 0:
        return None
    frames = _li_frames(node, "line_scan")
    config = node.configuration("line_scan", at_wall_time_s=float(columns.wall_time_s[0]))
    i6, i7 = frames[LI6][0].ravel(), frames[LI7][0].ravel()
    end_s = float(columns.times("sims-elapsed")[0])
    raster = (float(config["raster_x"]), float(config["raster_y"]))
    return LineScan(i6, i7, raster[0] / i6.size, raster, float(columns.column("sims-primary_ions")[0]),
                    end_s - float(columns.column("sims-elapsed")[0]), end_s, float(config.get("sputter_time", 0.0)))


def _with_ends(time_s: np.ndarray, temperature_k: np.ndarray, start_s: float, end_s: float):
    """Return the trace over [start_s, end_s], with values interpolated at both ends."""
    inside = (time_s > start_s) & (time_s < end_s)
    t = np.concatenate([[start_s], time_s[inside], [end_s]])
    return t, np.interp(t, time_s, temperature_k)
