# cython: language_level=3
"""The shape rules that every array operation of an eager step runs, in C: broadcasting,
reductions and matrix products (`elemwise`, `reduce` and `linalg` re-export them). Sizes are
ints, or ``None`` for a size known only at run time. Built with ``wraparound`` off: indices
are counted from the left."""

from ...graph.userline import where


def broadcast_shapes(*shapes) -> tuple:
    """The standard's broadcasting of shapes (``None`` is a size unknown until run time);
    ValueError naming the shapes and the user's line when they do not broadcast."""
    cdef Py_ssize_t n = len(shapes), ndim = 0, j, off, ls
    if n == 2:
        a = shapes[0]
        b = shapes[1]
        if a == b or not b:
            return a
        if not a:
            return b
    for s in shapes:
        ls = len(s)
        if ls > ndim:
            ndim = ls
    out = []
    for j in range(ndim):
        size = 1
        for s in shapes:
            off = len(s) - ndim + j
            if off < 0:
                continue
            d = s[off]
            if d == 1 or d == size:
                continue
            if size == 1:
                size = d
            elif d is None or size is None:
                size = d if size is None else size
            else:
                raise ValueError(
                    f"shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be broadcast "
                    f"together ({where()})")
        out.append(size)
    return tuple(out)


def reduced_shape(shape, axes, bint keepdims) -> tuple:
    """``shape`` reduced over ``axes`` (non-negative): those sizes become 1 with
    ``keepdims``, else they are dropped."""
    cdef Py_ssize_t i, n = len(shape)
    out = []
    for i in range(n):
        if i in axes:
            if keepdims:
                out.append(1)
        else:
            out.append(shape[i])
    return tuple(out)


def matmul_shape(tuple a, tuple b) -> tuple:
    """Result shape of ``a @ b`` (NumPy's rules: 1-d operands are promoted, then dropped);
    ValueError for a 0-d operand or contracted sizes that differ."""
    cdef Py_ssize_t na = len(a), nb = len(b)
    if na == 0 or nb == 0:
        raise ValueError(f"matmul: operands must have at least one dimension ({where()})")
    a2 = (1,) + a if na == 1 else a
    b2 = b + (1,) if nb == 1 else b
    cdef Py_ssize_t ra = len(a2), rb = len(b2)
    k1 = a2[ra - 1]
    k2 = b2[rb - 2]
    if k1 is not None and k2 is not None and k1 != k2:
        raise ValueError(f"matmul: contracted dimensions differ: {a} @ {b} ({where()})")
    if ra == 2 and rb == 2:
        batch = ()
    else:
        batch = broadcast_shapes(a2[:ra - 2], b2[:rb - 2])
    out = batch + (a2[ra - 2], b2[rb - 1])
    cdef Py_ssize_t no = len(out)
    if na == 1:
        out = out[:no - 2] + out[no - 1:]
        no -= 1
    if nb == 1:
        out = out[:no - 1]
    return out
