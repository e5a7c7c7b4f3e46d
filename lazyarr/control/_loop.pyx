# cython: language_level=3, boundscheck=False, wraparound=False
"""The step loop of `Scan` in C: one call of the body's compiled program per step and no
Python code between steps.

Step ``t`` reads row ``t`` of each sequence and writes its stacked outputs into row ``t`` of
arrays allocated before the loop. Rows are *windows*: one array object per sequence (two per
stacked output) whose data pointer moves from row to row, instead of a new view per step. A
program with ``call_into`` (the native linear VM) computes stacked outputs straight into their
window; anything else is copied there (``memcpy`` when both sides are contiguous). A window
never outlives its step: a carry that is a sequence window is copied, a stacked output's two
windows alternate (the carry read at step ``t + 1`` is the row written at step ``t``) and a
window still held as a carry is replaced rather than moved.

A body may also come compiled with its carries donated (``dprog``: the linker may write a new
carry into the old one's buffer). It runs on the steps whose donated carries are all buffers
the loop alone holds: arrays owning their memory that only the loop's lists reference (made by
the previous step, not the caller's initial value, a constant, a window or a buffer a thunk
keeps, and not returned twice).
"""

cimport numpy as cnp
from cpython.exc cimport PyErr_CheckSignals
from libc.string cimport memcpy

import numpy as np

cnp.import_array()

cdef enum:
    # Steps between checks for a pending signal (Ctrl-C), a power of two: a compiled body
    # never returns to the interpreter, which is otherwise what runs Python's signal handlers.
    SIGNAL_CHECK_STEPS = 1024

cdef extern from *:
    """
    static inline void la_set_data(PyArrayObject *a, char *p) {
        ((PyArrayObject_fields *)a)->data = p;
    }
    /* a[0]: a view of a's first row (its dtype, writeable flag and memory; a is its base) */
    static PyObject *la_row_view(PyArrayObject *a) {
        PyArray_Descr *d = PyArray_DESCR(a);
        Py_INCREF(d);
        PyObject *v = PyArray_NewFromDescr(&PyArray_Type, d, PyArray_NDIM(a) - 1,
                                           PyArray_DIMS(a) + 1, PyArray_STRIDES(a) + 1,
                                           PyArray_BYTES(a),
                                           PyArray_FLAGS(a) & NPY_ARRAY_WRITEABLE, NULL);
        if (v == NULL) return NULL;
        Py_INCREF(a);
        if (PyArray_SetBaseObject((PyArrayObject *)v, (PyObject *)a) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        return v;
    }
    """
    void la_set_data(cnp.ndarray a, char *p)
    object la_row_view(cnp.ndarray a)
    Py_ssize_t Py_REFCNT(object o)


cdef inline int _put(cnp.ndarray dst, Py_ssize_t t, object value) except -1:
    """``dst[t] = value`` (``t < 0``: ``dst[...] = value``)."""
    cdef cnp.ndarray src
    cdef Py_ssize_t nbytes
    if type(value) is cnp.ndarray:
        src = <cnp.ndarray>value
        nbytes = cnp.PyArray_NBYTES(src)
        if (cnp.PyArray_ISCARRAY_RO(src) and cnp.PyArray_ISCARRAY(dst)
                and cnp.PyArray_TYPE(src) == cnp.PyArray_TYPE(dst)
                and nbytes * (1 if t < 0 else cnp.PyArray_DIM(dst, 0)) == cnp.PyArray_NBYTES(dst)):
            memcpy(cnp.PyArray_BYTES(dst) + (0 if t < 0 else t * nbytes),
                   cnp.PyArray_DATA(src), nbytes)
            return 0
    if t < 0:
        dst[...] = value
    else:
        dst[t] = value
    return 0


cdef inline bint _movable(cnp.ndarray a):
    """Rows of ``a`` can share one window: every row aligned like the first."""
    return (cnp.PyArray_NDIM(a) >= 1 and cnp.PyArray_DIM(a, 0) > 0 and cnp.PyArray_ISALIGNED(a)
            and cnp.PyArray_STRIDE(a, 0) % cnp.PyArray_ITEMSIZE(a) == 0)


cdef inline bint _owned(object o, Py_ssize_t refs):
    """``o`` is a writable C-contiguous array owning its memory, referenced ``refs`` times."""
    return (type(o) is cnp.ndarray and cnp.PyArray_BASE(<cnp.ndarray>o) == NULL
            and cnp.PyArray_ISCARRAY(<cnp.ndarray>o) and Py_REFCNT(o) == refs)


cdef inline bint _held(object w, list cur):
    cdef object c
    for c in cur:
        if c is w:
            return True
    return False


def run_scan(object prog, list carry, list xs, list consts, list ys, tuple last,
             Py_ssize_t n, bint reverse, object dprog=None, tuple donated=()):
    """Run ``n`` steps of ``carry, y = prog(carry + x_t + consts)``.

    ``ys``: preallocated arrays, stacked ``(n, ...)`` or, where ``last[k]``, one step's shape
    (only the last step is kept). ``dprog``: the body with carries ``donated`` donated, run
    where the loop alone holds them. Returns the final carry (a new list)."""
    cdef Py_ssize_t nc = len(carry), nx = len(xs), nk = len(consts), ny = len(ys)
    cdef Py_ssize_t step, t, k
    cdef bint own = False  # step 0 reads the caller's initial values
    cdef list args = [None] * (nc + nx + nk)
    cdef list cur = list(carry)
    cdef list outs
    cdef object o, w
    cdef cnp.ndarray a
    if n <= 0:
        return cur
    into = getattr(prog, "call_into", None)
    dinto = getattr(dprog, "call_into", None)
    if (dinto is None) != (into is None):
        dprog = None
    # sequence windows (None: sliced per step)
    cdef list xwin = [None] * nx
    for k in range(nx):
        a = <cnp.ndarray>xs[k]
        if _movable(a):
            xwin[k] = la_row_view(a)
    # stacked-output windows, two per output, and the targets list handed to the program
    cdef list ywin = [None] * (2 * ny)
    cdef list targets = [None] * (nc + ny) if into is not None else None
    if into is not None:
        for k in range(ny):
            if not last[k] and cnp.PyArray_ISCARRAY(<cnp.ndarray>ys[k]):
                a = <cnp.ndarray>ys[k]
                ywin[2 * k] = la_row_view(a)
                ywin[2 * k + 1] = la_row_view(a)
    for k in range(nk):
        args[nc + nx + k] = consts[k]
    for step in range(n):
        if (step & (SIGNAL_CHECK_STEPS - 1)) == SIGNAL_CHECK_STEPS - 1:
            PyErr_CheckSignals()
        t = n - 1 - step if reverse else step
        for k in range(nc):
            args[k] = cur[k]
        for k in range(nx):
            w = xwin[k]
            if w is None:
                args[nc + k] = xs[k][t]
            else:
                a = <cnp.ndarray>xs[k]
                la_set_data(<cnp.ndarray>w, cnp.PyArray_BYTES(a) + t * cnp.PyArray_STRIDE(a, 0))
                args[nc + k] = w
        if into is None:
            outs = dprog(args) if own else prog(args)
        else:
            for k in range(ny):
                w = ywin[2 * k + (step & 1)]
                if w is None:
                    continue
                a = <cnp.ndarray>ys[k]
                if _held(w, cur):  # a carry still reads it: give this step a new window
                    w = la_row_view(a)
                    ywin[2 * k + (step & 1)] = w
                la_set_data(<cnp.ndarray>w, cnp.PyArray_BYTES(a) + t * cnp.PyArray_STRIDE(a, 0))
                targets[nc + k] = w
            outs = dinto(args, targets) if own else into(args, targets)
        for k in range(nc):
            o = outs[k]
            if nx and _held(o, xwin):  # the body handed back its sequence input
                o = np.array(o)
            cur[k] = o
        if dprog is not None:
            # references: ``cur``, ``o`` while checked, ``outs`` (unless replaced above) and
            # ``args`` where the step wrote into its carry
            own = True
            for k in donated:
                o = cur[k]
                if not _owned(o, 2 + (outs[k] is o) + (args[k] is o)):
                    own = False
                    break
        for k in range(ny):
            o = outs[nc + k]
            if last[k]:
                if step == n - 1:
                    _put(<cnp.ndarray>ys[k], -1, o)
            elif targets is None or o is not targets[nc + k]:
                _put(<cnp.ndarray>ys[k], t, o)
    if into is not None:
        for k in range(nc):
            if _held(cur[k], ywin):
                cur[k] = np.array(cur[k])
    return cur


def run_scan_static(object prog, tuple args, Py_ssize_t n, Py_ssize_t nc, Py_ssize_t nx,
                    list y_types, tuple last, bint reverse, bint single, object dprog=None,
                    tuple donated=()):
    """`Scan.perform` once every stacked output's shape is static: ``args`` are the node's
    inputs after the length (``*carry, *xs, *consts``); ``y_types`` per y ``(typenum, step
    shape, dtype)``. Checks the sequences' lengths, allocates the outputs and runs `run_scan`
    (``dprog``, ``donated``: see there). Returns the node's outputs (one array when
    ``single``)."""
    cdef Py_ssize_t k, d, ny = len(y_types)
    cdef cnp.npy_intp dims[32]
    cdef tuple sh
    cdef object x
    for k in range(nc, nc + nx):
        x = args[k]
        if type(x) is not cnp.ndarray:
            x = np.asarray(x)
        if cnp.PyArray_NDIM(<cnp.ndarray>x) == 0 or cnp.PyArray_DIM(<cnp.ndarray>x, 0) < n:
            raise ValueError(f"scan: a sequence of length {np.shape(x)[0]} is shorter than "
                             f"the scan length {n}")
    cdef list ys = [None] * ny
    for k in range(ny):
        sh = <tuple>(<tuple>y_types[k])[1]
        if len(sh) > 31:
            raise ValueError("scan: too many dimensions in a stacked output")
        d = 0
        if not last[k]:
            dims[0] = n
            d = 1
        for x in sh:
            dims[d] = <cnp.npy_intp>x
            d += 1
        ys[k] = cnp.PyArray_EMPTY(<int>d, dims, <int>(<tuple>y_types[k])[0], 0)
    cdef list cur = run_scan(prog, list(args[:nc]), list(args[nc:nc + nx]),
                             list(args[nc + nx:]), ys, last, n, reverse, dprog, donated)
    for k in range(nc):
        if type(cur[k]) is not cnp.ndarray:
            cur[k] = np.asarray(cur[k])
    if single:
        return cur[0] if nc else ys[0]
    return tuple(cur + ys)


def run_while(object cond_prog, object body_prog, list carry, list cond_extras,
              list body_extras, bint record):
    """``while cond_prog(carry + cond_extras)[0]: carry = body_prog(carry + body_extras)``.

    Returns ``(final carry, trajectory, steps)``: with ``record``, per carry the list of the
    values the body was applied to (else empty lists)."""
    cdef Py_ssize_t nc = len(carry), k, steps = 0
    cdef list cur = list(carry)
    cdef list cargs = cur + cond_extras
    cdef list bargs = cur + body_extras
    cdef list traj = [[] for _ in range(nc)]
    cdef list outs
    while cond_prog(cargs)[0]:
        if record:
            for k in range(nc):
                (<list>traj[k]).append(cur[k])
        outs = body_prog(bargs)
        for k in range(nc):
            cur[k] = outs[k]
            cargs[k] = outs[k]
            bargs[k] = outs[k]
        steps += 1
        if (steps & (SIGNAL_CHECK_STEPS - 1)) == 0:
            PyErr_CheckSignals()
    return cur, traj, steps
