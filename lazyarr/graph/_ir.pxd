# cython: language_level=3
"""C declarations of the IR's node types, for Cython modules that walk graphs (`_walk`)."""

cdef class Var:
    cdef public object dtype, shape, owner, data, name
    cdef public Py_ssize_t index, depth, nref
    cdef public bint const
    cdef object __weakref__


cdef class Apply:
    cdef public object op, inputs, outputs, site


cpdef object user_site(int skip=*)
cdef Var node1(object op, tuple inputs, object dtype, object shape, Py_ssize_t depth,
               int site_skip)
