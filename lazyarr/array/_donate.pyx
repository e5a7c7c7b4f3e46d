# cython: language_level=3, boundscheck=False, wraparound=False
"""Automatic donation in eager realization: the leaves of a cut whose buffers nobody else holds.

An eager SGD step ``w = w - lr * g`` leaves the old ``w`` reachable only from the pending graph
once the user rebinds the name. Its buffer is then dead after the program reads it, so the
program may write the new ``w`` into it (``fg.donate``, as `lazyarr.compile`'s donated arguments
do): no allocation of a fresh output, no copy of the old values for an accumulating product.

A buffer (a NumPy array owning its memory) is dead when every reference to it comes from leaves
of the cut (a differentiated argument and its symbolic stand-in share one array), and every such
leaf is referenced only by the cut's nodes and the walk's list of leaves: no user array wraps
it, it is not a constant. Reference counts make this exact: any other holder (a user's `Array`,
`np.asarray` of it, a view, a pending graph outside the cut) adds a reference, and then nothing
is donated. Only buffers of at least `MIN_BYTES` with an output of the same dtype and shape
among the values asked are worth it. The answer joins the trace-cache key (a program compiled
with donation runs only when the same leaves are dead again): per buffer, the number of the leaf
given as the donated input, how many other leaves share the buffer, and their numbers.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport Py_REFCNT
from libc.stdint cimport int32_t

cimport numpy as cnp

from ..graph._ir cimport Apply, Var
from ..graph._walk cimport _kept

cnp.import_array()

#: the smallest buffer donated (smaller ones cost less to allocate than an extra trace-cache
#: key). 16 KiB, not 64: fig1's 784-500-10 step at minibatch 1 updates its 20 KB W2 in place
#: then (an eager step 68-70 -> 66-67 us, alternating runs; logreg's 31 KB W: no change)
MIN_BYTES = 16384

#: the first byte of a donation suffix: keys proper are whole 8-byte words, so a suffix of
#: ``1 + 4k`` bytes (int32 numbers) makes a key no plain key can equal
DEAD_MARK = b"d"

#: most int32 numbers in a suffix (further dead buffers are simply not donated)
DEF MAX_WORDS = 64


cdef Py_ssize_t _uses(object leaf, list nodes):
    """How many input slots of ``nodes`` hold ``leaf``."""
    cdef Py_ssize_t n = 0
    for node in nodes:
        for u in (<Apply>node).inputs:
            if u is leaf:
                n += 1
    return n


cdef bint _dead_var(object leaf, list nodes):
    """``leaf`` is referenced only by ``nodes``' inputs, the walk's list of leaves and the
    caller's one reference."""
    return Py_REFCNT(leaf) == _uses(leaf, nodes) + 2


cdef bint _read_by_kept(object leaf, list nodes, const char* keep):
    """Some apply of ``nodes`` that outlives the realization (``keep``, `_walk._kept`: a
    gradient tape holds it, say) reads ``leaf``."""
    cdef Py_ssize_t i
    for i in range(len(nodes)):
        if keep[i]:
            for u in (<Apply>nodes[i]).inputs:
                if u is leaf:
                    return True
    return False


cdef bint _wanted(Var leaf, list outputs):
    """Some output has ``leaf``'s dtype and shape."""
    cdef Var o
    for x in outputs:
        o = <Var>x
        if o.shape == leaf.shape and (o.dtype is leaf.dtype or o.dtype == leaf.dtype):
            return True
    return False


cpdef bytes dead_leaves(list leaves, list nodes, list outputs):
    """The dead buffers of a cut worth donating to ``outputs`` (its Vars, the values the
    realization writes back), as a key suffix (`DEAD_MARK`, then per buffer: donated leaf
    number, count of other leaves sharing it, their numbers; all int32), or ``b""`` for none.
    Renumbers the cut's variables (`_walk._kept`): called once the walk's key is made."""
    cdef char small[64]  # an eager step's cut: no allocation
    cdef char* keep = small
    if len(nodes) > 64:
        keep = <char*>PyMem_Malloc(len(nodes))
        if keep == NULL:
            raise MemoryError()
    cdef bint found = False
    try:
        return _dead_leaves(leaves, nodes, outputs, keep, &found)
    finally:
        if keep != small:
            PyMem_Free(keep)


cdef bytes _dead_leaves(list leaves, list nodes, list outputs, char* keep, bint* found):
    """`dead_leaves`; ``keep``: room for the flags of the applies that outlive the
    realization, filled at the first candidate (``found``)."""
    cdef Py_ssize_t i, j, m, k = 0, n = len(leaves)
    cdef Var leaf
    cdef object d
    cdef int32_t words[MAX_WORDS]
    for i in range(n):
        leaf = <Var>leaves[i]
        d = leaf.data
        if leaf.const or leaf.nref or type(d) is not cnp.ndarray:
            continue
        if (cnp.PyArray_BASE(<cnp.ndarray>d) != NULL
                or not cnp.PyArray_CHKFLAGS(<cnp.ndarray>d,
                                            cnp.NPY_ARRAY_C_CONTIGUOUS | cnp.NPY_ARRAY_ALIGNED)
                or cnp.PyArray_NBYTES(<cnp.ndarray>d) < MIN_BYTES):
            continue
        m = 0  # leaves holding the same array; an earlier one already took it (or refused it)
        for j in range(n):
            if (<Var>leaves[j]).data is d:
                if j < i:
                    break
                m += 1
        else:
            # references to the array: the m leaves' ``data`` and ``d``
            if Py_REFCNT(d) != m + 1 or k + 1 + m > MAX_WORDS or not _wanted(leaf, outputs):
                continue
            if not _dead_var(leaf, nodes):
                continue
            if not found[0]:
                _kept(nodes, keep, outputs)
                found[0] = True
            if _read_by_kept(leaf, nodes, keep):
                continue
            for j in range(i + 1, n):
                if (<Var>leaves[j]).data is d and (not _dead_var(leaves[j], nodes)
                                                   or _read_by_kept(leaves[j], nodes, keep)):
                    break
            else:
                if k == 0:  # the first buffer to donate: the cut is read for lazy ops once
                    for node in nodes:
                        if (<Apply>node).op.lazy:  # an untaken branch may read it: no donation
                            return b""
                words[k] = <int32_t>i
                words[k + 1] = <int32_t>(m - 1)
                k += 2
                for j in range(i + 1, n):
                    if (<Var>leaves[j]).data is d:
                        words[k] = <int32_t>j
                        k += 1
    if k == 0:
        return b""
    return DEAD_MARK + PyBytes_FromStringAndSize(<char*>words, k * 4)


def decode(bytes suffix) -> list:
    """The buffers of a `dead_leaves` suffix: ``[(donated leaf, [other leaves sharing it])]``."""
    cdef const char* s = suffix
    cdef const int32_t* q = <const int32_t*>(s + 1)
    cdef Py_ssize_t k = 0, m, n = (len(suffix) - 1) // 4
    out = []
    while k < n:
        m = q[k + 1]
        out.append((q[k], [q[k + 2 + j] for j in range(m)]))
        k += 2 + m
    return out


cpdef list donated_args(tuple positions, bytes suffix):
    """The argument numbers (in ``positions``, the cut's leaves passed as arguments) of every
    leaf a `dead_leaves` suffix names."""
    cdef const char* s = suffix
    cdef const int32_t* q = <const int32_t*>(s + 1)
    cdef Py_ssize_t k = 0, j, p, n = (len(suffix) - 1) // 4
    cdef list out = []
    while k < n:
        for j in range(q[k + 1] + 1):
            leaf = q[k] if j == 0 else q[k + 1 + j]
            for p in range(len(positions)):
                if <Py_ssize_t>positions[p] == leaf:
                    out.append(p)
                    break
        k += 2 + q[k + 1]
    return out

