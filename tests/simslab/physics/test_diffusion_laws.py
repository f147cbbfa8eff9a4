"""Tabulated diffusivities: log D interpolated in 1/T, Arrhenius continued outside the table."""

from __future__ import annotations

import numpy as np
import pytest

from simslab.physics.diffusion_laws import arrhenius, tabulated_arrhenius


def test_table_of_an_arrhenius_law_reproduces_it_inside_and_outside() -> None:
    table_t = np.array([280.0, 350.0, 420.0, 500.0])
    table_d = arrhenius(3.45e-7, 0.30, table_t)
    temperatures = np.array([163.15, 295.15, 400.0, 700.0])
    # log D is exactly linear in 1/T for an Arrhenius law: only rounding remains
    assert tabulated_arrhenius(table_t, table_d, temperatures) == pytest.approx(arrhenius(3.45e-7, 0.30, temperatures), rel=1e-12)


def test_non_arrhenius_table_passes_through_its_points_in_any_order() -> None:
    table_t = [450.0, 300.0, 400.0]
    table_d = [5e-11, 1e-12, 4e-11]  # flattening above ~400 K, like D_bulk from NMR
    assert tabulated_arrhenius(table_t, table_d, table_t) == pytest.approx(table_d, rel=1e-12)
    between = tabulated_arrhenius(table_t, table_d, 350.0)
    assert 1e-12 < between < 4e-11


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        tabulated_arrhenius([300.0, 400.0], [1e-12], 350.0)
    with pytest.raises(ValueError, match="> 0"):
        tabulated_arrhenius([300.0, 400.0], [1e-12, -1.0], 350.0)
    with pytest.raises(ValueError, match="temperature_k"):
        tabulated_arrhenius([300.0, 400.0], [1e-12, 1e-11], 0.0)
