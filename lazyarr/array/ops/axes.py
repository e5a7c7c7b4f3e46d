"""Normalizing ``axis`` arguments (errors are the standard's, raised at the user's line)."""

from __future__ import annotations

from numpy.exceptions import AxisError

from ...graph.userline import where


def int_arg(value, fname: str, name: str) -> int:
    """An integer argument (a Python or NumPy int, anything with ``__index__``): a float or a
    string is a TypeError naming it (``int()`` would truncate 1.5 or parse "1")."""
    try:
        return int(value.__index__())
    except (AttributeError, TypeError):
        raise TypeError(f"{fname}(): {name} must be an integer, not {type(value).__name__} "
                        f"{value!r} ({where()})") from None


def normalize_axis(axis, ndim: int, fname: str) -> int:
    """One axis in ``[-ndim, ndim)`` as a non-negative int (AxisError is a ValueError and an
    IndexError)."""
    try:
        a = int(axis.__index__())
    except (AttributeError, TypeError):
        raise TypeError(f"{fname}(): axis must be an int, not {type(axis).__name__} "
                        f"({where()})") from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{fname}(): axis {a} is out of bounds for an array of dimension "
                        f"{ndim} ({where()})")
    return a % ndim if ndim else a


def normalize_axes(axis, ndim: int, fname: str) -> tuple[int, ...]:
    """``None`` (all axes), an int or a tuple of ints, as a sorted tuple of unique axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(a, ndim, fname) for a in axis)
        if len(set(axes)) != len(axes):
            raise ValueError(f"{fname}(): repeated axis in {tuple(axis)} ({where()})")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim, fname),)
