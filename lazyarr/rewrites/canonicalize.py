"""Canonicalize: merge, constant folding, IEEE-exact algebraic identities.

Every rewrite here keeps results bit-identical on every input, NaN, inf and signed zero
included. That rules out some classic ones, which run only under fast-math (tag
``fast_math``): ``x*y/y -> x``, ``x/x -> 1``, ``x - x -> 0``, ``x + 0.0 -> x`` (``-0.0 + 0.0``
is ``+0.0``), ``exp(log(x)) -> x`` (NaN for negative ``x``, and rounding) and
``log(exp(x)) -> x`` outside stabilize. Still exact: ``x*1``, ``x/1``, ``x - 0.0``,
``x + (-0.0)``, integer ``x + 0``, ``--x``, ``+x``, transposes and reshapes of reshapes, casts
to the same dtype or through a lossless one, and reductions over size-1 axes.
Dead code goes as a side effect: the editor drops a node nothing reads.
"""

from __future__ import annotations

import numpy as np

from ..array.ops.elemwise import Cast
from ..array.ops.index import FULL_SLICE, GetItem, SetItem, UpdateAt, fixed_spec
from ..array.ops.reduce import Reduce
from ..array.ops.scatter import AddAt
from ..array.ops.shape import BroadcastTo, Reshape, Transpose
from ..graph.basic import Var
from .db import build, register_rewrite
from .patterns import E, arg, binary_with_const, const_data, const_like

PHASE = "canonicalize"
#: constant folding keeps results of at most this many elements (bigger ones stay computed)
FOLD_MAX_SIZE = 1024


# -- merge: identical constants, then identical nodes --------------------------------------
def _const_key(v: Var):
    d = const_data(v)
    if d is None or d.size > FOLD_MAX_SIZE:
        return None
    return (d.dtype, d.shape, d.tobytes())


@register_rewrite("merge", PHASE, tags=("merge", "fast_compile"))
def merge(node, g):
    """Common sub-expression elimination: a node with the same op and inputs as one seen
    before is replaced by it; equal small constants become one constant first."""
    memo = g.memo
    consts = memo.get("merge_consts")
    if consts is None:
        consts = memo["merge_consts"] = {}
        memo["merge_nodes"] = {}
    ins = node.inputs
    canon = None
    for i, v in enumerate(ins):
        if v.owner is not None or not v.const:
            continue
        k = _const_key(v)
        if k is not None:
            c = consts.setdefault(k, v)
            if c is not v:
                canon = canon or list(ins)
                canon[i] = c
    if canon is not None:
        return build(node.op, *canon, site=node.site)
    seen = memo["merge_nodes"]
    key = (node.op, ins)
    other = seen.get(key)
    if other is None or other is node or other not in g.alive or other.inputs != ins:
        seen[key] = node
        return None
    return other.outputs


# nodes built by stabilize merge too (same function, same "merge" tag)
register_rewrite("merge_stabilize", "stabilize", tags=("merge",))(merge)


# -- constant folding ------------------------------------------------------------------------
@register_rewrite("constant_folding", PHASE, tags=("fast_compile",))
def constant_folding(node, g):
    """A node whose inputs are all constants becomes a constant (small results only)."""
    op = node.op
    if op.lazy or op.inner_graphs:
        return None
    for v in node.inputs:
        if const_data(v) is None:
            return None
    for o in node.outputs:
        if None in o.shape or int(np.prod(o.shape)) > FOLD_MAX_SIZE:
            return None
    try:
        with np.errstate(all="ignore"):
            r = op.perform(*[v.data for v in node.inputs])
    except Exception:  # an error the program would raise at run time (and only if run)
        return None
    rs = [r] if len(node.outputs) == 1 else list(r)
    out = []
    for o, val in zip(node.outputs, rs):
        a = np.array(val, dtype=o.dtype, copy=True)
        if a.shape != o.shape:
            return None
        a.flags.writeable = False
        out.append(Var(o.dtype, o.shape, None, 0, a, True))
    return out


# -- elementwise identities ----------------------------------------------------------------
def _real(v: Var) -> bool:
    return v.dtype.kind != "c"


@register_rewrite("mul_by_one", PHASE, tags=("algebraic",), op_classes=[E("multiply")])
def mul_by_one(node, g):
    """``x * 1 -> x`` (real and integer dtypes; complex ``inf * (1+0j)`` has a NaN part)."""
    if _real(node.outputs[0]):
        x = binary_with_const(node, 1)
        return None if x is None else [x]
    return None


@register_rewrite("div_by_one", PHASE, tags=("algebraic",), op_classes=[E("divide")])
def div_by_one(node, g):
    """``x / 1 -> x`` (real dtypes)."""
    if _real(node.outputs[0]):
        x = binary_with_const(node, 1, commutative=False)
        return None if x is None else [x]
    return None


@register_rewrite("add_zero", PHASE, tags=("algebraic",), op_classes=[E("add")])
def add_zero(node, g):
    """``x + (-0.0) -> x``; ``x + 0 -> x`` for integers (``-0.0 + 0.0`` is ``+0.0``, so a
    float ``x + 0.0`` stays unless fast-math)."""
    out = node.outputs[0]
    if out.dtype.kind in "iub":
        x = binary_with_const(node, 0)
    elif g.fast_math:
        x = binary_with_const(node, 0)
    else:
        x = binary_with_const(node, -0.0, signed_zero=True)
    return None if x is None else [x]


@register_rewrite("sub_zero", PHASE, tags=("algebraic",), op_classes=[E("subtract")])
def sub_zero(node, g):
    """``x - 0.0 -> x`` (``-0.0 - 0.0`` is ``-0.0``); ``x - (-0.0)`` stays."""
    out = node.outputs[0]
    if out.dtype.kind in "fc" and not g.fast_math:
        x = binary_with_const(node, 0.0, signed_zero=True, commutative=False)
    else:
        x = binary_with_const(node, 0, commutative=False)
    return None if x is None else [x]


_INVOLUTIONS = {"negative": "negative", "logical_not": "logical_not",
                "bitwise_invert": "bitwise_invert", "conj": "conj"}


@register_rewrite("double_negation", PHASE, tags=("algebraic",),
                  op_classes=[E(n) for n in _INVOLUTIONS])
def double_negation(node, g):
    """``--x -> x``, ``~~x -> x``, ``not not x -> x``, ``conj(conj(x)) -> x``."""
    x = arg(node.inputs[0], node.op)
    return None if x is None else [x]


@register_rewrite("useless_elemwise", PHASE, tags=("algebraic",),
                  op_classes=[E("positive"), E("conj"), E("real")])
def useless_elemwise(node, g):
    """``+x -> x``; ``conj(x)``, ``real(x)`` of a real ``x`` -> ``x``."""
    x = node.inputs[0]
    if node.op is E("positive") or (x.dtype.kind != "c" and x.dtype == node.outputs[0].dtype):
        return [x]
    return None


@register_rewrite("where_same", PHASE, tags=("algebraic",), op_classes=[E("where")])
def where_same(node, g):
    """``where(c, x, x) -> x`` and ``where(constant c, x, y)`` -> the branch taken everywhere
    (when that branch already has the result's shape)."""
    c, x, y = node.inputs
    out = node.outputs[0]
    pick = None
    if x is y:
        pick = x
    else:
        d = const_data(c)
        if d is not None and d.size:
            if d.all():
                pick = x
            elif not d.any():
                pick = y
    if pick is not None and pick.shape == out.shape and None not in out.shape:
        return [pick]
    return None


# -- casts ----------------------------------------------------------------------------------
def _lossless(src: np.dtype, dst: np.dtype) -> bool:
    """Every value of ``src`` converts to ``dst`` and back exactly (NumPy's "safe" casting
    also allows int64 -> float64, which rounds above 2**53)."""
    if src == dst or src.kind == "b":
        return True
    if src.kind in "iu" and dst.kind in "fc":
        bits = src.itemsize * 8 - (src.kind == "i")
        return bits <= np.finfo(dst).nmant + 1
    if src.kind in "iufc" and dst.kind in "iufc":
        return bool(np.can_cast(src, dst, casting="safe"))
    return False


@register_rewrite("useless_cast", PHASE, tags=("algebraic",), op_classes=[Cast])
def useless_cast(node, g):
    """``astype(x, x.dtype) -> x``; ``astype(astype(x, a), b)`` with ``a`` holding every value
    of ``x``: ``x`` if ``b`` is ``x``'s dtype, else ``astype(x, b)`` when that is lossless too."""
    x = node.inputs[0]
    dt = node.op.dtype
    if x.dtype == dt:
        return [x]
    inner = x.owner
    if inner is not None and type(inner.op) is Cast:
        src = inner.inputs[0]
        if _lossless(src.dtype, x.dtype):
            if src.dtype == dt:
                return [src]
            if _lossless(src.dtype, dt):
                return build(Cast(dt), src, site=node.site)
    return None


# -- layout ---------------------------------------------------------------------------------
@register_rewrite("transpose_chain", PHASE, tags=("layout",), op_classes=[Transpose])
def transpose_chain(node, g):
    """A transpose of a transpose is one transpose (or nothing); an identity perm is nothing."""
    perm = node.op.perm
    x = node.inputs[0]
    inner = x.owner
    if inner is not None and type(inner.op) is Transpose:
        p1 = inner.op.perm
        perm = tuple(p1[j] for j in perm)
        x = inner.inputs[0]
    elif perm != tuple(range(len(perm))):
        return None
    if perm == tuple(range(len(perm))):
        return [x]
    return build(Transpose(perm), x, site=node.site)


@register_rewrite("reshape_chain", PHASE, tags=("layout",), op_classes=[Reshape])
def reshape_chain(node, g):
    """``reshape(reshape(x, s1), s2) -> reshape(x, s2)``; a reshape to ``x``'s own (known)
    shape is ``x``."""
    x = node.inputs[0]
    shape = node.op.shape
    if x.shape == shape and None not in shape:
        return [x]
    inner = x.owner
    if inner is not None and type(inner.op) is Reshape:
        src = inner.inputs[0]
        if src.shape == shape and None not in shape:
            return [src]
        return build(Reshape(shape), src, site=node.site)
    return None


@register_rewrite("getitem_new_axes", PHASE, tags=("layout",), op_classes=[GetItem])
def getitem_new_axes(node, g):
    """``x[:, None]`` (full slices and new axes only) is a reshape: the other rewrites (the
    softmax shift's ``sum(e, axis=1)[:, None]``, reshape chains) know reshapes."""
    spec = node.op.spec
    if len(node.inputs) != 1 or not all(e == FULL_SLICE or e == ("n",) for e in spec):
        return None
    out = node.outputs[0]
    if None in out.shape:
        return None
    x = node.inputs[0]
    return [x] if x.shape == out.shape else build(Reshape(out.shape), x, site=node.site)


@register_rewrite("fixed_ints", PHASE, tags=("layout", "fast_compile"),
                  op_classes=[GetItem, SetItem, AddAt])
def fixed_ints(node, g):
    """An integer or a slice start given as a constant 0-d input (``("d",)``, ``("t", ...)``,
    `ops.index.dynamic_key`: a program built for one value of it) is a fixed entry again:
    native views, in-place writes and the rewrites that read keys know fixed ones."""
    op = node.op
    spec = op.spec
    if not any(e[0] in "dt" for e in spec):
        return None
    first = 2 if isinstance(op, UpdateAt) else 1
    fixed = fixed_spec(spec, node.inputs[first:])
    if fixed is None:
        return None
    new_spec, rest = fixed
    inputs = [*node.inputs[:first], *rest]
    new_op = (GetItem(tuple(new_spec), op.out_shape) if type(op) is GetItem
              else type(op)(tuple(new_spec)))
    return build(new_op, *inputs, site=node.site)


@register_rewrite("broadcast_chain", PHASE, tags=("layout",), op_classes=[BroadcastTo])
def broadcast_chain(node, g):
    """Broadcasting to ``x``'s own shape is ``x``; a broadcast of a broadcast is one."""
    x = node.inputs[0]
    shape = node.op.shape
    if x.shape == shape and None not in shape:
        return [x]
    inner = x.owner
    if inner is not None and type(inner.op) is BroadcastTo:
        return build(BroadcastTo(shape), inner.inputs[0], site=node.site)
    return None


# -- reductions -----------------------------------------------------------------------------
@register_rewrite("reduce_size_one", PHASE, tags=("algebraic",), op_classes=[Reduce])
def reduce_size_one(node, g):
    """A reduction over axes of size 1 only (sums of a broadcast dimension) is a reshape
    (and a cast to the result dtype): one element reduces to itself (``x + 0.0`` for sums and
    means, which start from +0.0)."""
    op = node.op
    x = node.inputs[0]
    if op.kind not in ("sum", "prod", "mean", "max", "min", "all", "any"):
        return None
    if any(x.shape[a] != 1 for a in op.axes):
        return None
    if op.kind in ("mean", "prod") and op.dtype.kind == "c":
        return None  # 1+0j divides (mean) or multiplies (prod) it: -0.0 and inf parts change
    out = node.outputs[0]
    v = x
    if v.dtype != op.dtype:
        v = build(Cast(op.dtype), v, site=node.site)[0]
    if op.kind in ("sum", "mean") and v.dtype.kind in "fc" and not _never_negative_zero(x):
        # a sum starts from +0.0: the sum of [-0.0] is +0.0, i.e. x + 0.0
        v = build(E("add"), v, const_like(0, v), site=node.site)[0]
    if v.shape != out.shape:
        if None in out.shape:
            return None
        v = build(Reshape(out.shape), v, site=node.site)[0]
    return [v]


def _never_negative_zero(x: Var) -> bool:
    """``x`` is never -0.0, so ``x + 0.0`` is x: a sum or a mean (they start from +0.0), an
    ``exp``, ``abs`` or ``square`` (of a real x: +0.0 at least)."""
    o = x.owner
    if o is None:
        return False
    if isinstance(o.op, Reduce):
        return o.op.kind in ("sum", "mean")
    return x.dtype.kind == "f" and o.op in (E("exp"), E("abs"), E("square"))


@register_rewrite("reshape_of_reduce", PHASE, tags=("algebraic",), op_classes=[Reshape])
def reshape_of_reduce(node, g):
    """A reshape that only drops the size-1 axes a reduction kept (``mean(sum(x, axis=1))``
    of one row: the sum's ``(1,)`` reshaped to ``()``) is the reduction over those axes too,
    one node instead of two: a size-1 axis reduces to its element (a sum's +0.0 start is
    already there)."""
    r = node.inputs[0]
    o = r.owner
    if o is None or not isinstance(o.op, Reduce) or o.op.keepdims or g.nclients(r) != 1:
        return None
    op, x = o.op, o.inputs[0]
    if op.kind not in ("sum", "mean", "prod", "max", "min", "all", "any") or None in x.shape:
        return None
    kept = [a for a in range(len(x.shape)) if a not in op.axes]
    ones = [a for a in kept if x.shape[a] == 1]
    target = node.op.shape
    if not ones or tuple(x.shape[a] for a in kept if a not in ones) != tuple(target):
        return None
    merged = Reduce(op.kind, tuple(sorted(op.axes + tuple(ones))), False, op.dtype)
    return build(merged, x, site=o.site)


# -- fast-math only --------------------------------------------------------------------------
@register_rewrite("mul_div_cancel", PHASE, tags=("fast_math", "algebraic"),
                  op_classes=[E("divide")])
def mul_div_cancel(node, g):
    """``x*y/y -> x``, ``y*x/y -> x`` and ``x/x -> 1`` (fast-math: wrong for y = 0, inf,
    NaN)."""
    num, den = node.inputs
    out = node.outputs[0]
    if num is den and None not in out.shape:
        one = const_like(1, out)
        return build(BroadcastTo(out.shape), one, site=node.site) if out.shape else [one]
    o = num.owner
    if o is not None and o.op is E("multiply"):
        a, b = o.inputs
        for keep, other in ((a, b), (b, a)):
            if other is den and keep.shape == out.shape and keep.dtype == out.dtype:
                return [keep]
    return None


@register_rewrite("sub_self", PHASE, tags=("fast_math", "algebraic"),
                  op_classes=[E("subtract")])
def sub_self(node, g):
    """``x - x -> 0`` (fast-math: NaN for inf or NaN ``x``)."""
    a, b = node.inputs
    out = node.outputs[0]
    if a is b and None not in out.shape:
        return build(BroadcastTo(out.shape), const_like(0, out), site=node.site) \
            if out.shape else [const_like(0, out)]
    return None


@register_rewrite("exp_log", PHASE, tags=("fast_math", "algebraic"), op_classes=[E("exp")])
def exp_log(node, g):
    """``exp(log(x)) -> x`` (fast-math: NaN for negative ``x``; rounding)."""
    x = arg(node.inputs[0], E("log"))
    if x is not None and x.dtype == node.outputs[0].dtype and x.dtype.kind == "f":
        return [x]
    return None
