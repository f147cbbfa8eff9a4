"""The reference workload the kernel timings are divided by: one sparse LU solve on the map grid.

The analysis and twin kernels have absolute budgets (seconds), but a second on a busy laptop
is not a second on a quiet workstation. Each kernel is therefore timed beside this fixed
workload, the step most of them repeat: one implicit diffusion step on the 512 x 206 pixel
grid, i.e. a solve of I + L (5-point Laplacian) with its SuperLU factors computed beforehand
(the factorisation, ~10-30x a solve, is done once and not timed). The ratio kernel / reference
is the kernel's cost in units of that step, comparable across machines.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import SuperLU, splu

__all__ = ["GRID_SHAPE", "reference_solve_s"]

GRID_SHAPE = (206, 512)
"""(ny, nx) of a SIMS map: 512 x 206 pixels."""


def reference_solve_s() -> float:
    """Return the wall seconds of one solve of I + L on the map grid with prefactorised SuperLU factors."""
    factors, rhs = _factorised_system(GRID_SHAPE)
    started = time.perf_counter()
    factors.solve(rhs)
    return time.perf_counter() - started


@functools.cache
def _factorised_system(shape: tuple[int, int]) -> tuple[SuperLU, np.ndarray]:
    """SuperLU factors of I + L (5-point Laplacian, zero-flux edges) and a right-hand side: made once."""
    ny, nx = shape

    def second_difference(n: int) -> sp.csr_matrix:
        main = np.full(n, 2.0)
        main[[0, -1]] = 1.0  # zero-flux ends
        return sp.diags([-np.ones(n - 1), main, -np.ones(n - 1)], [-1, 0, 1], format="csr")

    laplacian = sp.kron(sp.identity(ny), second_difference(nx)) + sp.kron(second_difference(ny), sp.identity(nx))
    matrix = (sp.identity(nx * ny) + 0.25 * laplacian).tocsc()
    rhs = np.random.default_rng(0).uniform(0.0, 1.0, nx * ny)
    return splu(matrix), rhs
