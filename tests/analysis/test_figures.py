"""Figures are written as PNG and SVG, at the promised size, and actually show something."""

import struct
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from matplotlib.image import imread

from simslab.analysis import (
    ArrheniusSeries,
    ImagedArea,
    PlotSeries,
    arrhenius,
    boundary_profile,
    dose_map,
    erfc_profile,
    fit_arrhenius,
    grain_boundary_diffusivities,
    isotope_fraction,
    plot_arrhenius,
    plot_boundary_profile,
    plot_charge_discharge,
    plot_dose_map,
    plot_fraction_map,
    plot_image_grid,
    plot_profiles,
    plot_roi_trajectories,
    roi_trajectories,
)
from simslab.analysis.figure_output import DEFAULT_DPI

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    """Return (width, height) from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _check_written(paths, width_in, height_in):
    """The PNG has the promised pixel size and shows something; an SVG, if written, parses."""
    png = paths[0]
    assert png.suffix == ".png"
    assert _png_size(png) == (round(width_in * DEFAULT_DPI), round(height_in * DEFAULT_DPI))
    pixels = imread(png)
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    for svg in paths[1:]:
        assert svg.suffix == ".svg"
        assert ElementTree.parse(svg).getroot().tag.endswith("svg")
        assert svg.stat().st_size > 5000


# Drawing dominates these tests (~1 s per format on a loaded 2-core machine): PNG and SVG
# are both checked for the map, the other figures write PNG only.
PNG = ("png",)


def test_fraction_map_with_boundaries(tmp_path, make_staircase):
    synthetic = make_staircase(shape=(100, 250), angle_rad=0.3, counts=1e5)
    fraction = isotope_fraction(synthetic.i6, synthetic.i7)
    analysis = grain_boundary_diffusivities(
        fraction.fraction, fraction.sigma, (1e-6, 1e-6), 2.6e-12, boundaries=synthetic.boundary_mask
    )
    paths = plot_fraction_map(fraction.fraction, (1e-6, 1e-6), tmp_path / "map", analysis=analysis)
    assert [p.suffix for p in paths] == [".png", ".svg"]  # both by default
    _check_written(paths, 8.0, 8.0 * 100 / 250 + 1.2)
    profile = boundary_profile(analysis, fraction.fraction, fraction.sigma, int(np.argmax(analysis.pixels_up)), 1e-6)
    _check_written(plot_boundary_profile(profile, tmp_path / "boundary", formats=PNG), 6.4, 4.8)


def test_profiles_with_fits(tmp_path):
    x = np.linspace(0, 1e-3, 100)
    c = erfc_profile(x, 4e5, 3e-13, 0.95, 0.076)
    paths = plot_profiles(
        [PlotSeries("after exchange", x, c, np.full_like(c, 0.003))],
        tmp_path / "profiles.png",
        models=[PlotSeries("erfc fit", x, c)],
        formats=PNG,
    )
    _check_written(paths, 6.4, 4.8)


def test_arrhenius_plot_of_three_diffusivities(tmp_path):
    t = np.array([295.15, 373.15, 473.15])
    gb = arrhenius(0.048e-4, 0.43, t)
    series = [
        ArrheniusSeries("(l/delta) D_gb", t, gb, 0.2 * gb, fit=fit_arrhenius(t, gb, 0.2 * gb)),
        ArrheniusSeries("D_bulk", t[:2], np.array([2.6e-12, 1e-11])),
        ArrheniusSeries("D_eff", t, 0.9 * gb),
    ]
    _check_written(plot_arrhenius(series, tmp_path / "arrhenius", formats=PNG), 6.4, 4.8)


def test_charge_discharge_with_imaging_points(tmp_path):
    t = np.linspace(0, 10 * 3600, 1200)
    q = 6e-6 * np.where(t < 5 * 3600, t, 10 * 3600 - t)
    v = 2.0 + 0.7 * q / q.max()
    paths = plot_charge_discharge(
        t, v, q, tmp_path / "cycling", image_start_s=[3600, 20000], image_end_s=[5200, 21600], formats=PNG
    )
    _check_written(paths, 10.0, 4.5)


def test_mass_by_state_grid_and_roi_trajectories(tmp_path):
    rng = np.random.default_rng(0)
    states = ["pristine", "charged", "discharged"]
    images = {
        mass: [rng.poisson(rate, (15, 40)) for rate in rates]
        for mass, rates in {"58Ni+": (20, 60, 25), "48Ti+": (50, 20, 45)}.items()
    }
    _check_written(
        plot_image_grid(images, states, (2e-6, 2e-6), tmp_path / "grid", formats=PNG), 2.6 * 3 + 1.0, 2.0 * 2 + 0.6
    )
    stacks = {mass: np.array(frames, dtype=float) for mass, frames in images.items()}
    regions = {"cathode": np.ones((15, 40), bool), "anode": np.eye(15, 40, dtype=bool)}
    trajectories = roi_trajectories(stacks, regions)
    _check_written(
        plot_roi_trajectories(trajectories, np.array([0.0, 0.5, 0.1]), tmp_path / "roi", x_kind="soc", formats=PNG),
        10.0,
        4.0,
    )


def test_dose_map_figure(tmp_path):
    dose = dose_map(
        [ImagedArea(0, 0, 80e-6, 30e-6, 3e9), ImagedArea(40e-6, 10e-6, 80e-6, 30e-6, 1e9)], (0, 150e-6, 0, 50e-6), 2e-6
    )
    _check_written(plot_dose_map(dose, tmp_path / "dose", formats=PNG), 6.4, 4.8)


def test_png_size_check_would_catch_a_cropped_figure(tmp_path):
    # the size check above is not vacuous: a tightly cropped save has another size
    paths = plot_profiles([PlotSeries("a", np.arange(3.0), np.arange(3.0))], tmp_path / "p", formats=PNG)
    with pytest.raises(AssertionError):
        _check_written(paths, 6.0, 4.8)
