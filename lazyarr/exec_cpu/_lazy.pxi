# Included by _vm.pyx: lazy nodes (a ``cond`` asking for one branch) in the Cython VM.
#
# The linker splits a program with lazy nodes in two: the thunks every run needs whatever the
# lazy nodes decide (``main``, run in order) and, per lazy node and input it may ask for, the
# deferred thunks only that input needs (``subs``). A lazy node's ``perform_lazy(get, n_in)``
# asks for inputs through ``get``; an input not computed yet runs its deferred thunks first
# (each thunk at most once per call: a ``done`` flag per thunk).

from cpython.bytearray cimport PyByteArray_AS_STRING


cdef class LazyThunk(Thunk):
    """A lazy node: ``fn`` is its op's ``perform_lazy``; ``subs[i]`` lists the positions of the
    deferred thunks to run before input ``i`` can be read (empty when it is always computed)."""
    cdef public tuple subs

    def __init__(self, fn, tuple ins, tuple outs, tuple free, node, tuple subs):
        Thunk.__init__(self, fn, ins, outs, free, node)
        self.subs = subs

    cdef int run(self, list storage, bint shared) except -1:
        raise RuntimeError("a lazy thunk runs only inside a LazyProgram")


cdef class _Get:
    """The ``get(i)`` a lazy node calls: computes input ``i`` on demand, returns its value."""
    cdef LazyProgram prog
    cdef LazyThunk t
    cdef list storage
    cdef bytearray done
    cdef bint shared

    def __call__(self, Py_ssize_t i):
        cdef tuple sub = <tuple>self.t.subs[i]
        if sub:
            self.prog._run_list(sub, self.storage, self.done, self.shared)
        return self.storage[<Py_ssize_t>self.t.ins[i]]


cdef class LazyProgram(_Keeper):
    """``program(args) -> outputs`` for a graph with lazy nodes: the ``main`` thunks run in
    order; deferred ones only when a lazy node asks for what they compute. Its kept buffers
    are measured after its first run (a branch taken later adds to them uncounted)."""
    cdef public list init_storage
    cdef public tuple main
    cdef public tuple out_idx
    cdef public Py_ssize_t n_in
    cdef int running

    def __init__(self, list thunks, list init_storage, tuple main, tuple out_idx,
                 Py_ssize_t n_in):
        self.thunks = thunks
        self.init_storage = init_storage
        self.main = main
        self.out_idx = out_idx
        self.n_in = n_in
        self.running = 0

    def __call__(self, list args):
        cdef list storage = list(self.init_storage)
        cdef Py_ssize_t i
        _check_count(args, self.n_in)
        for i in range(self.n_in):
            storage[i] = args[i]
        cdef bytearray done = bytearray(len(self.thunks))
        cdef bint shared = self.running > 0
        self.running += 1
        token = _fp_quiet()
        try:
            self._run_list(self.main, storage, done, shared)
        finally:
            self.running -= 1
            if token is not None:
                _fp_leave(token)
        if not shared:
            self._kept_now()
        return [storage[j] for j in self.out_idx]

    cdef int _run_list(self, tuple positions, list storage, bytearray done,
                       bint shared) except -1:
        cdef char *flags = PyByteArray_AS_STRING(done)
        cdef Py_ssize_t k, j
        cdef Thunk t
        cdef _Get get
        cdef object r
        for k in positions:
            if flags[k]:
                continue
            t = <Thunk>self.thunks[k]
            try:
                if type(t) is LazyThunk:
                    get = _Get.__new__(_Get)
                    get.prog, get.t, get.storage, get.done, get.shared = (
                        self, <LazyThunk>t, storage, done, shared)
                    r = t.fn(get, len(t.ins))
                    if t.single:
                        storage[<Py_ssize_t>t.outs[0]] = r
                    else:
                        for j in range(len(t.outs)):
                            storage[<Py_ssize_t>t.outs[j]] = r[j]
                else:
                    t.run(storage, shared)
            except Exception as exc:
                annotate(exc, t.node)
                raise
            flags = PyByteArray_AS_STRING(done)
            flags[k] = 1
            for j in t.free:
                storage[j] = None
        return 0
