"""Indexing of arrays: ``x[key]`` and the functional ``x[key] = value``."""

from __future__ import annotations

from ...graph.basic import Var, apply
from ...graph.userline import where
from .. import dtypes as D
from .._front import basic_view, index_key, int_leaf, live_views, view_node, write_in_place
from .._front import view_of as _front_view_of
from ..coerce import Array, as_var, build, cast, const, is_scalar, rebind, wrap
from ..materialize import live_pending
from ..ops.elemwise import broadcast_shapes
from ..ops.index import GetItem, SetItem, check_known_bounds, dynamic_key, parse_key
from ..ops.shape import Reshape, Transpose

#: per basic key (`_front.index_key`) and indexed shape: the view's ``(node op, shape, spec,
#: ints)`` (`_front.basic_view`, `_twin`)
_key_cache: dict = {}
#: per basic spec and indexed shape: ``(spec with inputs, their values)`` (`_twin`)
_twins: dict = {}


def getitem(x: Array, key) -> Array:
    """``x[key]``: basic slicing, integer arrays and boolean masks (NumPy semantics). A basic
    index (integers, slices, None, Ellipsis) gives a view of ``x`` (`view_of`), the others a
    new array."""
    hit = basic_view(_key_cache, x, key)  # a basic key seen before on this shape
    if hit is not None:
        return hit
    v = x._v
    if type(key) is Array and key._v.dtype.kind in "iu" and v.shape:
        # x[idx], one integer index array: the spec and shape parse_key gives it
        k = key._v
        check_known_bounds(k, v.shape[0], 0)
        return build(GetItem(_gather_spec(len(v.shape)), k.shape + v.shape[1:]), v, k)
    spec, arrays, out_shape = parse_key(key, v.shape, as_var)
    if arrays:
        spec, arrays = dynamic_key(spec, arrays, v.shape, int_leaf)
        return build(GetItem(spec, out_shape), v, *arrays)
    # the view's node takes the key's integers and slice starts as inputs; its `_base`
    # keeps the fixed key (`follow_base`, `write_through`)
    dspec, ints = _twin(spec, v.shape)
    node_op = GetItem(dspec, out_shape) if ints else GetItem(spec, out_shape)
    ck = index_key(key)
    if ck is not None:
        if len(_key_cache) > 4096:
            _key_cache.clear()
        _key_cache[(ck, v.shape)] = (node_op, out_shape, spec, ints)
    return view_node(node_op, x, out_shape, spec, ints)


def _twin(spec: tuple, shape: tuple) -> tuple[tuple, tuple | None]:
    """A basic key ``spec`` over an array of ``shape`` with its integers and slice starts given
    as 0-d inputs (`dynamic_key`: ``x[t]``, ``X[i:i + B]`` at a changing offset is one
    program), and their values (None where there is none, or ``shape`` is known only at run
    time); remembered. Each node gets leaves of its own for them (`_front.int_leaf`)."""
    twin = _twins.get((spec, shape))
    if twin is None:
        dspec, ints = dynamic_key(spec, [], shape, int)
        twin = (dspec, tuple(ints) if ints else None)
        if len(_twins) > 4096:
            _twins.clear()
        _twins[(spec, shape)] = twin
    return twin


def _leaves(ints: tuple | None) -> list:
    return [] if ints is None else [int_leaf(k) for k in ints]


def _gather_spec(ndim: int, _specs: dict = {}) -> tuple:  # noqa: B006 (a cache)
    """The `GetItem` spec of ``x[idx]`` for ``x`` of ``ndim`` axes: the index array, then
    every other axis whole."""
    spec = _specs.get(ndim)
    if spec is None:
        spec = _specs[ndim] = (("a",),) + (("s", None, None, None),) * (ndim - 1)
    return spec


def view_of(base: Array, view: Array, spec: tuple | None) -> Array:
    """Mark ``view`` as a view of ``base``: its basic-indexing result (``spec``, the
    ``GetItem`` spec), its transpose (``spec`` the `Transpose` op: ``.T``, ``.mT``,
    ``permute_dims``) or, with ``spec`` None, its reshape (``reshape(copy=False)``).

    As a NumPy view shares its base's memory: a write to the base (``rebind``: setitem, an
    in-place operator, a write through another of its views) re-points the view at its region
    of the base's new value (`follow_base`), and a write to the view is written into the base
    (`write_through`). The base holds its views weakly (`_front.Views`): a view the user
    dropped is freed and costs nothing. ``_front.view_of`` does it."""
    return _front_view_of(base, view, spec)


def _region(base: Var, spec, shape: tuple) -> Var:
    """A view's region (of ``shape``) of its base's value ``base``."""
    if spec is None:
        op = Reshape(shape)
    elif type(spec) is Transpose:
        op = spec
    else:
        dspec, ints = _twin(spec, base.shape)
        return apply(GetItem(dspec, shape), base, *_leaves(ints))[0]
    return apply(op, base)[0]


def follow_base(base: Array, views: list, writer: Array | None = None) -> None:
    """After ``base`` was rebound to a new value: point each of its live ``views`` but
    ``writer`` (the view whose write made the new value, which holds its region already) at
    its region of that value, a lazy node that copies nothing; and their views in turn."""
    bv = base._v
    for view in views:
        if view is writer:
            continue
        old = view._v
        v = _region(bv, view._base[1], old.shape)
        old.nref -= 1
        v.nref += 1
        view._v = v
        live_pending.append(v)
        if view._views is not None:
            more = live_views(view)
            if more is not None:
                follow_base(view, more)


def write_through(view: Array) -> None:
    """After ``view`` was updated (setitem, in-place operator), write its new value into the
    array it views (and so on up the chain), as a NumPy view shares its base's memory; the
    base's other views then follow it (`follow_base`)."""
    base, spec = view._base
    if spec is None:
        # a base whose size is known only at run time (after a mask) is reshaped to its
        # computed shape
        shape = base._v.shape if None not in base._v.shape else base.shape
        rebind(base, build(Reshape(shape), view._v)._v, view)
    elif type(spec) is Transpose:
        inverse = [0] * len(spec.perm)
        for i, p in enumerate(spec.perm):
            inverse[p] = i
        rebind(base, build(Transpose(tuple(inverse)), view._v)._v, view)
    else:
        bv = base._v
        dspec, ints = _twin(spec, bv.shape)
        rebind(base, build(SetItem(dspec), bv, view._v, *_leaves(ints))._v, view)


def setitem(x: Array, key, value) -> None:
    """``x[key] = value`` as a functional update: ``x`` now refers to a new node; arrays built
    from its old value keep that value, ``x``'s views follow it and, if ``x`` is a view, its
    base is written (`coerce.rebind`). A scalar written at integer indices of an array that
    nothing else reads (realized, or a pending fill) goes straight into its buffer
    (`_front.write_in_place`)."""
    if write_in_place(x, key, value):
        return
    v = x._v
    spec, arrays, out_shape = parse_key(key, v.shape, as_var)
    if is_scalar(value):
        val = const(value, D.scalar_dtype(value, v.dtype))
    else:
        val = as_var(value)
    if val.dtype != v.dtype:
        if not D.casts_safely(val.dtype, v.dtype) and not is_scalar(value):
            raise TypeError(f"cannot assign {val.dtype} values into a {v.dtype} array "
                            f"({where()})")
        val = cast(val, v.dtype)
    extra = len(val.shape) - len(out_shape)
    if extra > 0 and all(d == 1 for d in val.shape[:extra]):  # leading 1s, as NumPy drops
        from .manipulation import reshape

        val = as_var(reshape(wrap(val), val.shape[extra:]))
    try:
        b = broadcast_shapes(val.shape, out_shape)
    except ValueError:
        b = None
    if b is None or len(val.shape) > len(out_shape) or (None not in out_shape and b != out_shape):
        raise ValueError(f"cannot assign a value of shape {val.shape} to an index selecting "
                         f"shape {out_shape} ({where()})")
    if arrays:
        spec, arrays = dynamic_key(spec, arrays, v.shape, int_leaf)
    else:
        spec, ints = _twin(spec, v.shape)
        arrays = _leaves(ints)
    rebind(x, build(SetItem(spec), v, val, *arrays)._v)
