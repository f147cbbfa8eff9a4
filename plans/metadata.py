"""The start-document metadata every simslab plan writes: plan name, arguments, what it did, and ``md``.

Numbers of 2^53 and more (doses in ions/m^2, densities per m^3) are written as strings such as
"1.2e+18": the catalog's writer (bluesky-tiled-plugins' ``truncate_json_overflow``) clamps any
such number in metadata to 2^53 - 1 = 9.007e15 without a word. pydantic models read the
strings back as numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["run_metadata", "jsonable", "LARGEST_EXACT"]

LARGEST_EXACT = 2**53
"""From here on the catalog's writer clamps numbers in metadata to 2^53 - 1."""


def run_metadata(plan_name: str, plan_args: Mapping[str, Any], md: Mapping[str, Any] | None,
                 **blocks: Any) -> dict[str, Any]:
    """Return the start metadata: plan_name, plan_args (devices by name), the plan's blocks, then ``md``.

    Keys of ``md`` (campaign, step, sample ...) override the plan's own, as in bluesky's plans.
    """
    return {"plan_name": plan_name, "plan_args": jsonable(dict(plan_args)),
            **{key: jsonable(value) for key, value in blocks.items()}, **jsonable(dict(md or {}))}


def jsonable(value: Any) -> Any:
    """Return ``value`` as catalog-safe JSON data: devices by name, pydantic models as dicts, NaN as
    None, numbers of 2^53 and more as strings (see the module docstring)."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= LARGEST_EXACT:
        return repr(float(value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else repr(value)
