"""What the diffusion analysis of a campaign needs beyond the catalog: material inputs and choices.

The maps fix D_gb/delta only over D_bulk (shared/physics.md): D_bulk comes from elsewhere
(PFG-NMR), as do the conductivity for the Haven ratio and the carrier density. Defaults are
the published values for LLTO; a campaign file may give its own under ``sample:`` (the keys
below, SI units), and a caller may override any of them. The grain-boundary map (the
registered optical image of the thermally etched surface) is not in the catalog either:
without it the boundaries are found from the steps of C, which finds only a selection.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

import numpy as np

from simslab.errors import ValidationError

from .read_streams import metadata_number
from .whole_map_history import temperature_factor

__all__ = ["DiffusionSettings", "PUBLISHED_GB_PREFACTOR_M2_PER_S", "PUBLISHED_GB_ACTIVATION_EV"]

log = logging.getLogger(__name__)

PUBLISHED_GB_PREFACTOR_M2_PER_S = 0.048e-4
"""(l/delta) D_gb = 0.048 cm^2/s exp(-0.43 eV / kB T), the published line (bounds D_eff from above)."""
PUBLISHED_GB_ACTIVATION_EV = 0.43

_FROM_SAMPLE = {
    "d_bulk_m2_per_s": "d_bulk_m2_per_s",
    "d_bulk_activation_ev": "bulk_activation_ev",
    "gb_width_m": "gb_width_m",
    "natural_fraction": "natural_fraction",
    "li_density_per_m3": "carrier_density_per_m3",
    "conductivity_s_per_m": "conductivity_s_per_m",
    "conductivity_temperature_k": "conductivity_temperature_k",
    "length_m": "sample_length_m",
}


@dataclasses.dataclass(frozen=True)
class DiffusionSettings:
    """Inputs and choices of the diffusion analysis (SI units).

    d_bulk_m2_per_s (relative error d_bulk_rel_err) at reference_temperature_k, scaled with
    bulk_activation_ev; gb_activation_ev scales D_gb/delta over a non-isothermal history in
    the whole-map fit until the campaign's own value is fitted; boundary_map: a boolean mask
    of boundary pixels or grain labels (0 on boundaries) registered to the maps (None: found
    from the steps of C); detection_bin: with boundaries found from C, sum bin x bin pixels
    first (None: the smallest bin giving ~2000 counts per pixel, sigma_C ~0.01); whole_map:
    which maps get the whole-map fit ("all", "first", "none"); whole_map_columns: fit only
    the first columns (nearest the edge, the largest steps) to save time; line_scans: read
    the line scans (depth check).
    """

    d_bulk_m2_per_s: float = 2.6e-12
    d_bulk_rel_err: float = 0.10
    bulk_activation_ev: float = 0.30
    gb_activation_ev: float = PUBLISHED_GB_ACTIVATION_EV
    reference_temperature_k: float = 295.15
    gb_width_m: float = 0.5e-9
    natural_fraction: float = 0.0759
    carrier_density_per_m3: float = 5.0e27
    conductivity_s_per_m: float | None = None
    conductivity_temperature_k: float = 295.15
    sample_length_m: float = 10e-3
    psf_sigma_m: float = 0.0
    boundary_map: np.ndarray | None = dataclasses.field(default=None, repr=False)
    whole_map: Literal["all", "first", "none"] = "all"
    detection_bin: int | None = None
    whole_map_columns: int | None = None
    line_scans: bool = True

    def __post_init__(self) -> None:
        for name in ("d_bulk_m2_per_s", "reference_temperature_k", "gb_width_m", "carrier_density_per_m3",
                     "conductivity_temperature_k", "sample_length_m"):
            if not getattr(self, name) > 0:
                raise ValidationError("DiffusionSettings", name, getattr(self, name), "> 0")
        if not 0 <= self.natural_fraction < 1:
            raise ValidationError("DiffusionSettings", "natural_fraction", self.natural_fraction, "0-1")
        if self.whole_map not in ("all", "first", "none"):
            raise ValidationError("DiffusionSettings", "whole_map", self.whole_map, "'all', 'first' or 'none'")
        if self.detection_bin is not None and (not isinstance(self.detection_bin, int) or self.detection_bin < 1):
            raise ValidationError("DiffusionSettings", "detection_bin", self.detection_bin, "an integer >= 1, or None")
        if self.whole_map_columns is not None and self.whole_map_columns < 32:
            raise ValidationError("DiffusionSettings", "whole_map_columns", self.whole_map_columns, ">= 32, or None")
        if self.conductivity_s_per_m is not None and not self.conductivity_s_per_m > 0:
            raise ValidationError("DiffusionSettings", "conductivity_s_per_m", self.conductivity_s_per_m, "> 0 S/m")

    @classmethod
    def from_sample(cls, sample: dict[str, Any], **overrides: Any) -> DiffusionSettings:
        """Return the settings with the sample block's values (see _FROM_SAMPLE), then ``overrides``."""
        values: dict[str, Any] = {}
        for key, field in _FROM_SAMPLE.items():
            number = metadata_number(sample.get(key))
            if number is not None:
                values[field] = number
            elif sample.get(key) is not None:
                log.warning("sample.%s = %r is not usable (clamped by the catalog?): default kept", key, sample.get(key))
        if "sample_length_m" not in values and sample.get("size_m"):
            sizes = [metadata_number(v) for v in sample["size_m"]]
            if all(s is not None for s in sizes):
                values["sample_length_m"] = max(sizes)  # the long side runs from the immersed edge
        return cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})

    def d_bulk_at(self, temperature_k: float | np.ndarray) -> np.ndarray:
        """Return D_bulk (m^2/s) at ``temperature_k`` from the reference value and its activation energy."""
        return self.d_bulk_m2_per_s * temperature_factor(self.bulk_activation_ev, temperature_k, self.reference_temperature_k)

    def described(self) -> dict[str, Any]:
        """Return the settings as JSON-ready data (the boundary map by its shape)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "boundary_map"}
        values["boundary_map"] = None if self.boundary_map is None else f"registered, shape {np.shape(self.boundary_map)}"
        return values
