# cython: language_level=3
"""The bytes a NumPy array spans, compared in C (NumPy's ``may_share_memory``): where a value
handed to a user may share memory with a buffer that is written later."""

cimport numpy as cnp


cdef inline bint extent(cnp.ndarray a, char **lo, char **hi) noexcept:
    """The bytes ``a`` spans, ``[lo, hi)``; False for an empty array."""
    cdef int i
    cdef cnp.npy_intp d, st
    cdef char *l = cnp.PyArray_BYTES(a)
    cdef char *h = l + cnp.PyArray_ITEMSIZE(a)
    for i in range(cnp.PyArray_NDIM(a)):
        d = cnp.PyArray_DIM(a, i)
        if d == 0:
            return False
        st = cnp.PyArray_STRIDE(a, i)
        if st > 0:
            h += st * (d - 1)
        else:
            l += st * (d - 1)
    lo[0] = l
    hi[0] = h
    return True


cdef inline bint overlaps(cnp.ndarray a, cnp.ndarray b) noexcept:
    """Whether the bytes ``a`` and ``b`` span meet."""
    cdef char *al
    cdef char *ah
    cdef char *bl
    cdef char *bh
    if not extent(a, &al, &ah) or not extent(b, &bl, &bh):
        return False
    return al < bh and bl < ah
