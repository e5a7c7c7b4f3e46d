# cython: language_level=3
"""C declarations of `_walk`, for the realization hit path (`array/_front.pyx`)."""

from libc.stdint cimport int64_t, uint64_t

from ._ir cimport Var


cdef struct Words:
    int64_t* p
    Py_ssize_t n, cap


cdef struct Sig:
    Py_ssize_t start, n, k  # a step's words w.p[start:start + n]; its first output's number
    uint64_t h
    Py_ssize_t gen  # the table's generation when this slot was filled


cdef struct Table:
    Sig* s
    #: cap: a power of two; a slot is empty unless its ``gen`` is the table's (a reused
    #: table takes the next generation instead of being cleared)
    Py_ssize_t cap, used, gen


cdef class Walk:
    cdef Words w
    cdef Table sigs
    cdef void** stack
    cdef Py_ssize_t stack_cap
    cdef Py_ssize_t ep, counter
    cdef bint full, want_extras
    cdef readonly list leaves, steps, nodes, outputs, extras
    #: if asked (`cut_scalars`, `walk`): ``(leaf number, first word, word count)`` of each 0-d
    #: small constant's value in the key's words; else None
    cdef readonly list scalars

    cdef int _stack_reserve(self, Py_ssize_t n) except -1
    cdef int _leaf(self, Var v) except -1
    cdef int _run(self, list outputs) except -1
    cdef int _extend(self, list more) except -1
    cdef bytes _key(self)
    cdef Py_ssize_t _close(self) except -1


cdef Walk _start(list outputs, list extras, bint full, bint scalars=*)
cdef int _release(list nodes) except -1
cdef int _kept(list nodes, char* keep, list written) except -1
cdef list _meets(list candidates, Py_ssize_t budget)
cdef int _recycle(Walk wk) except -1
cdef int _empty_list(list l) except -1
