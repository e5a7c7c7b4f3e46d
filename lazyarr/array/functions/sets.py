"""Set functions of the standard: ``unique_all``, ``unique_counts``, ``unique_inverse`` and
``unique_values``. Their sizes depend on the data and are computed only when read."""

from __future__ import annotations

from typing import NamedTuple

from ..coerce import Array, as_var, build_many
from ..ops.sets import Unique

__all__ = ["unique_all", "unique_counts", "unique_inverse", "unique_values"]


class UniqueAllResult(NamedTuple):
    values: Array
    indices: Array
    inverse_indices: Array
    counts: Array


class UniqueCountsResult(NamedTuple):
    values: Array
    counts: Array


class UniqueInverseResult(NamedTuple):
    values: Array
    inverse_indices: Array


def unique_all(x, /) -> UniqueAllResult:
    """Sorted unique values of ``x`` (flattened; NaNs distinct), the index of each one's first
    occurrence, the inverse indices (shape of ``x``) and the counts; indices are int64."""
    return UniqueAllResult(*build_many(Unique("all"), as_var(x)))


def unique_counts(x, /) -> UniqueCountsResult:
    """Sorted unique values of ``x`` and how often each occurs (int64)."""
    return UniqueCountsResult(*build_many(Unique("counts"), as_var(x)))


def unique_inverse(x, /) -> UniqueInverseResult:
    """Sorted unique values of ``x`` and, for each element of ``x``, the index of its value
    (int64, shape of ``x``)."""
    return UniqueInverseResult(*build_many(Unique("inverse"), as_var(x)))


def unique_values(x, /) -> Array:
    """Sorted unique values of ``x`` (1-d, NaNs distinct)."""
    return build_many(Unique("values"), as_var(x))[0]
