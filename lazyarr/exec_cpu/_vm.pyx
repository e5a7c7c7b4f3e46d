# cython: language_level=3
"""The linear VM: a linked program's loop, in Cython.

A program is a list of thunks over one storage list. Each thunk calls its op's implementation on
values from storage and writes its outputs back; values no later thunk reads are dropped at once.
"""

from .errors import annotate
from .fpstate import enter as _fp_enter, leave as _fp_leave

cdef class Thunk:
    cdef public object fn
    cdef public tuple ins
    cdef public tuple outs
    cdef public tuple free
    cdef public object node
    cdef public bint single

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node):
        self.fn = fn
        self.ins = ins
        self.outs = outs
        self.free = free
        self.node = node
        self.single = len(outs) == 1


cdef class LinearProgram:
    """``program(args) -> outputs``: runs its thunks in order over a fresh storage list."""
    cdef public list thunks
    cdef public list init_storage
    cdef public tuple out_idx
    cdef public Py_ssize_t n_in

    def __init__(self, list thunks, list init_storage, tuple out_idx, Py_ssize_t n_in):
        self.thunks = thunks
        self.init_storage = init_storage
        self.out_idx = out_idx
        self.n_in = n_in

    def __call__(self, list args):
        cdef list storage = list(self.init_storage)
        cdef Py_ssize_t i, j, k
        cdef Thunk t
        cdef object r
        cdef tuple ins
        for i in range(self.n_in):
            storage[i] = args[i]
        token = _fp_enter()
        try:
            for t in self.thunks:
                ins = t.ins
                try:
                    k = len(ins)
                    if k == 1:
                        r = t.fn(storage[<Py_ssize_t>ins[0]])
                    elif k == 2:
                        r = t.fn(storage[<Py_ssize_t>ins[0]], storage[<Py_ssize_t>ins[1]])
                    else:
                        r = t.fn(*[storage[j] for j in ins])
                except Exception as exc:
                    annotate(exc, t.node)
                    raise
                if t.single:
                    storage[<Py_ssize_t>t.outs[0]] = r
                else:
                    for k in range(len(t.outs)):
                        storage[<Py_ssize_t>t.outs[k]] = r[k]
                for j in t.free:
                    storage[j] = None
        finally:
            _fp_leave(token)
        return [storage[j] for j in self.out_idx]
