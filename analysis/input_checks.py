"""Early, named refusals of bad analysis input.

Every public analysis function checks its arrays here first, so a wrong call fails at once
with :class:`simslab.errors.ValidationError` naming the function, the argument and what is
allowed, instead of deep inside a fit with a numpy message.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from simslab.errors import ValidationError

__all__ = ["float_array", "positive", "same_shape", "shown"]


def float_array(source: str, field: str, value: ArrayLike, ndim: int | None = None, finite: bool = False) -> np.ndarray:
    """Return ``value`` as a float array; refuse a wrong dimension or (if asked) non-finite values."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValidationError(source, field, shown(value), f"numbers ({exc})") from None
    if ndim is not None and array.ndim != ndim:
        raise ValidationError(source, field, f"array of shape {array.shape}", f"a {ndim}-D array")
    if finite and not np.all(np.isfinite(array)):
        raise ValidationError(source, field, "non-finite values", "finite numbers only")
    return array


def positive(source: str, field: str, value: ArrayLike, allow_zero: bool = False) -> np.ndarray:
    """Return ``value`` as a float array after checking every element is > 0 (>= 0 if allowed)."""
    array = float_array(source, field, value)
    bad = ~(array >= 0) if allow_zero else ~(array > 0)
    if np.any(bad):
        raise ValidationError(source, field, shown(array[bad]), ">= 0" if allow_zero else "> 0")
    return array


def same_shape(source: str, **arrays: np.ndarray) -> None:
    """Refuse arrays whose shapes differ, naming them all."""
    shapes = {name: np.shape(a) for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValidationError(source, "/".join(shapes), listed, "arrays of one shape")


def shown(value: Any) -> str:
    """Return a short text for an offending value (arrays shortened to a few elements)."""
    if isinstance(value, np.ndarray):
        return np.array2string(value.ravel()[:5], precision=4) + ("..." if value.size > 5 else "")
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."
