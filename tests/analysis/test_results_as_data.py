"""Every result prints as named, JSON-ready fields with a method (what `simslab analyze --json` shows)."""

import dataclasses
import json
import math

import numpy as np
import pytest

from simslab.analysis import (
    AnalysisResult,
    CyclingStep,
    ImagedArea,
    cycling_capacities,
    dose_map,
    erfc_profile,
    fit_arrhenius,
    fit_erfc_profile,
    heterogeneity_index,
    image_state_of_charge,
    pixel_reversibility,
    quench_check,
    roi_trajectories,
)


def _results():
    x = np.linspace(0, 1e-3, 50)
    rng = np.random.default_rng(0)
    t = np.linspace(0, 7200, 241)
    charge = 6e-6 * np.minimum(t, 7200 - t)
    counts = rng.poisson(50.0, (20, 20))
    return [
        fit_erfc_profile(x, erfc_profile(x, 4e5, 3e-13, 0.95, 0.076), 4e5, 0.95, 0.076),
        fit_arrhenius([300.0, 400.0, 500.0], [1e-13, 1e-11, 2e-10]),
        quench_check(1e-18, 18000.0, 1e-6),
        cycling_capacities(
            t, [CyclingStep("cc_charge", 1, 0, 3600), CyclingStep("cc_discharge", 1, 3600, 7200)], charge_c=charge
        ),
        image_state_of_charge([0.0], [0.01], capacity_c=0.02),
        roi_trajectories({"7Li+": counts[None].astype(float)}, {"all": np.ones((20, 20), bool)}),
        pixel_reversibility(counts, 3 * counts, counts),
        heterogeneity_index(counts, 2 * counts),
        dose_map([ImagedArea(0, 0, 1e-5, 1e-5, 1e8)], (0, 2e-5, 0, 2e-5), 1e-6),
    ]


@pytest.mark.parametrize("result", _results(), ids=lambda r: type(r).__name__)
def test_result_prints_as_json_with_named_si_fields_and_a_method(result):
    assert isinstance(result, AnalysisResult) and dataclasses.is_dataclass(result)
    as_dict = result.to_dict()
    assert list(as_dict) == [f.name for f in dataclasses.fields(result)]
    assert isinstance(as_dict["method"], str) and as_dict["method"]
    text = json.dumps(as_dict, allow_nan=False)  # NaN and inf must not leak into JSON
    assert json.loads(text) == as_dict
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "changed"


def test_nan_prints_as_null():
    fit = fit_arrhenius([300.0, 400.0], [1e-13, 1e-11])  # two points, no scatter to estimate errors from
    assert math.isnan(fit.chi2_reduced)
    assert fit.to_dict()["chi2_reduced"] is None
