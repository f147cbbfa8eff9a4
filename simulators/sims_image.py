"""ToF-SIMS image formation: expected secondary-ion counts, beam blur and Poisson noise.

A yield map gives, per mass label, the expected secondary ions per primary ion on a sample's
native pixel grid (I = Ip * Y * alpha+ * theta * eta with Y * alpha+ * eta the
``useful_yield``; the tracer sample's maps come from :func:`tracer_yield_maps`, the operando
cell's from its own model). An acquisition delivers Ip * t / e primary ions spread evenly
over its pixels. Expected counts per pixel = (yield averaged over the pixel's footprint) x
(primary ions per pixel), blurred by the primary beam's Gaussian spot, plus a flat
background; the counts are Poisson draws (uint32). The requested raster is centred on the
native map; a raster larger than the map sees the map's edge values continued.

Kinds: ``image`` (ny, nx); ``line_scan`` (n,) (an image one pixel tall over the raster);
``depth_profile`` (cycles,) the counts summed over the raster per analysis frame, with
``depth_m`` after each frame's preceding sputter period (the field is uniform in depth in
this 2D model); ``spectrum`` (channels,) Gaussian peaks at the masses on ``mass_axis_u``.
Mass labels missing from the yield maps give background only.
"""

from __future__ import annotations

import logging
import math
import re

import numpy as np
import scipy.sparse as sp
from scipy.constants import elementary_charge
from scipy.ndimage import gaussian_filter
from scipy.special import ndtr

from simslab.devices.drivers.protocols import AcquisitionRequest, AcquisitionResult
from simslab.errors import ValidationError
from simslab.simulators.parameters import SimsImagingParameters

__all__ = ["SimsImager", "tracer_yield_maps", "primary_ions"]

log = logging.getLogger(__name__)

_SOURCE = "SIMS acquisition request"
_ELEMENT = re.compile(r"^\d*([A-Z][a-z]?)")
_SPECTRUM_MARGIN_U = 1.0


def tracer_yield_maps(fraction: np.ndarray, params: SimsImagingParameters) -> dict[str, np.ndarray]:
    """Return the "6Li+" and "7Li+" yield maps (ions per primary ion) of a 6Li-fraction map."""
    fraction = np.asarray(fraction, dtype=float)
    if np.any((fraction < 0) | (fraction > 1)):
        raise ValueError("fraction must lie in [0, 1]")
    li = params.useful_yield.get("Li")
    if li is None:
        raise ValueError("useful_yield has no 'Li' entry")
    return {"6Li+": li * fraction, "7Li+": li * (1.0 - fraction)}


def primary_ions(request: AcquisitionRequest) -> float:
    """Return the primary ions an acquisition delivers: Ip * t / e."""
    return request.primary.current_a * request.integration_s / elementary_charge


class SimsImager:
    """Turns yield maps into the counts of one acquisition; its own RNG makes noise reproducible."""

    def __init__(self, params: SimsImagingParameters, rng: np.random.Generator):
        self.params = params
        self._rng = rng

    def acquire(self, request: AcquisitionRequest, yield_maps: dict[str, np.ndarray], pixel_size_m: float,
                started_s: float, finished_s: float) -> AcquisitionResult:
        """Return the counts of ``request`` on maps of native pixel side ``pixel_size_m`` (m).

        Times are the caller's (epoch s); the dose (primary_ions / raster area) is the caller's.
        """
        _check_request(request)
        if not pixel_size_m > 0:
            raise ValueError(f"pixel_size_m must be > 0, got {pixel_size_m}")
        ions = primary_ions(request)
        nx, ny = (request.pixels[0], 1) if request.kind == "line_scan" else request.pixels
        frames = request.sputter_cycles if request.kind == "depth_profile" else 1
        per_pixel = ions / (nx * ny * frames)
        footprints: dict[tuple[int, int], tuple[sp.csr_matrix, sp.csr_matrix]] = {}
        expected = {}
        for channel in request.masses:
            yield_map = yield_maps.get(channel.label)
            if yield_map is not None:
                yield_map = np.asarray(yield_map, dtype=float)
                if yield_map.ndim != 2 or np.any(yield_map < 0):
                    raise ValueError(f"the {channel.label} yield map must be a 2D array of ions per primary ion >= 0")
                if yield_map.shape not in footprints:
                    footprints[yield_map.shape] = (
                        _footprint_matrix(ny, request.raster_m[1], yield_map.shape[0], pixel_size_m),
                        _footprint_matrix(nx, request.raster_m[0], yield_map.shape[1], pixel_size_m),
                    )
            expected[channel.label] = self._expected(yield_map, footprints.get(None if yield_map is None else yield_map.shape),
                                                     request.raster_m, (ny, nx), per_pixel)
        result = AcquisitionResult(counts={}, primary_ions=ions, started_s=started_s, finished_s=finished_s,
                                   metadata={"kind": request.kind, "primary_ions_per_pixel": per_pixel})
        if request.kind == "image":
            result.counts = {label: self._poisson(e) for label, e in expected.items()}
        elif request.kind == "line_scan":
            result.counts = {label: self._poisson(e[0]) for label, e in expected.items()}
        elif request.kind == "depth_profile":
            result.counts = {label: self._poisson(np.full(frames, e.sum())) for label, e in expected.items()}
            result.depth_m = self.params.sputter_rate_m_per_s * request.sputter_time_s * np.arange(1, frames + 1)
        else:
            result.mass_axis_u, spectrum = self._spectrum(request, {label: e.sum() for label, e in expected.items()})
            result.counts = {"spectrum": self._poisson(spectrum)}
        return result

    def _expected(self, yield_map: np.ndarray | None, footprint: tuple[sp.csr_matrix, sp.csr_matrix] | None,
                  raster_m: tuple[float, float], shape: tuple[int, int], per_pixel: float) -> np.ndarray:
        background = np.full(shape, self.params.background_counts_per_pixel)
        if yield_map is None or footprint is None:
            return background
        ny, nx = shape
        rows, cols = footprint
        counts = (rows @ (cols @ yield_map.T).T) * per_pixel
        sigma_px = (self.params.psf_sigma_m * ny / raster_m[1], self.params.psf_sigma_m * nx / raster_m[0])
        if max(sigma_px) > 0.05:
            counts = gaussian_filter(counts, sigma_px, mode="nearest")
        return counts + background

    def _spectrum(self, request: AcquisitionRequest, totals: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        masses = [channel.mass_u for channel in request.masses]
        step = self.params.spectrum_channel_u
        axis = np.arange(max(0.0, min(masses) - _SPECTRUM_MARGIN_U), max(masses) + _SPECTRUM_MARGIN_U, step)
        pixels = request.pixels[0] * request.pixels[1]
        expected = np.full(len(axis), self.params.background_counts_per_pixel * pixels * step)
        for channel in request.masses:
            signal = totals[channel.label] - self.params.background_counts_per_pixel * pixels
            sigma = channel.mass_u / (self.params.mass_resolving_power * 2.0 * math.sqrt(2.0 * math.log(2.0)))
            expected += signal * (ndtr((axis + step / 2 - channel.mass_u) / sigma) - ndtr((axis - step / 2 - channel.mass_u) / sigma))
        return axis, expected

    def _poisson(self, expected: np.ndarray) -> np.ndarray:
        return self._rng.poisson(expected).astype(np.uint32)


def _footprint_matrix(n_new: int, size_new_m: float, n_old: int, pixel_old_m: float) -> sp.csr_matrix:
    """Return the (n_new, n_old) matrix averaging old pixels over each new pixel (both centred).

    The first and last old pixels extend to infinity: a raster beyond the map sees its edge.
    """
    width = size_new_m / n_new
    new_edges = (np.arange(n_new + 1) - n_new / 2) * width
    old_edges = (np.arange(n_old + 1) - n_old / 2) * pixel_old_m
    if new_edges[0] < old_edges[0] - pixel_old_m or new_edges[-1] > old_edges[-1] + pixel_old_m:
        log.debug("raster %.3g m exceeds the %.3g m map: edge values continued", size_new_m, n_old * pixel_old_m)
    old_edges[0], old_edges[-1] = -np.inf, np.inf
    # each new pixel overlaps old pixels first..last: a band, built sparse
    first = np.clip(np.searchsorted(old_edges, new_edges[:-1], side="right") - 1, 0, n_old - 1)
    last = np.clip(np.searchsorted(old_edges, new_edges[1:], side="left") - 1, 0, n_old - 1)
    span = int((last - first).max()) + 1
    rows = np.repeat(np.arange(n_new), span)
    cols = (first[:, None] + np.arange(span)[None, :]).ravel()
    keep = cols <= np.repeat(last, span)
    rows, cols = rows[keep], cols[keep]
    overlap = np.minimum(new_edges[1:][rows], old_edges[cols + 1]) - np.maximum(new_edges[:-1][rows], old_edges[cols])
    return sp.csr_matrix((np.clip(overlap, 0.0, None) / width, (rows, cols)), shape=(n_new, n_old))


def _check_request(request: AcquisitionRequest) -> None:
    def bad(field: str, value, allowed: str) -> ValidationError:
        return ValidationError(_SOURCE, field, value, allowed)

    if request.kind not in ("image", "line_scan", "depth_profile", "spectrum"):
        raise bad("kind", request.kind, "image, line_scan, depth_profile or spectrum")
    if len(request.pixels) != 2 or min(request.pixels) < 1:
        raise bad("pixels", request.pixels, "two counts >= 1 (nx, ny)")
    if not request.integration_s > 0:
        raise bad("integration_s", request.integration_s, "> 0 s")
    if not request.primary.current_a > 0:
        raise bad("primary.current_a", request.primary.current_a, "> 0 A")
    if min(request.raster_m) <= 0:
        raise bad("primary.raster_m", request.raster_m, "both sides > 0 m")
    if not request.masses:
        raise bad("masses", request.masses, "at least one mass channel")
    if request.kind == "depth_profile" and (request.sputter_cycles < 1 or request.sputter_time_s < 0):
        raise bad("sputter_cycles", request.sputter_cycles, ">= 1 cycles with sputter_time_s >= 0")
    for channel in request.masses:
        if not _ELEMENT.match(channel.label) or not channel.mass_u > 0:
            raise bad("masses", channel, "labels like '6Li+' with mass_u > 0")
