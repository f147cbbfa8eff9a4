"""The start-document metadata every simslab plan writes: plan name, arguments, what it did, and ``md``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

__all__ = ["run_metadata", "jsonable"]


def run_metadata(plan_name: str, plan_args: Mapping[str, Any], md: Mapping[str, Any] | None,
                 **blocks: Any) -> dict[str, Any]:
    """Return the start metadata: plan_name, plan_args (devices by name), the plan's blocks, then ``md``.

    Keys of ``md`` (campaign, step, sample ...) override the plan's own, as in bluesky's plans.
    """
    return {"plan_name": plan_name, "plan_args": jsonable(dict(plan_args)),
            **{key: jsonable(value) for key, value in blocks.items()}, **(md or {})}


def jsonable(value: Any) -> Any:
    """Return ``value`` as JSON-friendly data: devices by name, pydantic models as dicts, NaN as None."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else repr(value)
