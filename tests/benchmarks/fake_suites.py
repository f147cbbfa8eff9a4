"""Suites with known figures, for testing the harness itself (ratios, targets, selection, failures)."""

from __future__ import annotations

from benchmarks.harness import BenchConfig, Figure, FigureSpec, Target

CALLS: list[str] = []
"""Names of the measure functions called, in order (a test clears it first)."""

FAST = FigureSpec("fake_fast_ratio", "events/s", Target("ratio", ">=", 0.8), "3 against 2: passes")
SLOW = FigureSpec("fake_slow_ratio", "events/s", Target("ratio", ">=", 0.8), "1 against 4: fails")
BUDGET = FigureSpec("fake_budget_s", "s", Target("value", "<", 1.0, "s"), "0.25 s against a 1 s budget")
PROMISED = FigureSpec("fake_promised_s", "s", Target("value", "<", 1.0, "s"), "promised, never returned")
SPECS = (FAST, SLOW, BUDGET, PROMISED)
BROKEN_SPECS = (FigureSpec("broken_figure_s", "s", Target("value", "<", 1.0, "s"), "its suite raises"),)


def measure(config: BenchConfig) -> list[Figure]:
    CALLS.append("measure")
    return [FAST.measured(3.0, 2.0), SLOW.measured(1.0, 4.0), BUDGET.measured(0.25, 0.5)]


def measure_broken(config: BenchConfig) -> list[Figure]:
    CALLS.append("measure_broken")
    raise RuntimeError("the instrument of this suite caught fire")
