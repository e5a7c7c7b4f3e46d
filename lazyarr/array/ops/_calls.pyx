# cython: language_level=3
"""The reductions and ``matmul`` of the namespace as C closures, as `array._front` does for
the elementwise functions: an eager step calls them with the same arguments every time, so
each closure remembers its last call's op and result type (a reduction: its last two) and,
when the next call matches
(same axis, keepdims and dtype argument by identity, same input dtype and shape), builds the
node at once: no Python frame, so the node's site is the user's frame, found as the
innermost one. Any other call goes through the Python rule set here (one definition of each
rule: `functions.statistics`, `functions.linalg_basic`), which raises the errors."""

from ...graph._ir cimport Var, node1

import numpy as _np

from .._front import defers_to

cdef type Array = None
cdef object _wrap = None
cdef object _as_var = None
cdef object _snapshot = None


def bind(array_cls, wrap, as_var, snapshot):
    """Set the Array class, `coerce.wrap`, `coerce.as_var` and `coerce.snapshot`."""
    global Array, _wrap, _as_var, _snapshot
    Array, _wrap, _as_var, _snapshot = array_cls, wrap, as_var, snapshot


cdef inline Var _var(object x):
    """The variable behind ``x`` (an Array's own, else `coerce.as_var`'s)."""
    if type(x) is Array:
        return <Var>x._v
    return <Var?>_as_var(x)


cdef inline Py_ssize_t _deeper(Var a, Var b):
    return (a.depth if a.depth > b.depth else b.depth) + 1


cdef class _ReduceMemo:
    """One node a reduction built: its arguments (``axis``, ``keepdims``, ``dtype``), input
    dtype and shape, op and result type."""
    cdef object axis, keepdims, dtype_arg, in_dt, in_shape, op, out_dt, out_shape

    cdef inline bint hit(self, object axis, object keepdims, object dtype_arg, Var v):
        if self.op is None or v.dtype is not self.in_dt or dtype_arg is not self.dtype_arg \
                or keepdims is not self.keepdims:
            return False
        if axis is not self.axis and not (type(axis) is int and type(self.axis) is int
                                          and <object>axis == self.axis):
            return False
        return v.shape is self.in_shape or v.shape == self.in_shape


cdef class _Reduction:
    """One reduction's Python ``rule`` and the last two distinct nodes it built, the latest
    first (a loss often takes two different sums per step: one memo would miss both)."""
    cdef object rule
    cdef _ReduceMemo last, before

    def __cinit__(self):
        self.last = _ReduceMemo()
        self.before = _ReduceMemo()


cdef inline bint _immutable_axis(object axis):
    """``axis`` is None, an int or a tuple of ints: a memo may compare it by identity."""
    if axis is None or type(axis) is int:
        return True
    if type(axis) is not tuple:
        return False
    for a in <tuple>axis:
        if type(a) is not int:
            return False
    return True


cdef object _reduce(_Reduction r, object x, object axis, object keepdims, object dtype):
    cdef Var v = _var(x)
    cdef _ReduceMemo memo = r.last
    if memo.hit(axis, keepdims, dtype, v):
        return _wrap(node1(memo.op, (v,), memo.out_dt, memo.out_shape, v.depth + 1, 0))
    memo = r.before
    if memo.hit(axis, keepdims, dtype, v):
        r.before, r.last = r.last, memo
        return _wrap(node1(memo.op, (v,), memo.out_dt, memo.out_shape, v.depth + 1, 0))
    op = r.rule(v, axis, keepdims, dtype)
    if op is None:  # nothing to reduce: the value itself (NumPy's copy of a user's array)
        return _wrap(_snapshot(v))
    out_dt, out_shape = op.infer(v)[0]
    memo.op = None  # a failed hit test on a half-written memo is a miss
    if not _immutable_axis(axis):  # a list or array axis may change before the next call
        return _wrap(node1(op, (v,), out_dt, out_shape, v.depth + 1, 0))
    memo.axis, memo.keepdims, memo.dtype_arg = axis, keepdims, dtype
    memo.in_dt, memo.in_shape = v.dtype, v.shape
    memo.out_dt, memo.out_shape, memo.op = out_dt, out_shape, op
    r.before, r.last = r.last, memo
    return _wrap(node1(op, (v,), out_dt, out_shape, v.depth + 1, 0))


cdef _Reduction _sum = _Reduction(), _prod = _Reduction(), _mean = _Reduction(), \
    _max = _Reduction(), _min = _Reduction(), _all = _Reduction(), _any = _Reduction()
cdef dict _memos = {"sum": _sum, "prod": _prod, "mean": _mean, "max": _max, "min": _min,
                    "all": _all, "any": _any}


def set_rule(str name, rule):
    """Give reduction ``name`` its Python rule: ``rule(v, axis, keepdims, dtype)`` is the
    `Reduce` op over input variable ``v`` (None: the result is ``v`` itself), or raises."""
    (<_Reduction>_memos[name]).rule = rule


# The namespace's reductions (`functions.statistics` gives them their docstrings and rules).
def sum(x, /, *, axis=None, dtype=None, keepdims=False):
    return _reduce(_sum, x, axis, keepdims, dtype)


def prod(x, /, *, axis=None, dtype=None, keepdims=False):
    return _reduce(_prod, x, axis, keepdims, dtype)


def mean(x, /, *, axis=None, keepdims=False):
    return _reduce(_mean, x, axis, keepdims, None)


def max(x, /, *, axis=None, keepdims=False):
    return _reduce(_max, x, axis, keepdims, None)


def min(x, /, *, axis=None, keepdims=False):
    return _reduce(_min, x, axis, keepdims, None)


def all(x, /, *, axis=None, keepdims=False):
    return _reduce(_all, x, axis, keepdims, None)


def any(x, /, *, axis=None, keepdims=False):
    return _reduce(_any, x, axis, keepdims, None)


cdef object _mm_op = None, _mm_slow = None, _mm_infer = None
#: the last product built by `matmul`: its dtype, operand shapes and result shape
cdef object _mm_dt = None, _mm_s1 = None, _mm_s2 = None, _mm_out = None
#: result shapes of recent products by (dtype, shape, shape): an MLP alternates between
#: layers, so the last pair alone would miss every time
cdef dict _mm_seen = {}


def set_matmul(op, slow):
    """Give `matmul` its op (`ops.linalg.MatMul`) and ``slow``, the Python function for
    operands it does not handle itself."""
    global _mm_op, _mm_slow, _mm_infer
    _mm_op, _mm_slow, _mm_infer = op, slow, op.infer


def matmul(x1, x2, /):
    """The namespace's ``matmul``: two Arrays of one numeric dtype build the node here (the
    result shape of the last pair of shapes remembered); anything else (promotion, casts,
    other operands) goes to the Python function."""
    return _matmul(x1, x2)


def matmul_operator(x1, x2, /):
    """``Array.__matmul__``: `matmul`, or NotImplemented for an operand lazyarr cannot take
    as an array that answers ``@`` itself (a SciPy sparse matrix's ``__rmatmul__``)."""
    if type(x2) is not Array and defers_to(x2, "__rmatmul__"):
        return NotImplemented
    return _matmul(x1, x2)


def rmatmul_operator(x1, x2, /):
    """``Array.__rmatmul__``: ``x2 @ x1``, or NotImplemented as `matmul_operator`."""
    if type(x2) is not Array and defers_to(x2, "__matmul__"):
        return NotImplemented
    return _matmul(x2, x1)


cdef object _matmul(x1, x2):
    global _mm_dt, _mm_s1, _mm_s2, _mm_out
    cdef Var v1, v2
    if type(x1) is not Array or type(x2) is not Array:
        return _mm_slow(x1, x2)
    v1 = <Var>x1._v
    v2 = <Var>x2._v
    dt = v1.dtype
    if v2.dtype is not dt:
        return _mm_slow(x1, x2)
    s1 = v1.shape
    s2 = v2.shape
    if dt is not _mm_dt or not (s1 is _mm_s1 or s1 == _mm_s1) \
            or not (s2 is _mm_s2 or s2 == _mm_s2):
        if dt.kind == "b":
            return _mm_slow(x1, x2)
        key = (dt, s1, s2)
        out = _mm_seen.get(key)
        if out is None:
            out = _mm_infer(v1, v2)[0][1]
            if len(_mm_seen) >= 64:
                _mm_seen.clear()
            _mm_seen[key] = out
        _mm_dt, _mm_s1, _mm_s2, _mm_out = dt, s1, s2, out
    return _wrap(node1(_mm_op, (v1, v2), dt, _mm_out, _deeper(v1, v2), 0))
