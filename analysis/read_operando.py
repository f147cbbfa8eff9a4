"""Reading an operando run: the potentiostat trace, the cell steps, each image with its charge window.

An operando run (``plans.operando_cycling``) monitors the potentiostat's voltage, current and
charge counter (``potentiostat-*_monitor``); every image is one event of ``image`` with the
frames of each mass, the region (``sims-acquired_region``), the primary ions, and the
``operando-*`` log: the charge window it integrated over, the cell step, cycle and why it
was taken. Cell steps are rebuilt from the images taken at each step's end (their
``potentiostat-step_time`` is the step's length, frozen once it ended); a run without such
images falls back to the current trace (sign and magnitude of the current).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from simslab.errors import CatalogError

from .operando_cycling import CyclingStep
from .read_streams import RunNode, metadata_number, monitor_stream

__all__ = ["OperandoImage", "OperandoRecord", "read_operando_run", "STEP_KINDS"]

log = logging.getLogger(__name__)

STEP_KINDS = {"rest": "rest", "charge": "cc_charge", "cv_hold": "cv_hold", "discharge": "cc_discharge"}
"""The plan's cell-step names and the analysis's CyclingStep kinds."""
_SIGNALS = ("potentiostat-voltage", "potentiostat-current", "potentiostat-charge")


@dataclasses.dataclass(frozen=True)
class OperandoImage:
    """One image of one electrode window: counts per mass label (ny, nx) and its charge window (C, s)."""

    region: str
    reason: str
    cell_step: str
    cycle: int
    start_s: float
    end_s: float
    charge_start_c: float
    charge_end_c: float
    primary_ions: float
    counts: dict[str, np.ndarray]

    @property
    def middle_s(self) -> float:
        return 0.5 * (self.start_s + self.end_s)


@dataclasses.dataclass(frozen=True)
class OperandoRecord:
    """An operando run as arrays: trace (session-clock s, V, A, C), steps, images, window geometry."""

    uid: str
    label: str
    cell: dict[str, Any]
    cycling: dict[str, Any]
    time_s: np.ndarray
    voltage_v: np.ndarray
    current_a: np.ndarray
    charge_c: np.ndarray
    steps: tuple[CyclingStep, ...]
    steps_source: str
    images: tuple[OperandoImage, ...]
    masses: tuple[str, ...]
    pixel_size_m: tuple[float, float]
    raster_m: tuple[float, float]
    refused_images: int
    dose_budget_ions_per_m2: float | None

    @property
    def regions(self) -> tuple[str, ...]:
        """The imaged windows, in the order first imaged."""
        return tuple(dict.fromkeys(image.region for image in self.images))

    def images_of(self, region: str) -> list[OperandoImage]:
        return [image for image in self.images if image.region == region]


def read_operando_run(node: RunNode) -> OperandoRecord:
    """Read the trace, the steps and every image of an operando run."""
    start, uid = node.start, node.uid
    time_s, voltage, current, charge = _trace(node)
    columns = node.columns("image")
    images: list[OperandoImage] = []
    masses: tuple[str, ...] = ()
    pixel, raster = (np.nan, np.nan), (np.nan, np.nan)
    if columns is not None and len(columns):
        keys = node.mass_keys("image")
        masses = tuple(keys)
        frames = {label: node.frames("image", key) for label, key in keys.items()}
        config = node.configuration("image")
        raster = (float(config["raster_x"]), float(config["raster_y"]))
        pixel = (raster[0] / float(config["pixels_x"]), raster[1] / float(config["pixels_y"]))
        for i in range(len(columns)):
            images.append(OperandoImage(
                region=str(columns.column("sims-acquired_region")[i]),
                reason=str(columns.column("operando-reason")[i]),
                cell_step=str(columns.column("operando-cell_step")[i]),
                cycle=int(columns.column("operando-cycle")[i]),
                start_s=float(columns.column("operando-time_start")[i]),
                end_s=float(columns.column("operando-time_end")[i]),
                charge_start_c=float(columns.column("operando-charge_start")[i]),
                charge_end_c=float(columns.column("operando-charge_end")[i]),
                primary_ions=float(columns.column("sims-primary_ions")[i]),
                counts={label: frames[label][i] for label in masses},
            ))
    steps, source = _steps_from_images(columns, time_s) if columns is not None else ((), "")
    if not steps:
        steps, source = _steps_from_current(time_s, current, start.get("cycling") or {}), "current trace"
    refusals = node.columns("dose_refusals")
    step = start.get("step") or {}
    return OperandoRecord(
        uid=uid, label=str(step.get("label") or start.get("plan_name", "")), cell=dict(start.get("sample") or {}),
        cycling=dict(start.get("cycling") or {}), time_s=time_s, voltage_v=voltage, current_a=current,
        charge_c=charge, steps=tuple(steps), steps_source=source, images=tuple(images), masses=masses,
        pixel_size_m=pixel, raster_m=raster, refused_images=0 if refusals is None else len(refusals),
        dose_budget_ions_per_m2=metadata_number(start.get("dose_budget_ions_per_m2")),
    )


def _trace(node: RunNode) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the three monitored signals on the union of their times (V, q linear; I held)."""
    series = {}
    for signal in _SIGNALS:
        columns = node.columns(monitor_stream(signal))
        if columns is None or len(columns) == 0:
            raise CatalogError(f"run {node.uid[:8]}: no {signal} trace (stream {monitor_stream(signal)}): not an operando run")
        series[signal] = (columns.times(signal), columns.column(signal).astype(float))
    time_s = np.unique(np.concatenate([t for t, _ in series.values()]))
    voltage = np.interp(time_s, *series["potentiostat-voltage"])
    charge = np.interp(time_s, *series["potentiostat-charge"])
    current_t, current_v = series["potentiostat-current"]
    held = np.clip(np.searchsorted(current_t, time_s, side="right") - 1, 0, current_t.size - 1)
    return time_s, voltage, current_v[held], charge


def _steps_from_images(columns, time_s: np.ndarray) -> tuple[list[CyclingStep], str]:
    """Return the steps from the first image taken at each step's end: [end - step time, end]."""
    if "operando-reason" not in columns or "potentiostat-step_time" not in columns:
        return [], ""
    steps: list[CyclingStep] = []
    seen: set[tuple[int, str]] = set()
    reasons = columns.column("operando-reason")
    for i in np.flatnonzero(reasons == "step_end"):
        kind = str(columns.column("operando-cell_step")[i])
        cycle = int(columns.column("operando-cycle")[i])
        if (cycle, kind) in seen or kind not in STEP_KINDS:
            continue
        seen.add((cycle, kind))
        end_s = float(columns.column("operando-time_start")[i])
        start_s = end_s - float(columns.column("potentiostat-step_time")[i])
        if steps:  # between steps the cell rests at open circuit: the steps tile the cycling
            start_s = max(min(start_s, end_s), steps[-1].end_s)
        start_s, end_s = (float(np.clip(v, time_s[0], time_s[-1])) for v in (start_s, end_s))
        steps.append(CyclingStep(STEP_KINDS[kind], cycle, start_s, end_s))  # type: ignore[arg-type]
    return steps, "images at each step's end (potentiostat-step_time)"


def _steps_from_current(time_s: np.ndarray, current_a: np.ndarray, cycling: dict[str, Any]) -> list[CyclingStep]:
    """Return steps from the current: charge (CC while near the set current, then CV), discharge, rest."""
    set_a = metadata_number(cycling.get("charge_current_a")) or float(np.max(np.abs(current_a)) or 1.0)
    kind = np.where(current_a > 0.02 * set_a, np.where(current_a > 0.9 * set_a, "cc_charge", "cv_hold"),
                    np.where(current_a < -0.02 * set_a, "cc_discharge", "rest"))
    steps: list[CyclingStep] = []
    cycle, start = 0, 0
    for i in range(1, kind.size + 1):
        if i < kind.size and kind[i] == kind[start]:
            continue
        if kind[start] == "cc_charge" and (not steps or steps[-1].kind != "cc_charge"):
            cycle += 1
        if kind[start] != "rest" and time_s[min(i, kind.size - 1)] > time_s[start]:
            steps.append(CyclingStep(str(kind[start]), max(cycle, 1), float(time_s[start]),  # type: ignore[arg-type]
                                     float(time_s[min(i, kind.size - 1)])))
        start = i
    return steps
