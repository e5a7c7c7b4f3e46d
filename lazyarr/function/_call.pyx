# cython: language_level=3, boundscheck=False, wraparound=False
"""The hot path of a compiled function's call, in C: check the argument leaves, hand donated
buffers to the program, run it, wrap the results; and ``.loop(n)``'s step loop (Theano's
``n_calls``) with no Python code between steps.

Everything here works on a `function.program.Program`'s attributes; the rules (which buffer is
donated, what a caller may keep) are the ones `Program` documents.
"""

cimport numpy as cnp
from cpython.ref cimport Py_REFCNT

from ..array._memory cimport frozen, overlaps
from libc.string cimport memcpy

import numpy as np

from ..array.array_object import Array
from ..array.materialize import ConcretizationError, realize
from ..exec_cpu import ahead as _ahead
from ..exec_cpu import fpstate as _fpstate
from ..exec_cpu.fpstate import enter as _fp_enter, leave as _fp_leave
from ..graph.basic import Var
from ..graph.pipeline import note_shared as _note_shared

cnp.import_array()

cdef extern from *:
    """
    static inline void la_set_data_call(PyArrayObject *a, char *p) {
        ((PyArrayObject_fields *)a)->data = p;
    }
    """
    void la_set_data "la_set_data_call" (cnp.ndarray a, char *p)


class TrustedArgsError(Exception):
    """Arguments of a ``trust_input`` call that the program cannot take: ``args[0]`` is
    ``"structure"`` (not arrays in the previous call's structure) or ``"shape"``
    (``args[1]``: ``(shape given, shape taken)``)."""


cdef inline object _new_array(object data):
    """A user-facing Array on a new realized leaf holding ``data`` (`coerce.wrap(Var.leaf(d))`
    without the Python calls)."""
    v = Var.__new__(Var)
    v.dtype = data.dtype
    v.shape = data.shape
    v.owner = None
    v.index = 0
    v.data = data
    v.const = False
    v.name = None
    v.depth = 0
    v.nref = 1
    a = Array.__new__(Array)
    a._v = v
    return a


cdef inline object _leaf_data(object x, object dtype):
    """The NumPy data of leaf ``x`` (a realized Array or a NumPy array) when its dtype is
    ``dtype``, else None."""
    cdef object v, d, dt
    if type(x) is cnp.ndarray:
        d = x
    elif type(x) is Array:
        v = x._v
        if v.owner is not None:
            return None
        d = v.data
        if type(d) is not cnp.ndarray:
            return None
    else:
        return None
    dt = d.dtype
    if dt is not dtype and dt != dtype:
        return None
    return d


def check(list objs, list dtypes, list shapes):
    """The data of ``objs`` (realized Arrays or NumPy arrays) when they have exactly ``dtypes``
    and ``shapes`` (one per leaf), else None."""
    cdef Py_ssize_t k, n = len(objs)
    cdef list data = [None] * n
    cdef object d
    for k in range(n):
        d = _leaf_data(objs[k], dtypes[k])
        if d is None or d.shape != shapes[k]:
            return None
        data[k] = d
    return data


def check_loop(list objs, list dtypes, list shapes, frozenset stacked, Py_ssize_t n):
    """`check` for ``.loop(n)``: leaves at positions ``stacked`` are stacked arguments, whose
    shape is ``(m, *shapes[k])`` with ``m >= n``; None when any leaf does not fit."""
    cdef Py_ssize_t k, nl = len(objs)
    cdef list data = [None] * nl
    cdef object d
    cdef tuple sh
    for k in range(nl):
        d = _leaf_data(objs[k], dtypes[k])
        if d is None:
            return None
        sh = d.shape
        if k in stacked:
            if len(sh) == 0 or sh[0] < n or sh[1:] != shapes[k]:
                return None
        elif sh != shapes[k]:
            return None
        data[k] = d
    return data


def trusted_data(list objs, list shapes, list pending):
    """The data of ``objs`` for a ``trust_input`` call: raises TypeError for an object that is
    not an Array or NumPy array, ValueError (message: ``(got, expected)``) for a shape other
    than ``shapes``. The variables of Arrays not computed yet go to ``pending`` (then the
    data is not complete: compute them and call again)."""
    cdef Py_ssize_t k, n = len(objs)
    cdef list data = [None] * n
    cdef object x, d, v
    for k in range(n):
        x = objs[k]
        if type(x) is cnp.ndarray:
            d = x
        else:
            v = x._v
            d = v.data
            if d is None and v.owner is not None:
                pending.append(v)
                continue
        if type(d) is not cnp.ndarray:
            raise TypeError("not a realized array")
        if d.shape != shapes[k]:
            raise ValueError((d.shape, shapes[k]))
        data[k] = d
    return data


cdef inline int _copy_into(cnp.ndarray dst, object src) except -1:
    """``dst[...] = src`` (``memcpy`` when both are C-contiguous arrays of one dtype)."""
    if (type(src) is cnp.ndarray and cnp.PyArray_ISCARRAY_RO(<cnp.ndarray>src)
            and cnp.PyArray_TYPE(<cnp.ndarray>src) == cnp.PyArray_TYPE(dst)
            and cnp.PyArray_NBYTES(<cnp.ndarray>src) == cnp.PyArray_NBYTES(dst)
            and cnp.PyArray_ISCARRAY(dst)):
        memcpy(cnp.PyArray_DATA(dst), cnp.PyArray_DATA(<cnp.ndarray>src),
               cnp.PyArray_NBYTES(dst))
    else:
        np.copyto(dst, src)
    return 0


cdef list _commit(object res, list res_j, list bufs):
    """Write each donated result ``res[res_j[q]]`` into its buffer ``bufs[q]`` (unless the
    program wrote it there in place); returns the results as a list holding the buffers in
    those places. A result that shares memory with a buffer about to be written (a donated
    input returned as it is, a view of it, another donated input's buffer) is copied first,
    so that it keeps the value it had when the program returned."""
    cdef list out = res if type(res) is list else list(res)
    cdef Py_ssize_t q, j, npairs = len(bufs)
    cdef list written = None
    for q in range(npairs):
        if out[<Py_ssize_t>res_j[q]] is not bufs[q]:
            if written is None:
                written = []
            written.append(bufs[q])
    if written is None:
        return out
    for j in range(len(out)):
        r = out[j]
        if type(r) is cnp.ndarray:
            for w in written:
                if overlaps(<cnp.ndarray>r, <cnp.ndarray>w):
                    out[j] = r.copy()
                    break
    for q in range(npairs):
        j = <Py_ssize_t>res_j[q]
        if out[j] is not bufs[q]:
            _copy_into(<cnp.ndarray>bufs[q], out[j])
            out[j] = bufs[q]
    return out


cdef object _private(object r, dict bufs, list data, list res, Py_ssize_t j):
    """A result the caller may keep (``res[j]``): read-only, never a donated buffer or a view
    of one (the next call writes there), never sharing memory with an argument its owner can
    still write (a copy instead: the value must not follow the caller's writes, as in eager
    code). One that is an argument's read-only data or an earlier result is noted as shared
    (`pipeline.note_shared`), so that DLPack exports it as a copy."""
    cdef Py_ssize_t k
    if not isinstance(r, cnp.ndarray):
        r = np.asarray(r)
    for bv in bufs.values():
        if r is (<tuple>bv)[0] or overlaps(<cnp.ndarray>r, <cnp.ndarray>(<tuple>bv)[0]):
            return r.copy()
    if cnp.PyArray_ISWRITEABLE(<cnp.ndarray>r) or cnp.PyArray_BASE(<cnp.ndarray>r) != NULL:
        for a in data:
            if (type(a) is cnp.ndarray and not frozen(<cnp.ndarray>a)
                    and overlaps(<cnp.ndarray>r, <cnp.ndarray>a)):
                r = r.copy()
                break
        cnp.PyArray_CLEARFLAGS(<cnp.ndarray>r, cnp.NPY_ARRAY_WRITEABLE)
        return r
    for a in data:
        if a is r:
            _note_shared(r)
            return r
    for k in range(j):
        if res[k] is r:
            _note_shared(r)
            break
    return r


cdef bint _viewed(tuple bv):
    """Whether arrays besides the runner's own read-only view look into buffer ``bv[0]`` (a
    realized view of a result handed out, such as ``p[1:]``): it must keep its values."""
    b = bv[0]
    return Py_REFCNT(b) > 3  # the pair, the view's base and this function's reference


cdef bint _view_held(object d, object o):
    """Whether the runner's read-only view ``d`` (a donated argument's data) has holders
    besides the buffer pair, the call's data list, the caller's local and the donated Array
    ``o``'s variable: a NumPy handle (``np.asarray(w)``), a realized identity view of the Array
    (``w[:]``, a same-shape reshape), or another argument of this call (``f(w, w)``)."""
    cdef Py_ssize_t mine = 3
    if o is not None and isinstance(o, Array) and o._v.data is d:
        mine += 1
    return Py_REFCNT(d) > mine


cdef bint _read_elsewhere(object o):
    """Whether Array ``o``'s variable has holders besides ``o``: the nodes of unrealized
    expressions built from it, or other Arrays over it (``reshape(w, w.shape)``,
    ``astype(w, w.dtype)`` return one) (a NumPy argument has none)."""
    if not isinstance(o, Array):
        return False
    v = o._v
    return v.nref > 1 or Py_REFCNT(v) - 1 > v.nref  # minus this function's own reference


cdef class Runner:
    """The call state of one `Program`, read from C: its linked program, argument dtypes and
    shapes, donated pairs and buffers, extra inputs and output structure."""
    cdef object vm, match, flatten_in, unflatten_out, extras, _last, _carried_key
    cdef list _carried
    cdef int _any_carried  # -1: not known yet
    cdef list dtypes, shapes, types, pairs, res_j
    cdef dict bufs
    cdef Py_ssize_t n_out

    def __init__(self, prog):
        self.vm = prog.vm
        self.match = prog.match
        self.flatten_in = prog.flatten_in
        self.unflatten_out = prog.unflatten_out
        self.extras = prog.extras_data or None
        self.dtypes = list(prog.dtypes)
        self.shapes = list(prog.shapes)
        self.types = list(prog.input_types)
        self.pairs = list(prog.donated_pairs)
        self.res_j = [j for j, p in self.pairs]
        self.bufs = prog.bufs
        self.n_out = prog.n_out
        self._any_carried = -1

    def set_match(self, match):
        """Use ``match(args) -> array leaves or None`` for `call`."""
        self.match = match

    cdef list _take_donated(self, list data, list objs):
        """Swap each donated argument in ``data`` for its writable buffer (a copy made on first
        use, or when another array still reads the argument's buffer: a realized view of it, a
        NumPy handle, another argument of this call, an unrealized expression of ``objs``'
        leaf); returns the ``(buffer, read-only view)``
        pairs in ``pairs`` order."""
        cdef list donated = []
        cdef dict bufs = self.bufs
        cdef Py_ssize_t j, p
        for j, p in self.pairs:
            d = data[p]
            bv = bufs.get(j)
            o = objs[p] if objs is not None else None
            if (bv is None or d is not (<tuple>bv)[1] or _viewed(<tuple>bv)
                    or _view_held(d, o) or _read_elsewhere(o)):
                buf = np.array(d, dtype=self.types[p][0], order="C", copy=True)
                view = buf.view()
                view.flags.writeable = False
                bv = bufs[j] = (buf, view)
            data[p] = (<tuple>bv)[0]
            donated.append(bv)
        return donated

    cdef object _finish(self, res, list donated, list objs, list data):
        """The output pytree of Arrays: donated outputs copied into their buffers (unless
        written there in place) and handed out as the buffers' read-only views."""
        cdef Py_ssize_t n_out = self.n_out, k = 0, j, p
        cdef list outs = [None] * n_out
        cdef tuple bv
        if donated:
            res = _commit(res, self.res_j, [(<tuple>bv)[0] for bv in donated])
        elif type(res) is not list:
            res = list(res)
        for j, p in self.pairs:
            bv = <tuple>donated[k]
            k += 1
            view = bv[1]
            res[j] = None
            o = objs[p] if objs is not None else None
            if o is not None and type(o) is not cnp.ndarray and o._v.data is view:
                outs[j] = o  # the donated Array already holds its new value
            else:
                outs[j] = _new_array(view)
        for j in range(n_out):
            if outs[j] is None:
                outs[j] = _new_array(_private(res[j], self.bufs, data, res, j))
        return self.unflatten_out(outs)

    def run(self, list data, list objs):
        """One call on the flat argument data; ``objs``: the argument leaves (to hand donated
        Arrays back) or None. Returns the output pytree of Arrays."""
        cdef list donated = self._take_donated(data, objs) if self.pairs else []
        if self.extras is not None:
            data = data + self.extras
        return self._finish(self.vm(data), donated, objs, data)

    def call(self, tuple args):
        """`run` on ``args`` when they have this program's structure, constants, dtypes and
        shapes; else the `Runner` class itself (a miss)."""
        objs = self.match(args)
        if objs is None:
            return Runner
        data = check(objs, self.dtypes, self.shapes)
        if data is None:
            return Runner
        return self.run(data, objs)

    def call_trusted(self, tuple args):
        """`run` on ``args`` assumed to have this program's structure; arguments that are not
        raise `TrustedArgsError` (errors of the program itself pass through)."""
        cdef list pending = []
        objs = self._trusted_leaves(args)
        data = self._trusted_data(objs, pending)
        if pending:  # Arrays not computed yet: computed together, as a checked call does
            try:
                realize(pending)
            except ConcretizationError:  # built from an enclosing trace's input
                raise TrustedArgsError("structure", None) from None
            pending = []
            data = self._trusted_data(objs, pending)
        return self.run(data, objs)

    cdef object _trusted_leaves(self, tuple args):
        """The array leaves of ``args`` in the previous call's structure."""
        try:
            return self.flatten_in(args)
        except (AttributeError, IndexError, KeyError, TypeError):
            raise TrustedArgsError("structure", None) from None

    cdef list _trusted_data(self, list objs, list pending):
        """`trusted_data` with its errors as `TrustedArgsError`."""
        try:
            return trusted_data(objs, self.shapes, pending)
        except ValueError as e:
            raise TrustedArgsError("shape", e.args[0]) from None
        except (AttributeError, TypeError):
            raise TrustedArgsError("structure", None) from None

    def loop(self, Py_ssize_t n, list data, list objs, list stacked, bint exact=False):
        """``n`` calls with no Python code between them: call ``i`` reads slice ``i`` of the
        stacked arguments (``stacked``: their positions in ``data``, each holding an array with
        at least ``n`` slices along axis 0); each donated argument takes the output it is
        matched with. Returns the outputs of the last call. ``exact``: no deferred weight
        updates (`exec_cpu.ahead`), each step's values those of a call, bit for bit."""
        cdef Py_ssize_t ns = len(stacked), i, s, q
        cdef list stacks = [data[stacked[s]] for s in range(ns)]
        cdef list pos = list(stacked)
        # per stacked argument, one window array whose data pointer moves from slice to slice
        # (no new view per step), where every slice is aligned like the first
        cdef list win = [None] * ns
        cdef cnp.ndarray a
        for s in range(ns):
            data[<Py_ssize_t>pos[s]] = stacks[s][0]
            x = stacks[s]
            if (type(x) is cnp.ndarray and cnp.PyArray_NDIM(<cnp.ndarray>x) >= 1
                    and cnp.PyArray_DIM(<cnp.ndarray>x, 0) > 0
                    and cnp.PyArray_ISALIGNED(<cnp.ndarray>x)
                    and cnp.PyArray_STRIDE(<cnp.ndarray>x, 0)
                    % cnp.PyArray_ITEMSIZE(<cnp.ndarray>x) == 0):
                win[s] = (<cnp.ndarray>x)[0, ...]
        cdef list donated = self._take_donated(data, objs)
        if self.extras is not None:
            data = data + self.extras
        cdef Py_ssize_t npairs = len(self.pairs)
        cdef list res_j = [self.pairs[q][0] for q in range(npairs)]
        cdef list bufs = [(<tuple>donated[q])[0] for q in range(npairs)]
        # carried weights read less often (`exec_cpu/ahead`): updates deferred over blocks of
        # steps, or (exact) computing the next step's row product
        cdef list feeds = [], defers = []
        if n > 1 and self._maybe_carried():
            for u, f, s, deferrable in self._carried_weights(pos, win):
                rows = None if exact or not deferrable else _ahead.deferrable_rows(stacks[s])
                if rows is not None:
                    defers.append(_ahead.Deferred(f, u, rows, stacks[s].shape[1], n))
                elif _ahead.row_window(win[s]):
                    feeds.append((u, f, s))
        for u, f, s in feeds:
            u.feed(f)
        for d in defers:
            d.attach()
        # warnings off once for all steps: each program call then finds them off and skips
        # its own switch (~0.8 us per call)
        cv = _fpstate._cv  # NumPy's error-state variable, set from C (~0.5 us less a call)
        token = _fp_enter() if cv is None else cv.set(_fpstate._IGNORE)
        try:
            self._steps(n, data, stacks, pos, win, res_j, bufs, feeds, defers)
        finally:
            try:
                for d in defers:
                    d.detach()
            finally:
                if cv is None:
                    _fp_leave(token)
                else:
                    cv.reset(token)
                for u, f, s in feeds:
                    u.feed(None)
        res = self._last
        self._last = None
        return self._finish(res, donated, objs, data)

    cdef bint _maybe_carried(self):
        """Whether the program has a large carried weight whose product reads an input at
        all (else no loop of it plans anything: logreg's 784 x 10 W)."""
        if self._any_carried < 0:
            vm = self.vm
            n_in = getattr(vm, "n_in", 0)
            self._any_carried = any(_ahead.large(f) for u, f, s in _ahead.feeds(
                vm, self.pairs, {p: 0 for p in range(n_in)}))
        return self._any_carried > 0

    cdef list _carried_weights(self, list pos, list win):
        """``(update, product, s, deferrable)`` of the program's large carried weights whose
        product reads stacked argument ``s`` (`exec_cpu.ahead`), for these stacked positions
        and windows; planned once per layout (fig1's loops are 32 steps a call)."""
        key = (tuple(pos), tuple([w is not None for w in win]))
        if key != self._carried_key:
            self._carried = [
                (u, f, s, _ahead.exclusive(self.vm, u, f)
                 and _ahead.worth_deferring(self.vm, u, f))
                for u, f, s in _ahead.feeds(self.vm, self.pairs, {
                    pos[s]: s for s in range(len(pos)) if win[s] is not None})
                if _ahead.large(f)]
            self._carried_key = key
        return self._carried

    cdef int _steps(self, Py_ssize_t n, list data, list stacks, list pos, list win, list res_j,
                    list bufs, list feeds, list defers) except -1:
        """`loop`'s steps; the last call's outputs are left in ``self._last``. ``feeds``:
        ``(update, product, s)`` of `exec_cpu.ahead.feeds`, told each step where the next
        step's row of stacked argument ``s`` lies; ``defers``: `Deferred` told each step's
        index."""
        cdef Py_ssize_t ns = len(stacks), npairs = len(bufs), nf = len(feeds), i, s, q
        cdef Py_ssize_t nd = len(defers)
        cdef cnp.ndarray a
        cdef object res = None, w
        cdef tuple fd
        vm = self.vm
        self._last = None
        for i in range(n):
            for q in range(nf):
                fd = <tuple>feeds[q]
                if i + 1 < n:
                    a = <cnp.ndarray>stacks[<Py_ssize_t>fd[2]]
                    w = win[<Py_ssize_t>fd[2]]
                    fd[0].set_next(
                        <size_t>(cnp.PyArray_BYTES(a) + (i + 1) * cnp.PyArray_STRIDE(a, 0)),
                        cnp.PyArray_STRIDE(<cnp.ndarray>w, 1) // 4)
                else:
                    fd[0].set_next(0, 0)
            for q in range(nd):
                defers[q].at(i)
            for s in range(ns):
                w = win[s]
                if w is None:
                    data[<Py_ssize_t>pos[s]] = stacks[s][i]
                else:
                    a = <cnp.ndarray>stacks[s]
                    la_set_data(<cnp.ndarray>w,
                                cnp.PyArray_BYTES(a) + i * cnp.PyArray_STRIDE(a, 0))
                    data[<Py_ssize_t>pos[s]] = w
            res = None  # a thunk may take back an output buffer nobody holds any more
            res = _commit(vm(data), res_j, bufs)
        self._last = res
        return 0
