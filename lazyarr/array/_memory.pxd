# cython: language_level=3
"""The bytes a NumPy array spans, compared in C (NumPy's ``may_share_memory``): where a value
handed to a user may share memory with a buffer that is written later; and whether anybody can
still write an array's memory."""

from cpython.object cimport PyObject
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


cdef inline bint frozen(cnp.ndarray a) noexcept:
    """Whether no NumPy array can write ``a``'s memory: ``a`` and every array it views are
    read-only, down to the owner of the memory or to an immutable ``bytes``. A read-only view
    of a writable array is not (its owner writes through the array it holds:
    ``np.broadcast_to``, ``sliding_window_view``). An owner the user locked counts as frozen:
    one who unlocks it again and writes changes what pending arrays read, as with NumPy."""
    cdef object b = a
    cdef PyObject* base
    while True:
        if cnp.PyArray_ISWRITEABLE(<cnp.ndarray>b):
            return False
        base = cnp.PyArray_BASE(<cnp.ndarray>b)
        if base == NULL:
            return True
        b = <object>base
        if not isinstance(b, cnp.ndarray):
            return type(b) is bytes
