"""Shape and layout ops: reshape, transpose, broadcast, concatenate, flip, roll, repeat, tile,
triangular masks and diagonal views."""

from __future__ import annotations

import math

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where


class Reshape(Op):
    """View (or copy) of the input with ``shape`` (sizes already resolved, no -1)."""

    raises_on_values = False
    view = True

    def __init__(self, shape: tuple):
        self.shape = shape

    def infer(self, x: Var):
        if (None not in x.shape and None not in self.shape
                and math.prod(x.shape) != math.prod(self.shape)):
            raise ValueError(f"cannot reshape an array of shape {x.shape} into shape "
                             f"{self.shape} ({where()})")
        return [(x.dtype, self.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        shape = self.shape
        if None in shape:  # sizes known only now (a mask's result)
            if shape.count(None) == 1:
                shape = tuple(-1 if d is None else d for d in shape)
            elif shape.count(None) == x.ndim and all(d in (1, None) for d in shape):
                sizes = iter(x.shape)  # new axes beside every axis of x (stack, expand_dims)
                shape = tuple(next(sizes) if d is None else d for d in shape)
        return x.reshape(shape)


class Transpose(Op):
    """Axes permuted by ``perm``."""

    raises_on_values = False
    view = True

    def __init__(self, perm: tuple):
        self.perm = perm

    def infer(self, x: Var):
        return [(x.dtype, tuple(x.shape[p] for p in self.perm))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return x.transpose(self.perm)


class BroadcastTo(Op):
    """The input broadcast to ``shape`` (a read-only view). A size of the input known only at
    run time (None) may meet any size of ``shape``: it must be 1 or that size, which
    ``perform`` checks when it runs, as kernels do."""

    raises_on_values = False
    view = True

    def __init__(self, shape: tuple):
        self.shape = shape

    def infer(self, x: Var):
        xs, shape = x.shape, self.shape
        lead = len(shape) - len(xs)
        if lead < 0 or not all(d == 1 or d == t or d is None
                               for d, t in zip(xs, shape[lead:])):
            raise ValueError(f"cannot broadcast an array of shape {x.shape} to shape "
                             f"{self.shape} ({where()})")
        return [(x.dtype, self.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.broadcast_to(x, self.shape)


class SumLike(Op):
    """``g`` summed (sizes kept) over those of ``axes`` where ``like`` has size 1 at run time:
    the adjoint of broadcasting an array of ``like``'s shape to ``g``'s, for axes whose size
    in ``like`` is known only at run time (``None``: 1, which broadcasting stretched, or
    ``g``'s). ``like`` is read for its shape only; ``g`` and ``like`` have the same rank."""

    view = True
    zero_sign_unspecified = True

    def __init__(self, axes: tuple):
        self.axes = axes

    def infer(self, g: Var, like: Var):
        gs, ls = g.shape, like.shape
        if len(gs) != len(ls):
            raise ValueError(f"SumLike: ranks differ: {gs} and {ls} ({where()})")
        return [(g.dtype, tuple(b if i in self.axes else a
                                for i, (a, b) in enumerate(zip(gs, ls))))]

    def perform(self, g: np.ndarray, like: np.ndarray) -> np.ndarray:
        gs, ls = g.shape, like.shape
        axes = tuple(a for a in self.axes if ls[a] == 1 and gs[a] != 1)
        if axes:
            g = np.sum(g, axis=axes, keepdims=True, dtype=g.dtype)
        if any(g.shape[a] != ls[a] for a in self.axes):
            raise ValueError(f"operands could not be broadcast together with shapes {ls} "
                             f"{gs}")
        return g

    def __repr__(self) -> str:
        return f"SumLike{{axes={self.axes}}}"


class Concat(Op):
    """Inputs (same dtype and rank) joined along ``axis``."""

    raises_on_values = False

    def __init__(self, axis: int):
        self.axis = axis

    def infer(self, *xs: Var):
        ax = self.axis
        first = xs[0].shape
        size = 0
        for x in xs:
            if len(x.shape) != len(first) or any(
                    a != b and None not in (a, b)
                    for i, (a, b) in enumerate(zip(x.shape, first)) if i != ax):
                raise ValueError(f"concat(): shapes {[x.shape for x in xs]} differ outside axis "
                                 f"{ax} ({where()})")
            size = None if size is None or x.shape[ax] is None else size + x.shape[ax]
        return [(xs[0].dtype, first[:ax] + (size,) + first[ax + 1:])]

    def perform(self, *xs: np.ndarray) -> np.ndarray:
        return np.concatenate(xs, axis=self.axis)


class Flip(Op):
    raises_on_values = False
    view = True

    def __init__(self, axes: tuple):
        self.axes = axes

    def infer(self, x: Var):
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.flip(x, self.axes)


class Roll(Op):
    """Elements shifted by ``shifts`` along ``axes`` (axes None: the flattened array)."""

    raises_on_values = False

    def __init__(self, shifts: tuple, axes: tuple | None):
        self.shifts, self.axes = shifts, axes

    def infer(self, x: Var):
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        if self.axes is None:
            return np.roll(x, self.shifts[0])
        return np.roll(x, self.shifts, self.axes)


class Repeat(Op):
    """Each element repeated along ``axis`` (None: flattened); ``repeats`` an int, or None when
    given as a second (integer array) input, which makes the size data-dependent."""

    def __init__(self, repeats: int | None, axis: int | None):
        self.repeats, self.axis = repeats, axis

    def infer(self, x: Var, *rep: Var):
        n = None
        if self.repeats is not None:
            if self.axis is None:
                n = None if None in x.shape else math.prod(x.shape) * self.repeats
            else:
                d = x.shape[self.axis]
                n = None if d is None else d * self.repeats
        if self.axis is None:
            return [(x.dtype, (n,))]
        return [(x.dtype, x.shape[:self.axis] + (n,) + x.shape[self.axis + 1:])]

    def perform(self, x: np.ndarray, *rep: np.ndarray) -> np.ndarray:
        r = self.repeats if self.repeats is not None else rep[0]
        return np.repeat(x, r, axis=self.axis)


class Tile(Op):
    raises_on_values = False

    def __init__(self, reps: tuple):
        self.reps = reps

    def infer(self, x: Var):
        n = max(len(self.reps), len(x.shape))
        shape = (1,) * (n - len(x.shape)) + tuple(x.shape)
        reps = (1,) * (n - len(self.reps)) + self.reps
        return [(x.dtype, tuple(None if d is None else d * r for d, r in zip(shape, reps)))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.tile(x, self.reps)


class Tri(Op):
    """Lower (``tril``) or upper (``triu``) triangle of the last two axes, offset ``k``."""

    raises_on_values = False

    def __init__(self, k: int, lower: bool):
        self.k, self.lower = k, lower

    def infer(self, x: Var):
        if len(x.shape) < 2:
            raise ValueError(f"{'tril' if self.lower else 'triu'}() needs at least 2 dimensions, "
                             f"got shape {x.shape} ({where()})")
        return [(x.dtype, x.shape)]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.tril(x, self.k) if self.lower else np.triu(x, self.k)


class Diagonal(Op):
    """Diagonal ``offset`` of the last two axes, shape ``(..., L)``: a read-only view (NumPy's
    ``np.diagonal``). Made by the lowering of ``linalg.diagonal``/``trace`` (which keep the
    `Linalg` op, and its derivative rules, in the graphs that are differentiated)."""

    raises_on_values = False
    view = True

    def __init__(self, offset: int):
        self.offset = offset

    def infer(self, x: Var):
        s = x.shape
        if len(s) < 2:
            raise ValueError(f"diagonal() needs at least 2 dimensions, got shape {s} "
                             f"({where()})")
        n, m, k = s[-2], s[-1], self.offset
        size = None if n is None or m is None else max(0, min(n, m - k) if k >= 0
                                                        else min(n + k, m))
        return [(x.dtype, s[:-2] + (size,))]

    def perform(self, x: np.ndarray) -> np.ndarray:
        return np.diagonal(x, self.offset, -2, -1)
