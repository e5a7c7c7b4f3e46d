# cython: language_level=3
"""Cutting a pending sub-graph out of the live graph, with its structural key.

`cut(outputs)` walks from the requested variables up to the leaves (variables without an
owner) in one pass and returns

* ``leaves``: the leaf variables, in the order met;
* ``steps``: one ``(apply, in_refs, first_out)`` per distinct node in topological order, where
  ``in_refs`` are value numbers and the node's outputs are numbered ``first_out...``. Leaves and
  node outputs share one numbering, in the order the walk met them (a leaf can be numbered after
  a node): the numbers no step's outputs take are the leaves', in order;
* ``out_refs``: the value number of each requested output, then of each extra variable;
* ``key``: a `bytes` object that is equal for two cuts exactly when they compute the same thing
  from leaves of the same dtypes and shapes (small constants by value).

`cut_key(outputs, extras)` is the same walk without ``steps`` and ``out_refs`` (the hit path of
materialization): ``(leaves, key, nodes)``, ``nodes`` the distinct applies in order.

If a list is given as ``extras``, pending variables met on the way that a live user array still
holds (``nref > 0``) are appended to it and computed as outputs too: materialization writes them
back, so the state of an eager-looking loop becomes leaves and the next step has the same
structure (and so the same key) as this one.

Identical nodes (same op, same inputs) are merged on the way, so common sub-expressions are
computed once whether or not they were built once.

The key is a string of 64-bit words, hashed once (bytes cache their hash) and compared with
``memcmp``: a leaf is a tag (data / symbolic input / small constant), a dtype code, the rank and
the sizes (-1 for a size known only at run time), a small constant adds its byte count and bytes;
a node is its op's address (ops are interned and never freed: `graph.basic.OpMeta`), its input
count and its inputs' value numbers; the key ends with the outputs' value numbers. A walk marks
the variables it numbers with its epoch (`Var._mark`, `Var._num`) instead of keeping a
dictionary; `meets_last_cut` reads those marks.

`toposort(outputs)` is `graph.toposort` in C: each pass of a compilation asks for the order.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_FromVoidPtr  # id() without its audit event
from cpython.object cimport PyObject
from cpython.ref cimport Py_REFCNT
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.tuple cimport PyTuple_GET_SIZE
from libc.stdint cimport int64_t, intptr_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from ._ir cimport Apply, Var

cdef int SMALL_CONST = 16

# leading word of a leaf's entry (a node's entry starts with its op's address, > 0)
cdef int64_t LEAF = -1, INPUT = -2, CONST = -3, OUTS = -4

#: the epoch of the latest walk: a variable with ``_mark == _epoch`` was numbered by it
cdef Py_ssize_t _epoch = 0
#: what a released apply's ``inputs`` and ``outputs`` become
cdef tuple _no_values = ()
#: dtype -> small code (dtypes equal by value share a code)
cdef dict _dtype_code = {}


cdef int _reserve(Words* w, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap = w.cap
    cdef int64_t* p
    if w.n + extra <= cap:
        return 0
    while cap < w.n + extra:
        cap *= 2
    p = <int64_t*>PyMem_Realloc(w.p, cap * sizeof(int64_t))
    if p == NULL:
        raise MemoryError()
    w.p = p
    w.cap = cap
    return 0


cdef inline int _put(Words* w, int64_t x) except -1:
    if w.n == w.cap:
        _reserve(w, 1)
    w.p[w.n] = x
    w.n += 1
    return 0


cdef object _last_dtype = None, _last_code = None


cdef int _put_type(Words* w, Var v) except -1:
    global _last_dtype, _last_code
    dt = v.dtype
    if dt is _last_dtype:  # most leaves of a walk share a dtype: no hash of it
        code = _last_code
    else:
        code = _dtype_code.get(dt)
        if code is None:
            code = _dtype_code[dt] = len(_dtype_code)
        _last_dtype, _last_code = dt, code
    shape = v.shape
    _reserve(w, 2 + len(shape))
    w.p[w.n] = <int64_t>code
    w.p[w.n + 1] = len(shape)
    w.n += 2
    for s in shape:
        w.p[w.n] = -1 if s is None else <int64_t>s
        w.n += 1
    return 0


cdef int _put_bytes(Words* w, bytes b) except -1:
    cdef Py_ssize_t nb = PyBytes_GET_SIZE(b), nw = (nb + 7) // 8
    _reserve(w, 1 + nw)
    w.p[w.n + nw] = 0  # padding of the last word
    w.p[w.n] = nb
    memcpy(&w.p[w.n + 1], PyBytes_AS_STRING(b), nb)
    w.n += 1 + nw
    return 0



cdef inline uint64_t _hash_words(const int64_t* p, Py_ssize_t n) noexcept:
    cdef uint64_t h = 1469598103934665603ULL
    cdef Py_ssize_t j
    for j in range(n):
        h = (h ^ <uint64_t>p[j]) * 1099511628211ULL
    return h ^ (h >> 29)


cdef int _grow(Table* t) except -1:
    cdef Py_ssize_t cap = t.cap * 2, i, j
    cdef Sig* s = <Sig*>PyMem_Calloc(cap, sizeof(Sig))
    if s == NULL:
        raise MemoryError()
    for i in range(t.cap):
        if t.s[i].gen == t.gen:
            j = t.s[i].h & (cap - 1)
            while s[j].gen == t.gen:
                j = (j + 1) & (cap - 1)
            s[j] = t.s[i]
    PyMem_Free(t.s)
    t.s = s
    t.cap = cap
    return 0


cdef Py_ssize_t _find_or_add(Table* t, Words* w, Py_ssize_t start, Py_ssize_t k) except -2:
    """The first output number of an earlier step whose words equal ``w.p[start:w.n]`` (the
    same op on the same values); else -1, after recording this step's as ``k``."""
    cdef Py_ssize_t n = w.n - start, i
    cdef uint64_t h = _hash_words(&w.p[start], n)
    if 2 * (t.used + 1) > t.cap:
        _grow(t)
    i = h & (t.cap - 1)
    while t.s[i].gen == t.gen:
        if t.s[i].h == h and t.s[i].n == n and \
                memcmp(&w.p[t.s[i].start], &w.p[start], n * sizeof(int64_t)) == 0:
            return t.s[i].k
        i = (i + 1) & (t.cap - 1)
    t.s[i].start = start
    t.s[i].n = n
    t.s[i].k = k
    t.s[i].h = h
    t.s[i].gen = t.gen
    t.used += 1
    return -1


cdef bytes _const_entry(Var v):
    """The key words of small const leaf ``v`` (remembered in `_const_words`: tag, type and
    bytes, baked into the program); None for a larger constant, which keys like any leaf."""
    cdef Words w
    d = v.data
    if d.size > SMALL_CONST:
        return None
    w.p = <int64_t*>PyMem_Malloc(16 * sizeof(int64_t))
    if w.p == NULL:
        raise MemoryError()
    w.n = 0
    w.cap = 16
    try:
        _put(&w, CONST)
        _put_type(&w, v)
        _put_bytes(&w, d.tobytes())
        b = PyBytes_FromStringAndSize(<char*>w.p, w.n * 8)
    finally:
        PyMem_Free(w.p)
    if len(_const_words) >= CONST_MEMO_MAX:
        _const_words.clear()
    _const_words[PyLong_FromVoidPtr(<void*>d)] = (d, b)
    return b


#: buffers of a freed walk, taken by the next one (a realization walks once: no allocation)
cdef int64_t* _spare_w = NULL
cdef Py_ssize_t _spare_wcap = 0
cdef Sig* _spare_s = NULL
cdef Py_ssize_t _spare_gen = 0
cdef void** _spare_stack = NULL
cdef Py_ssize_t _spare_stack_cap = 0
#: tables and stacks up to this many slots are kept for the next walk
cdef Py_ssize_t SPARE_MAX = 1024
#: a small const leaf's data, by address -> ``(data, key words)`` (tag, type, bytes, as
#: `bytes`): constants share their data (`coerce.const`; index constants are fresh leaves
#: over shared data, `_front.int_leaf`), so most walks meet the same few; cleared when it
#: reaches CONST_MEMO_MAX
cdef dict _const_words = {}
cdef Py_ssize_t CONST_MEMO_MAX = 4096


cdef class Walk:
    """One walk (`cut`, `cut_key`, `walk`): its leaves, distinct applies (``nodes``, or
    ``steps`` for `cut`; the other is None), the key's words so far and the marks of its epoch. `extend` walks on
    from more outputs as if they had been asked with the first ones (the same numbering, so
    the same key as one walk of all of them): materialization adds the live arrays that read
    the cut without walking the cut again."""

    def __cinit__(self):
        global _spare_w, _spare_s, _spare_stack
        if _spare_w != NULL:
            self.w.p, self.w.cap = _spare_w, _spare_wcap
            self.sigs.s = _spare_s
            self.sigs.gen = _spare_gen + 1  # the slots of older generations are empty
            self.stack, self.stack_cap = _spare_stack, _spare_stack_cap
            _spare_w = NULL
            _spare_s = NULL
            _spare_stack = NULL
        else:
            self.w.p = <int64_t*>PyMem_Malloc(256 * sizeof(int64_t))
            self.sigs.s = <Sig*>PyMem_Calloc(64, sizeof(Sig))
            self.sigs.gen = 1
            self.stack = <void**>PyMem_Malloc(64 * sizeof(void*))
            if self.w.p == NULL or self.sigs.s == NULL or self.stack == NULL:
                raise MemoryError()
            self.w.cap = 256
            self.stack_cap = 64
        self.sigs.cap = 64

    def __dealloc__(self):
        global _spare_w, _spare_wcap, _spare_s, _spare_gen, _spare_stack, _spare_stack_cap
        if _spare_w == NULL and self.sigs.cap <= SPARE_MAX and self.w.cap <= 8 * SPARE_MAX \
                and self.stack_cap <= SPARE_MAX and self.w.p != NULL and \
                self.sigs.s != NULL and self.stack != NULL:
            if self.sigs.cap > 64:  # keep the first 64 slots only (a fresh table's size)
                self.sigs.s = <Sig*>PyMem_Realloc(self.sigs.s, 64 * sizeof(Sig))
            _spare_w, _spare_wcap = self.w.p, self.w.cap
            _spare_s, _spare_gen = self.sigs.s, self.sigs.gen
            _spare_stack, _spare_stack_cap = self.stack, self.stack_cap
            return
        PyMem_Free(self.w.p)
        PyMem_Free(self.sigs.s)
        PyMem_Free(self.stack)

    cdef int _stack_reserve(self, Py_ssize_t n) except -1:
        cdef Py_ssize_t cap = self.stack_cap
        cdef void** p
        if n <= cap:
            return 0
        while cap < n:
            cap *= 2
        p = <void**>PyMem_Realloc(self.stack, cap * sizeof(void*))
        if p == NULL:
            raise MemoryError()
        self.stack = p
        self.stack_cap = cap
        return 0

    cdef int _leaf(self, Var v) except -1:
        """Number leaf ``v`` and add its entry to the key."""
        cdef Words* w = &self.w
        cdef bytes b
        v._mark = self.ep
        v._num = self.counter
        self.counter += 1
        self.leaves.append(v)
        d = v.data
        if d is None:
            _put(w, INPUT)
            _put_type(w, v)
        else:
            b = None
            if v.const:
                e = _const_words.get(PyLong_FromVoidPtr(<void*>d))
                if e is not None and (<tuple>e)[0] is d:
                    b = (<tuple>e)[1]
                else:
                    b = _const_entry(v)
            if b is not None:
                if self.scalars is not None and v.data.ndim == 0:
                    # the value's words follow CONST, the type code, rank 0 and the byte count
                    self.scalars.append((len(self.leaves) - 1, w.n + 4,
                                         PyBytes_GET_SIZE(b) // 8 - 4))
                _reserve(w, PyBytes_GET_SIZE(b) // 8)
                memcpy(&w.p[w.n], PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))
                w.n += PyBytes_GET_SIZE(b) // 8
            else:
                _put(w, LEAF)
                _put_type(w, v)
        return 0

    cdef int _run(self, list outputs) except -1:
        """Number everything ``outputs`` need that is not numbered yet (depth first, an
        apply after its inputs; the stack holds borrowed references: ``outputs`` holds the
        graph while the walk runs)."""
        cdef Py_ssize_t ep = self.ep, k, start, n_in, n_out, i, sp
        cdef list extras = self.extras
        cdef bint want_extras = self.want_extras, ready
        cdef Words* w = &self.w
        cdef Var v, out
        cdef Apply owner
        cdef object inputs, outs
        cdef PyObject** items
        cdef Py_ssize_t n = len(outputs)
        for i in range(n):
            v = <Var?>outputs[i]
            if want_extras and v._mark != ep:
                v._mark = -ep  # asked for: never an extra
        self._stack_reserve(n)
        for i in range(n):
            self.stack[i] = <void*>PyList_GET_ITEM(outputs, n - 1 - i)
        sp = n
        while sp:
            sp -= 1
            v = <Var>self.stack[sp]
            if v._mark == ep:
                continue
            if v.owner is None:
                self._leaf(v)
                continue
            owner = <Apply?>v.owner  # checked: `Var.owner` is any object
            inputs = owner.inputs
            if type(inputs) is not tuple:
                inputs = owner.inputs = tuple(inputs)
            n_in = PyTuple_GET_SIZE(inputs)
            items = PySequence_Fast_ITEMS(inputs)
            ready = True
            for i in range(n_in):
                if (<Var>items[i])._mark != ep:
                    if ready:
                        self._stack_reserve(sp + 1 + n_in)
                        self.stack[sp] = <void*>v
                        sp += 1
                        ready = False
                    self.stack[sp] = <void*>items[i]
                    sp += 1
            if not ready:
                continue
            start = w.n
            _reserve(w, 2 + n_in)
            w.p[w.n] = <int64_t><intptr_t><void*>owner.op
            w.p[w.n + 1] = n_in
            for i in range(n_in):
                w.p[w.n + 2 + i] = (<Var>items[i])._num
            w.n += 2 + n_in
            outs = owner.outputs
            if type(outs) is not list and type(outs) is not tuple:
                outs = owner.outputs = list(outs)
            n_out = PySequence_Fast_GET_SIZE(outs)
            k = _find_or_add(&self.sigs, w, start, self.counter)
            if k >= 0:  # the same op on the same values: the same outputs
                w.n = start
            else:
                k = self.counter
                self.counter += n_out
                if self.full:
                    self.steps.append((owner, tuple([(<Var>items[i])._num
                                                     for i in range(n_in)]), k))
                else:
                    self.nodes.append(owner)
            items = PySequence_Fast_ITEMS(outs)
            for i in range(n_out):
                out = <Var>items[i]
                if want_extras and out.nref and out._mark != -ep:
                    extras.append(out)
                out._mark = ep
                out._num = k
                k += 1
        return 0

    cdef bytes _key(self):
        """The key: the words so far, then the outputs' and extras' numbers."""
        cdef Py_ssize_t n0 = self._close()
        key = PyBytes_FromStringAndSize(<char*>self.w.p, self.w.n * 8)
        self.w.n = n0
        return key

    cdef Py_ssize_t _close(self) except -1:
        """Append the outputs' and extras' numbers to the words (``w.p[:w.n]`` is then the
        key's content); returns the count before, to which the caller resets ``w.n``."""
        cdef Words* w = &self.w
        cdef Py_ssize_t n0 = w.n
        cdef Py_ssize_t n_out = len(self.outputs) + (len(self.extras) if self.want_extras else 0)
        _reserve(w, 2 + n_out)
        w.p[w.n] = OUTS
        w.p[w.n + 1] = n_out
        w.n += 2
        for x in self.outputs:
            w.p[w.n] = (<Var>x)._num
            w.n += 1
        if self.want_extras:
            for x in self.extras:
                w.p[w.n] = (<Var>x)._num
                w.n += 1
        return n0

    def out_refs(self):
        """The value numbers of the outputs, then of the extras."""
        refs = [(<Var>x)._num for x in self.outputs]
        if self.want_extras:
            refs += [(<Var>x)._num for x in self.extras]
        return tuple(refs)

    def key(self):
        """The structural key (`bytes`) of what was walked."""
        return self._key()

    def extend(self, list more):
        """Walk on from ``more`` (pending variables not numbered yet) as if they had been
        asked after the first outputs; False (nothing done) when another walk ran since."""
        return bool(self._extend(more))

    cdef int _extend(self, list more) except -1:
        """`extend` (1 done, 0 not), for C callers."""
        if self.ep != _epoch:
            return 0
        self.outputs = self.outputs + more
        self._run(more)
        return 1


#: a realization's walk, emptied by `_recycle` for the next realization's `_start`
cdef Walk _free_walk = None


cdef Walk _start(list outputs, list extras, bint full, bint scalars=False):
    global _epoch, _free_walk
    _epoch += 1
    cdef Walk wk
    if _free_walk is not None and not full:
        wk = _free_walk
        _free_walk = None
        wk.counter = 0
        wk.w.n = 0
        wk.sigs.used = 0
        wk.sigs.gen += 1  # the table's slots are empty for the new generation
    else:
        wk = Walk.__new__(Walk)
        wk.leaves = []
        if full:
            wk.steps = []  # ``nodes`` stays None
        else:
            wk.nodes = []  # ``steps`` stays None
    wk.ep = _epoch
    wk.full = full
    wk.want_extras = extras is not None
    wk.extras = extras
    wk.outputs = list(outputs)
    wk.scalars = [] if scalars else None
    wk._run(outputs)
    return wk


cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject** ob_item
    void Py_SET_SIZE(object, Py_ssize_t)
    void Py_DECREF(PyObject*)


cdef int _empty_list(list l) except -1:
    """Empty ``l`` keeping its item array (``del l[:]`` frees it, and the next appends
    reallocate it). The items are released after the list is empty, from a copy of their
    pointers, so code their release runs (a weakref callback) sees an empty list."""
    cdef Py_ssize_t n = PyList_GET_SIZE(l), i
    cdef PyObject* held[64]
    if n > 64:
        del l[:]
        return 0
    memcpy(held, (<PyListObject*>l).ob_item, n * sizeof(PyObject*))
    Py_SET_SIZE(l, 0)
    for i in range(n):
        Py_DECREF(held[i])
    return 0


cdef int _recycle(Walk wk) except -1:
    """Keep ``wk`` (a realization's walk of `cut_key` kind, which nothing else holds) for
    the next `_start`, emptied: no reference to the graph or its data stays in it."""
    global _free_walk
    if wk.full or _free_walk is not None or Py_REFCNT(wk) != 1 or \
            wk.sigs.cap > SPARE_MAX or wk.w.cap > 8 * SPARE_MAX or wk.stack_cap > SPARE_MAX:
        return 0
    _empty_list(wk.leaves)
    _empty_list(wk.nodes)
    wk.outputs = wk.extras = None
    _free_walk = wk
    return 0


def cut(list outputs, list extras=None):
    """``(leaves, steps, out_refs, key)`` of the graph computing ``outputs`` (see the module
    docstring); held pending variables met on the way are appended to ``extras`` if given."""
    cdef Walk wk = _start(outputs, extras, True)
    return wk.leaves, wk.steps, wk.out_refs(), wk._key()


cpdef tuple family_words(bytes key, list scalars):
    """``(key with the value words of each 0-d constant zeroed, those values)`` (`bytes`
    each): the family key of `graph.scalar_families`. ``scalars``: per constant, ``(leaf
    number, first word, word count)`` in ``key`` (`Walk.scalars`)."""
    cdef Py_ssize_t start, n, size = PyBytes_GET_SIZE(key)
    out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(key), size)
    cdef char* p = PyBytes_AS_STRING(out)  # a new object no one else sees yet
    cdef list values = []
    for item in scalars:
        start = 8 * <Py_ssize_t>(<tuple>item)[1]
        n = 8 * <Py_ssize_t>(<tuple>item)[2]
        if start < 0 or start + n > size:
            raise ValueError("a constant's words lie outside the key")
        values.append(PyBytes_FromStringAndSize(PyBytes_AS_STRING(key) + start, n))
        memset(p + start, 0, n)
    return out, tuple(values)


def cut_scalars(list outputs, list extras=None):
    """`cut`'s ``(leaves, steps, out_refs, key)`` and ``scalars``: per 0-d small constant
    leaf (in leaf order), ``(leaf number, first word, word count)`` of its value in the key's
    words (materialization's miss path finds there the programs that differ only in them)."""
    cdef Walk wk = _start(outputs, extras, True, True)
    return wk.leaves, wk.steps, wk.out_refs(), wk._key(), wk.scalars


def cut_key(list outputs, list extras=None):
    """``(leaves, key, nodes)``: `cut`'s leaves and key (the same walk, so the same key), and
    the distinct applies in topological order instead of steps."""
    cdef Walk wk = _start(outputs, extras, False)
    return wk.leaves, wk._key(), wk.nodes


def walk(list outputs, list extras=None, bint scalars=False):
    """The `Walk` of `cut_key` (``leaves``, ``nodes``, ``key()``, ``extend(more)``), and its
    ``scalars`` (as `cut_scalars`'s) when asked, else None."""
    return _start(outputs, extras, False, scalars)


#: `meets_last_cut` memoizes a variable's answer in its ``_mark`` as ``_MEMO + 8 * call + answer``
#: (a range no walk epoch reaches, so a walk's marks are never mistaken for it); a variable of
#: the latest walk keeps that walk's mark
cdef Py_ssize_t _MEMO = (<Py_ssize_t>1) << 60
cdef Py_ssize_t _meet_calls = 0
cdef enum:
    MISS = 0      # does not depend on a node of the latest walk
    MEETS = 1
    SYMBOLIC = 2  # depends on a symbolic input
    TAKEN = 3     # meets, and is in the answer already
    UNKNOWN = 4


cdef inline int _state(Var v, Py_ssize_t ep, Py_ssize_t base) noexcept:
    cdef int s
    if v.owner is None:  # a leaf (of the walk or not) is not a node of it
        return SYMBOLIC if v.data is None else MISS
    if v._mark == ep:
        return MEETS
    if base <= v._mark < base + UNKNOWN:
        s = <int>(v._mark - base)
        return MEETS if s == TAKEN else s
    return UNKNOWN


def meets_last_cut(list candidates, Py_ssize_t budget):
    """Those of the pending ``candidates`` that depend on a node of the latest walk (whose
    marks are still on its variables), in order; one that is itself a value of that walk is
    skipped, so is one that depends on a symbolic input, and a repeat. The walks stop after
    ``budget`` visits in all (the candidates not reached yet are left out)."""
    return _meets(candidates, budget)


cdef list _meets(list candidates, Py_ssize_t budget):
    """`meets_last_cut`."""
    global _meet_calls
    cdef Py_ssize_t ep = _epoch, base, sp, cap = 64, i, n_in
    cdef list more = []
    cdef Var v, target
    cdef object inputs
    cdef PyObject** items
    cdef bint ready
    cdef int r, s
    _meet_calls += 1
    base = _MEMO + 8 * _meet_calls
    # a stack of borrowed pointers: ``candidates`` hold their graphs, which are not changed
    cdef void** stack = <void**>PyMem_Malloc(cap * sizeof(void*))
    cdef void** grown
    if stack == NULL:
        raise MemoryError()
    try:
        for x in candidates:
            target = <Var?>x
            if target._mark == ep or target._mark == base + TAKEN:
                continue  # a value of the walk, or a repeat
            stack[0] = <void*>target
            sp = 1
            while sp:
                budget -= 1
                if budget < 0:
                    return more
                v = <Var>stack[sp - 1]
                if _state(v, ep, base) != UNKNOWN:
                    sp -= 1
                    continue
                inputs = (<Apply?>v.owner).inputs
                if type(inputs) is not tuple:
                    inputs = (<Apply?>v.owner).inputs = tuple(inputs)
                n_in = PyTuple_GET_SIZE(inputs)
                items = PySequence_Fast_ITEMS(inputs)
                if sp + n_in > cap:
                    while sp + n_in > cap:
                        cap *= 2
                    grown = <void**>PyMem_Realloc(stack, cap * sizeof(void*))
                    if grown == NULL:
                        raise MemoryError()
                    stack = grown
                ready = True
                for i in range(n_in):
                    if _state(<Var>items[i], ep, base) == UNKNOWN:
                        stack[sp] = <void*>items[i]
                        sp += 1
                        ready = False
                if not ready:
                    continue
                sp -= 1
                r = MISS
                for i in range(n_in):
                    s = _state(<Var>items[i], ep, base)
                    if s == SYMBOLIC:
                        r = SYMBOLIC
                        break
                    if s == MEETS:
                        r = MEETS
                v._mark = base + r
            if _state(target, ep, base) == MEETS:
                more.append(target)
                target._mark = base + TAKEN
        return more
    finally:
        PyMem_Free(stack)


def release_cut(list nodes):
    """Free the graph of a realized cut without the cyclic garbage collector: a pending `Var`
    and its `Apply` refer to each other, so the nodes above realized values (now leaves) were
    freed only by a collection, and an eager loop's steps triggered one every few steps.

    ``nodes`` are the cut's applies (`cut_key`), called after write-back. Their pending outputs
    and they themselves are counted like the collector does: references from the cut's own
    ``inputs`` tuples, ``outputs`` lists and ``owner`` fields are internal; anything with more
    references is held from outside (a user's array, a pending graph beyond the cut, a
    gradient tape, a caller's local), and so is everything it reaches inside the cut. The
    applies nothing outside reaches have their ``inputs`` and ``outputs`` cleared: reference
    counting frees them and their variables at once."""
    _release(nodes)


cdef int _kept(list nodes, char* keep, list written) except -1:
    """``keep[i]`` (``len(nodes)`` flags): whether apply ``i`` of a cut outlives it, being held
    from outside or reached from one that is (see `release_cut`; borrowed references
    throughout: ``nodes`` holds the applies, which hold their tuples and variables).
    ``written``: pending variables about to become leaves (None: already leaves), whose
    holders keep no apply: they are not counted as members of the cut."""
    cdef Py_ssize_t n = len(nodes), i, j, k, m, sp
    cdef PyObject* a
    cdef PyObject** items
    cdef Var o
    cdef object lst, tup
    cdef bint own
    cdef Py_ssize_t small_stack[64]
    cdef Py_ssize_t* stack = small_stack
    global _epoch
    if n == 0:
        return 0
    if n > 64:
        stack = <Py_ssize_t*>PyMem_Malloc(n * sizeof(Py_ssize_t))
        if stack == NULL:
            raise MemoryError()
    memset(keep, 0, n)
    _epoch += 1
    cdef Py_ssize_t ep = _epoch
    try:
        # members: the pending outputs of the cut's applies, marked with this epoch; _num
        # counts their references from inside (the producer's outputs list, the readers'
        # inputs tuples)
        for i in range(n):
            a = PyList_GET_ITEM(nodes, i)
            lst = (<Apply>a).outputs
            own = (type(lst) is list or type(lst) is tuple) and Py_REFCNT(lst) == 2
            if type(lst) is not list and type(lst) is not tuple:
                keep[i] = 1  # an unusual container: leave this apply alone
                continue
            m = PySequence_Fast_GET_SIZE(lst)
            items = PySequence_Fast_ITEMS(lst)
            k = 0
            for j in range(m):
                o = <Var>items[j]
                if o.owner is <object>a:
                    o._mark = ep
                    o._num = 1 if own else 0
                    k += 1
            # a's references: the nodes list and its members' owner fields
            if (<PyObject*>a).ob_refcnt - 1 - k > 0:
                keep[i] = 1
        if written is not None:
            for x in written:
                if (<Var>x)._mark == ep:
                    (<Var>x)._mark = 0  # a leaf once written back: its readers reach no apply
            x = None
        for i in range(n):
            tup = (<Apply>PyList_GET_ITEM(nodes, i)).inputs
            if type(tup) is tuple and Py_REFCNT(tup) == 2:  # a's field and `tup`
                m = PyTuple_GET_SIZE(tup)
                items = PySequence_Fast_ITEMS(tup)
                for j in range(m):
                    o = <Var>items[j]
                    if o._mark == ep:
                        o._num += 1
        o = None  # holds no reference while counts are read
        # roots: applies and members referenced from outside; then each member's _num becomes
        # its producer's position, to walk up from the roots (a graph is reached only upwards)
        sp = 0
        for i in range(n):
            lst = (<Apply>PyList_GET_ITEM(nodes, i)).outputs
            if type(lst) is list or type(lst) is tuple:
                m = PySequence_Fast_GET_SIZE(lst)
                items = PySequence_Fast_ITEMS(lst)
                for j in range(m):
                    if (<Var>items[j])._mark == ep:
                        # more references than the internal ones: held from outside
                        if items[j].ob_refcnt > (<Var>items[j])._num:
                            keep[i] = 1
                        (<Var>items[j])._num = i
            if keep[i]:
                stack[sp] = i
                sp += 1
        o = None
        while sp:
            sp -= 1
            i = stack[sp]
            tup = (<Apply>PyList_GET_ITEM(nodes, i)).inputs
            if type(tup) is not tuple:
                continue
            m = PyTuple_GET_SIZE(tup)
            items = PySequence_Fast_ITEMS(tup)
            for j in range(m):
                o = <Var>items[j]
                if o._mark == ep and not keep[o._num]:
                    keep[o._num] = 1  # kept, and pushed once: the stack needs n slots
                    stack[sp] = o._num
                    sp += 1
    finally:
        if stack != small_stack:
            PyMem_Free(stack)
    return 0


cdef int _release(list nodes) except -1:
    """`release_cut`."""
    cdef Py_ssize_t n = len(nodes), i
    cdef PyObject* a
    cdef char small_keep[64]
    cdef char* keep = small_keep
    if n == 0:
        return 0
    if n > 64:
        keep = <char*>PyMem_Malloc(n)
        if keep == NULL:
            raise MemoryError()
    try:
        _kept(nodes, keep, None)
        for i in range(n):
            if not keep[i]:
                a = PyList_GET_ITEM(nodes, i)
                (<Apply>a).inputs = _no_values
                (<Apply>a).outputs = _no_values
    finally:
        if keep != small_keep:
            PyMem_Free(keep)
    return 0


def toposort(outputs) -> list:
    """The applies needed for ``outputs`` (an iterable of `Var`), each after the applies that
    compute its inputs (`graph.toposort`; every pass of a compilation asks for it)."""
    cdef list order = []
    cdef set done = set()
    cdef list stack = []  # (apply, the input to look at next), flattened
    cdef Apply node
    cdef object ins, owner
    cdef Py_ssize_t i, n
    for out in outputs:
        owner = (<Var?>out).owner
        if owner is None or owner in done:
            continue
        stack.append(owner)
        stack.append(0)
        while stack:
            i = stack.pop()
            node = <Apply?>stack.pop()  # checked: `Var.owner` is any object
            if node in done:
                continue
            ins = node.inputs
            n = len(ins)
            while i < n:
                owner = (<Var?>ins[i]).owner
                if owner is None or owner in done:
                    i += 1
                else:
                    break
            if i == n:
                done.add(node)
                order.append(node)
            else:
                stack.append(node)
                stack.append(i + 1)
                stack.append(owner)
                stack.append(0)
    return order


def clone_cut(leaves, steps, out_refs, lift, Py_ssize_t small_const) -> tuple:
    """``(inputs, outputs)`` of `FunctionGraph.from_cut` (which documents it): the cut cloned
    into fresh variables, leaves of at most ``small_const`` elements baked as constants unless
    numbered in ``lift``, macro ops expanded. In C: every trace-cache miss clones its cut."""
    cdef Py_ssize_t n = len(leaves), k, i, first, nout
    cdef Apply node, new
    cdef Var leaf, v, o
    cdef tuple step
    leaves = list(leaves)
    steps = list(steps)
    for step in steps:
        n += len((<Apply?>step[0]).outputs)
    cdef list values = [None] * n
    cdef bytearray taken = bytearray(n)
    for step in steps:
        first = step[2]
        for k in range(len((<Apply?>step[0]).outputs)):
            taken[first + k] = 1
    cdef list inputs = []
    cdef Py_ssize_t slot = 0
    for i in range(len(leaves)):
        while taken[slot]:
            slot += 1
        leaf = <Var?>leaves[i]
        d = leaf.data
        if leaf.const and d is not None and d.size <= small_const and i not in lift:
            values[slot] = Var(leaf.dtype, leaf.shape, None, 0, d, True, leaf.name)
        else:
            v = Var(leaf.dtype, leaf.shape, None, 0, None, False, leaf.name)
            values[slot] = v
            inputs.append(v)
        slot += 1
    cdef list ins, outs
    for step in steps:
        node = <Apply?>step[0]
        first = step[2]
        ins = [values[r] for r in step[1]]
        op = node.op
        if op.macro:
            outs = list(op.expand(ins))
            values[first:first + len(outs)] = outs
            continue
        new = Apply(op, ins, None)
        new._code, new._lasti, new._site = node._code, node._lasti, node._site
        nout = len(node.outputs)
        outs = [None] * nout
        for k in range(nout):
            o = <Var?>node.outputs[k]
            outs[k] = Var(o.dtype, o.shape, new, o.index)
        new.outputs = outs
        values[first:first + nout] = outs
    return inputs, [values[r] for r in out_refs]
