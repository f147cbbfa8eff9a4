"""The benchmark harness: figures, their targets, the suites that measure them, the JSON.

A **figure** is one number (``value`` in ``unit``) measured in the same run as a ``reference``
on the same machine, and ``ratio = value / reference``. Its **target** bounds the value (an
absolute budget: "value < 1 s") or the ratio ("ratio >= 0.8"); ``pass`` says whether it holds.
A figure that could not be measured has ``value`` None and does not pass.

A **suite** names a module, the prefixes its figures' names start with, a list of the figures
it promises (``SPECS``) and a function ``measure(config) -> list[Figure]`` in that module.
Modules are imported only when their suite is selected, so ``--only ingest`` does not pay for
the analysis imports. A soak (or any other long measurement) plugs in as one more
:class:`Suite` of :data:`SUITES` (or a sequence of its own passed to :func:`run_benchmarks`).

The JSON (``simslab bench --json FILE``) is a list with one object per figure:
``name``, ``value``, ``unit``, ``reference``, ``ratio``, ``target`` (e.g. ``"ratio >= 0.8"``), ``pass``.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import operator
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["Target", "FigureSpec", "Figure", "BenchConfig", "Suite", "SUITES", "run_benchmarks", "write_figures"]

logger = logging.getLogger(__name__)

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}


@dataclass(frozen=True)
class Target:
    """A bound on a figure's ``value`` (an absolute budget) or on its ``ratio`` to the reference."""

    quantity: Literal["value", "ratio"]
    comparison: Literal[">=", ">", "<=", "<"]
    bound: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.quantity not in ("value", "ratio"):
            raise ValueError(f"Target.quantity = {self.quantity!r} is not allowed: 'value' or 'ratio'")
        if self.comparison not in _COMPARISONS:
            raise ValueError(f"Target.comparison = {self.comparison!r} is not allowed: one of {list(_COMPARISONS)}")

    def holds(self, value: float | None, ratio: float | None) -> bool:
        """Return True if the bounded quantity is known, finite and within the bound."""
        measured = value if self.quantity == "value" else ratio
        if measured is None or not math.isfinite(measured):
            return False
        return _COMPARISONS[self.comparison](measured, self.bound)

    def __str__(self) -> str:
        text = f"{self.quantity} {self.comparison} {self.bound:g}"
        return f"{text} {self.unit}" if self.unit else text


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``ratio`` and ``passed`` follow from value, reference and target."""

    name: str
    value: float | None
    unit: str
    reference: float | None
    target: Target
    about: str = ""
    """What value and reference are (shown in the console table, not written to the JSON)."""

    @property
    def ratio(self) -> float | None:
        """value / reference, or None when either is unknown or the reference is zero."""
        if self.value is None or self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference

    @property
    def passed(self) -> bool:
        """True if the target holds for this figure."""
        return self.target.holds(self.value, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        """Return the figure as written to the JSON."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "reference": self.reference,
                "ratio": self.ratio, "target": str(self.target), "pass": self.passed}


@dataclass(frozen=True)
class FigureSpec:
    """A figure a suite promises: its name, unit, target and what is compared with what."""

    name: str
    unit: str
    target: Target
    about: str

    def measured(self, value: float, reference: float | None) -> Figure:
        """Return the figure with a measured value and its reference (same unit or None)."""
        return Figure(self.name, float(value), self.unit, None if reference is None else float(reference),
                      self.target, self.about)

    def missing(self, why: str) -> Figure:
        """Return the figure as not measured (value None: it does not pass)."""
        return Figure(self.name, None, self.unit, None, self.target, f"not measured: {why}")


@dataclass(frozen=True)
class BenchConfig:
    """How much to measure: the defaults are ``make bench``; :meth:`quick` is a smoke run.

    repeats: rounds of each side-by-side pair (medians are reported). kernel_repeats: rounds
    of the analysis and twin kernels (fewer: the twin's set up a sample each time, seconds).
    events: events per orchestration run. images: acquisitions per ingest run. work_dir: where
    catalogs, files and the demo's data go (default: a fresh temporary directory, removed after).
    """

    repeats: int = 5
    kernel_repeats: int = 3
    events: int = 400
    images: int = 12
    work_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Suite-specific settings (e.g. ``demo_command`` for the campaign suite)."""

    def __post_init__(self) -> None:
        for name in ("repeats", "kernel_repeats", "events", "images"):
            if getattr(self, name) < 1:
                raise ValueError(f"BenchConfig.{name} = {getattr(self, name)!r} is not allowed: >= 1")

    @classmethod
    def quick(cls, **changes: Any) -> BenchConfig:
        """Return a configuration small enough for a test: one round, few events and images."""
        return replace(cls(repeats=1, kernel_repeats=1, events=40, images=2), **changes)


@dataclass(frozen=True)
class Suite:
    """A module measuring a group of figures together (see the module docstring)."""

    name: str
    module: str
    prefixes: tuple[str, ...]
    measure: str = "measure"
    """Name of the function ``measure(config) -> list[Figure]`` in the module."""
    specs: str = "SPECS"
    """Name of the module's sequence of promised :class:`FigureSpec`."""

    def selected(self, only: str | None) -> bool:
        """Return True if a figure of this suite may start with ``only`` (None: every suite)."""
        return only is None or any(p.startswith(only) or only.startswith(p) for p in self.prefixes)


SUITES: tuple[Suite, ...] = (
    Suite("orchestration", "benchmarks.orchestration", ("orchestration",)),
    Suite("ingest", "benchmarks.ingest", ("ingest",)),
    Suite("analysis", "benchmarks.analysis_kernels", ("analysis_",), "measure_analysis", "ANALYSIS_SPECS"),
    Suite("twin", "benchmarks.analysis_kernels", ("twin_",), "measure_twin", "TWIN_SPECS"),
    Suite("campaign", "benchmarks.campaign", ("campaign", "memory")),
)
"""Every suite of ``make bench``, in the order they run."""


def run_benchmarks(config: BenchConfig = BenchConfig(), only: str | None = None,
                   suites: Sequence[Suite] = SUITES,
                   progress: Callable[[str], None] | None = None) -> list[Figure]:
    """Run the selected suites and return their figures (names starting with ``only``, if given).

    A suite that fails is logged with its traceback and its promised figures come back
    unmeasured, so one broken suite never hides the others' figures.
    """
    selected = [suite for suite in suites if suite.selected(only)]
    if not selected:
        names = ", ".join(p for suite in suites for p in suite.prefixes)
        raise ValueError(f"--only {only!r} matches no figure: names start with one of {names}")
    figures: list[Figure] = []
    with _work_directory(config.work_dir) as work_dir:
        config = replace(config, work_dir=work_dir)
        for suite in selected:
            if progress is not None:
                progress(suite.name)
            figures.extend(_run_suite(suite, config))
    return [figure for figure in figures if only is None or figure.name.startswith(only)]


def write_figures(figures: Iterable[Figure], path: Path) -> None:
    """Write the figures as the JSON list of ``make bench`` (parent folders are created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([figure.to_dict() for figure in figures], indent=1) + "\n", encoding="utf-8")


def _run_suite(suite: Suite, config: BenchConfig) -> list[Figure]:
    specs: Sequence[FigureSpec] = ()
    try:
        module = importlib.import_module(suite.module)
        specs = getattr(module, suite.specs)
        figures = list(getattr(module, suite.measure)(config))
    except Exception as err:  # one suite's failure must not lose the other figures
        logger.exception("benchmark suite %s failed", suite.name)
        why = f"{type(err).__name__}: {err}"
        if not specs:
            return [FigureSpec(f"{suite.prefixes[0].rstrip('_')}_suite", "", Target("value", ">=", 0), "").missing(why)]
        return [spec.missing(why) for spec in specs]
    measured = {figure.name for figure in figures}
    missing = [spec.missing("the suite returned no value") for spec in specs if spec.name not in measured]
    return figures + missing


@contextmanager
def _work_directory(configured: Path | None) -> Iterator[Path]:
    """Yield the configured work directory, or a temporary one removed afterwards."""
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        yield configured.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="simslab-bench-") as temporary:
        yield Path(temporary)
