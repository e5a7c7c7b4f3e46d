# cython: language_level=3
"""C declarations of the IR's node types, for Cython modules that walk graphs (`_walk`)."""

cdef class Var:
    cdef public object dtype, shape, owner, data, name
    cdef public Py_ssize_t index, depth, nref
    cdef public bint const
    #: walk marks of `_walk`: ``_mark`` is the epoch of the last walk that numbered this
    #: variable (minus it: asked for, not yet met), ``_num`` its value number in that walk
    cdef Py_ssize_t _mark, _num
    cdef object __weakref__


cdef class Apply:
    cdef public object op, inputs, outputs
    #: the site: ``_code`` and ``_lasti`` when found by the frame walk (``site`` is then
    #: ``(_code, _lasti)``, built when read), else any object in ``_site``
    cdef object _site, _code
    cdef int _lasti


cpdef object user_site(int skip=*)
cdef Var node1(object op, tuple inputs, object dtype, object shape, Py_ssize_t depth,
               int site_skip)
