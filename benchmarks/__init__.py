"""``make bench``: every figure of simslab measured as a ratio against a reference timed beside it.

Run from a checkout (``simslab bench`` imports this folder from the repository; it is not
installed with the package). :mod:`benchmarks.harness` holds the figure record, the suites and
the JSON; one module per suite measures (orchestration, ingest, analysis and twin kernels, the
demo campaign and its memory).
"""

from .harness import SUITES, BenchConfig, Figure, FigureSpec, Suite, Target, run_benchmarks, write_figures

__all__ = ["SUITES", "BenchConfig", "Figure", "FigureSpec", "Suite", "Target", "run_benchmarks", "write_figures"]
