"""Manipulation functions of the standard (shapes, axes, joining, repeating)."""

from __future__ import annotations

import math
import operator

from ...graph.basic import apply_typed
from ...graph.userline import where
from .. import dtypes as D
from .._front import shape_node, view_node, view_of
from ..coerce import Array, as_var, build, cast, snapshot, wrap
from ..ops.axes import int_arg, normalize_axes, normalize_axis
from ..ops.elemwise import broadcast_shapes
from ..ops.shape import BroadcastTo, Concat, Flip, Repeat, Reshape, Roll, Tile, Transpose

__all__ = ["broadcast_arrays", "broadcast_to", "concat", "expand_dims", "flip", "moveaxis",
           "permute_dims", "repeat", "reshape", "roll", "squeeze", "stack", "tile", "unstack"]


def reshape(x, /, shape, *, copy: bool | None = None) -> Array:
    """``x`` with a new ``shape`` (one entry may be -1); no data is moved until needed.
    ``copy=True``: a value that later writes to a user's array ``x`` aliases do not change.
    ``copy=False`` (an Array ``x``): a view, as ``x[...]`` is: writes to the result go
    through to ``x``, and it sees ``x``'s later writes. The default makes a new value, as
    ``copy=True`` does (the standard leaves it open; NumPy views contiguous data)."""
    v = as_var(x)
    if copy:
        v = snapshot(v)
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"reshape(): shape must be a tuple of integers, got {shape!r} "
                        f"({where()})") from None
    if shape.count(-1) > 1:
        raise ValueError(f"reshape(): only one dimension can be -1, got {shape} ({where()})")
    if any(s < -1 for s in shape):
        raise ValueError(f"reshape(): invalid shape {shape} ({where()})")
    if -1 in shape:
        shape = _resolve_minus_one(v.shape, shape)
    if copy is False and isinstance(x, Array):
        return x if shape == v.shape else view_of(x, build(Reshape(shape), v), None)
    if shape == v.shape:
        return wrap(v)
    return build(Reshape(shape), v)


def _resolve_minus_one(x_shape: tuple, shape: tuple) -> tuple:
    """``shape`` with its -1 replaced by the size the other sizes leave of ``x_shape``'s; by
    None (the Reshape op fills it in when it runs) where ``x_shape`` holds a size known only
    at run time: reading it would need the value, which inside a trace has none."""
    known = math.prod(s for s in shape if s != -1)
    if None in x_shape and known:
        return tuple(None if s == -1 else s for s in shape)
    total = math.prod(x_shape) if None not in x_shape else 0
    if known == 0 or total % known:
        raise ValueError(f"cannot reshape an array of shape {x_shape} into shape {shape} "
                         f"({where()})")
    return tuple(total // known if s == -1 else s for s in shape)


def permute_dims(x, /, axes: tuple[int, ...]) -> Array:
    """``x`` with its axes reordered: output axis i is input axis ``axes[i]``. A view of an
    Array ``x``, as NumPy's: writes to it reach ``x``, and it sees ``x``'s later writes."""
    v = as_var(x)
    n = len(v.shape)
    perm = tuple([normalize_axis(a, n, "permute_dims") for a in axes])
    if sorted(perm) != list(range(n)):
        raise ValueError(f"permute_dims(): axes {tuple(axes)} are not a permutation of "
                         f"{n} axes ({where()})")
    if perm == tuple(range(n)):
        return _whole_view(x, v)
    s = v.shape
    return _transposed(x, v, Transpose(perm), tuple([s[p] for p in perm]))


def _transposed(x, v, op: Transpose, shape: tuple) -> Array:
    """``op`` over ``v`` (``x``'s variable): a view of ``x`` if it is an Array, as NumPy's
    transposes are (writes to it reach ``x``, and it sees ``x``'s later writes)."""
    if type(x) is Array:
        return view_node(op, x, shape, op)
    return shape_node(op, v, shape)


def _whole_view(x, v) -> Array:
    """``x`` itself as a new array: a view of it if it is an Array (its region is the whole
    of ``x``, as ``reshape(copy=False)``'s)."""
    if type(x) is Array:
        return view_of(x, wrap(v), None)
    return wrap(v)


#: per number of axes, the transposes of ``x.T`` (all axes reversed) and ``x.mT`` (the last two
#: swapped), made once: attribute access is the hot path of eager code
_reversing: dict[int, Transpose] = {}
_swapping_last_two: dict[int, Transpose] = {}


def reverse_axes(x) -> Array:
    """``x.T``: ``x`` with all its axes in reverse order (no change below 2 axes)."""
    v = as_var(x)
    n = len(v.shape)
    if n < 2:
        return _whole_view(x, v)
    op = _reversing.get(n)
    if op is None:
        op = _reversing[n] = Transpose(tuple(range(n - 1, -1, -1)))
    if type(x) is Array:  # a view (`_transposed`), inline: ``x.T`` is on the hot path
        return view_node(op, x, v.shape[::-1], op)
    return shape_node(op, v, v.shape[::-1])


def swap_last_axes(x) -> Array:
    """``x.mT``: ``x`` (at least 2-d) with its last two axes swapped."""
    v = as_var(x)
    s = v.shape
    n = len(s)
    if n < 2:
        raise ValueError(f"matrix_transpose() needs at least 2 dimensions, got shape {s} "
                         f"({where()})")
    op = _swapping_last_two.get(n)
    if op is None:
        op = _swapping_last_two[n] = Transpose(tuple(range(n - 2)) + (n - 1, n - 2))
    return _transposed(x, v, op, s[:-2] + (s[-1], s[-2]))


def broadcast_to(x, /, shape: tuple[int, ...]) -> Array:
    """``x`` broadcast to ``shape`` (ValueError if the shapes are incompatible)."""
    v = as_var(x)
    shape = tuple(operator.index(s) for s in shape)
    if shape == v.shape:
        return wrap(v)
    return build(BroadcastTo(shape), v)


def broadcast_arrays(*arrays) -> list[Array]:
    """The arrays broadcast against each other."""
    vs = [as_var(a) for a in arrays]
    shape = broadcast_shapes(*[v.shape for v in vs]) if vs else ()
    if None in shape:
        return broadcast_at_run_time(vs)
    return [broadcast_to(wrap(v), shape) for v in vs]


def broadcast_at_run_time(vs: list) -> list[Array]:
    """``vs`` broadcast against each other where some size is known only at run time (a
    mask's result): each one selected under an all-true mask of every array's shape, so the
    kernels broadcast (and check) the sizes when they run."""
    from .creation import ones_like
    from .elementwise import logical_and
    from .elementwise import where as select

    mask = ones_like(wrap(vs[0]), dtype=D.bool_)
    for v in vs[1:]:
        mask = logical_and(mask, ones_like(wrap(v), dtype=D.bool_))
    return [select(mask, wrap(v), wrap(v)) for v in vs]


def _common(vs, fname):
    dt = vs[0].dtype
    for v in vs[1:]:
        dt = D.promote(dt, v.dtype)
    return [cast(v, dt) for v in vs]


def _joined_shape(vs: list, ax: int) -> tuple | None:
    """The shape of ``vs`` (one dtype and rank, static sizes) joined along axis ``ax``, or
    None where they differ elsewhere, in dtype or rank, or a size is known only at run time
    (`Concat.infer`'s general path then decides, or raises)."""
    first = vs[0]
    s, dt, nd = first.shape, first.dtype, len(first.shape)
    if not 0 <= ax < nd:
        return None
    size = 0
    for v in vs:
        t = v.shape
        if len(t) != nd or v.dtype != dt or None in t or t[:ax] != s[:ax] \
                or t[ax + 1:] != s[ax + 1:]:
            return None
        size += t[ax]
    return s[:ax] + (size,) + s[ax + 1:]


def _join(vs: list, ax: int, shape: tuple) -> Array:
    """The `Concat` node of ``vs`` along ``ax`` whose ``shape`` `_joined_shape` gave."""
    depth = 0
    for v in vs:
        if v.depth > depth:
            depth = v.depth
    return wrap(apply_typed(Concat(ax), tuple(vs), vs[0].dtype, shape, depth + 1, 1))


def concat(arrays, /, *, axis: int | None = 0) -> Array:
    """Arrays joined along an existing ``axis`` (None: flattened first)."""
    vs = [a._v if type(a) is Array else as_var(a) for a in arrays]
    if len(vs) > 1 and type(axis) is int:  # the common case: no promotion, static sizes
        nd = len(vs[0].shape)
        shape = _joined_shape(vs, axis + nd if axis < 0 else axis)
        if shape is not None:
            return _join(vs, axis + nd if axis < 0 else axis, shape)
    if not vs:
        raise ValueError(f"concat() needs at least one array ({where()})")
    vs = _common(vs, "concat")
    if axis is None:
        vs = [as_var(reshape(wrap(v), (-1,))) for v in vs]
        axis = 0
    nd = len(vs[0].shape)
    if nd == 0:
        raise ValueError(f"concat(): zero-dimensional arrays cannot be concatenated ({where()})")
    if any(len(v.shape) != nd for v in vs):
        raise ValueError(f"concat(): arrays must have the same number of dimensions, got "
                         f"{[v.shape for v in vs]} ({where()})")
    ax = normalize_axis(axis, nd, "concat")
    if len(vs) == 1:  # the value itself (NumPy's copy of a user's array)
        return wrap(snapshot(vs[0]))
    return build(Concat(ax), *vs)


def stack(arrays, /, *, axis: int = 0) -> Array:
    """Arrays of one shape joined along a new ``axis``."""
    vs = [a._v if type(a) is Array else as_var(a) for a in arrays]
    if not vs:
        raise ValueError(f"stack() needs at least one array ({where()})")
    s = vs[0].shape
    for v in vs:
        t = v.shape  # a size known only at run time (None) matches any size
        if t != s and (len(t) != len(s) or any(a != b and None not in (a, b)
                                               for a, b in zip(t, s))):
            raise ValueError(f"stack(): all arrays must have the same shape, got "
                             f"{[v.shape for v in vs]} ({where()})")
    ax = normalize_axis(axis, len(s) + 1, "stack")
    shape = s[:ax] + (1,) + s[ax:]
    if len(vs) == 1:
        return shape_node(Reshape(shape), vs[0], shape)
    parts = []
    for v in vs:  # each operand with the new axis, as expand_dims builds it
        vshape = v.shape[:ax] + (1,) + v.shape[ax:]
        parts.append(apply_typed(Reshape(vshape), (v,), v.dtype, vshape, v.depth + 1, 1))
    parts = _common(parts, "stack")
    joined = _joined_shape(parts, ax)
    return build(Concat(ax), *parts) if joined is None else _join(parts, ax, joined)


def expand_dims(x, /, axis: int = 0) -> Array:
    """``x`` with a new axis of size one at ``axis`` (in ``[-ndim-1, ndim]``)."""
    v = as_var(x)
    ax = normalize_axis(axis, len(v.shape) + 1, "expand_dims")
    shape = v.shape[:ax] + (1,) + v.shape[ax:]
    return shape_node(Reshape(shape), v, shape)


def squeeze(x, /, axis) -> Array:
    """``x`` without the given axes, which must have size one."""
    v = as_var(x)
    axes = normalize_axes(axis, len(v.shape), "squeeze")
    shape = tuple([d for i, d in enumerate(v.shape) if i not in axes])
    sizes = v.shape
    if None in [sizes[a] for a in axes] and None in shape:
        # a squeezed size only the run knows, beside other such sizes: the reshape could not
        # tell them apart, so the sizes are read (realizing ``x``, as ``x.shape`` does)
        sizes = wrap(v).shape
        shape = tuple([d for i, d in enumerate(sizes) if i not in axes])
    for a in axes:
        # None (a size only the run knows, the others static): the reshape to ``shape``
        # raises when it runs unless that size is 1
        if sizes[a] != 1 and sizes[a] is not None:
            raise ValueError(f"squeeze(): axis {a} has size {sizes[a]}, not 1 ({where()})")
    if shape == v.shape:
        return wrap(v)
    return shape_node(Reshape(shape), v, shape)


def flip(x, /, *, axis=None) -> Array:
    """``x`` with the order of elements reversed along ``axis`` (all axes by default)."""
    v = as_var(x)
    axes = normalize_axes(axis, len(v.shape), "flip")
    if not axes:
        return wrap(v)
    return build(Flip(axes), v)


def roll(x, /, shift, *, axis=None) -> Array:
    """Elements of ``x`` shifted by ``shift`` along ``axis`` (flattened if None), wrapping."""
    v = as_var(x)
    shifts = tuple(int_arg(s, "roll", "shift") for s in
                   (shift if isinstance(shift, (tuple, list)) else (shift,)))
    if axis is None:
        if len(shifts) != 1:
            raise ValueError(f"roll(): one shift is needed without an axis ({where()})")
        return build(Roll(shifts, None), v)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(normalize_axis(a, len(v.shape), "roll") for a in axes)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    if len(shifts) != len(axes):
        raise ValueError(f"roll(): shift and axis must have the same length ({where()})")
    return build(Roll(tuple(int(s) for s in shifts), axes), v)


def moveaxis(x, source, destination, /) -> Array:
    """``x`` with axes ``source`` moved to positions ``destination``."""
    v = as_var(x)
    n = len(v.shape)
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    src = [normalize_axis(a, n, "moveaxis") for a in src]
    dst = [normalize_axis(a, n, "moveaxis") for a in dst]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis(): source and destination must be distinct axes of equal "
                         f"count ({where()})")
    order = [a for a in range(n) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute_dims(wrap(v), tuple(order))


def repeat(x, repeats, /, *, axis: int | None = None) -> Array:
    """Each element of ``x`` repeated ``repeats`` times (an int, or one count per element:
    then the result's size depends on data and is known once computed)."""
    v = as_var(x)
    ax = None if axis is None else normalize_axis(axis, len(v.shape), "repeat")
    if isinstance(repeats, int):
        if repeats < 0:
            raise ValueError(f"repeat(): repeats must be non-negative ({where()})")
        if ax is None and len(v.shape) != 1:
            v = as_var(reshape(wrap(v), (-1,)))
            ax = 0
        return build(Repeat(repeats, ax), v)
    r = as_var(repeats)
    if r.dtype.kind not in "iu":
        raise TypeError(f"repeat(): repeats must be integers, not {r.dtype} ({where()})")
    n = math.prod(v.shape) if ax is None and None not in v.shape else (
        None if ax is None else v.shape[ax])
    if len(r.shape) > 1 or (len(r.shape) == 1 and None not in (n, r.shape[0])
                            and r.shape[0] not in (1, n)):
        raise ValueError(f"repeat(): repeats of shape {r.shape} do not broadcast to the "
                         f"{n} elements repeated ({where()})")
    if r.owner is None and r.data is not None and r.data.size and r.data.min() < 0:
        raise ValueError(f"repeat(): repeats must be non-negative ({where()})")
    return build(Repeat(None, ax), v, r)


def tile(x, repetitions, /) -> Array:
    """``x`` repeated ``repetitions[i]`` times along each axis."""
    reps = tuple(operator.index(r) for r in repetitions)
    if any(r < 0 for r in reps):
        raise ValueError(f"tile(): repetitions must be non-negative ({where()})")
    return build(Tile(reps), as_var(x))


def unstack(x, /, *, axis: int = 0) -> tuple[Array, ...]:
    """The slices of ``x`` along ``axis``, as a tuple of arrays."""
    v = as_var(x)
    if len(v.shape) == 0:
        raise ValueError(f"unstack() needs at least one dimension ({where()})")
    ax = normalize_axis(axis, len(v.shape), "unstack")
    a = wrap(v)
    n = Array.shape.fget(a)[ax]
    return tuple(a[(slice(None),) * ax + (i,)] for i in range(n))
