# cython: language_level=3, boundscheck=False, wraparound=False
"""The step loop of `Scan` in C: one call of the body's compiled program per step and no
Python code between steps. Per-step outputs go straight into the stacked arrays allocated
before the loop (a row copy, ``memcpy`` when both sides are contiguous)."""

cimport numpy as cnp
from libc.string cimport memcpy

cnp.import_array()


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


def run_scan(object prog, list carry, list xs, list consts, list ys, tuple last,
             Py_ssize_t n, bint reverse):
    """Run ``n`` steps of ``carry, y = prog(carry + x_t + consts)``.

    ``ys``: preallocated arrays, stacked ``(n, ...)`` or, where ``last[k]``, one step's shape
    (only the last step is kept). Returns the final carry (a new list)."""
    cdef Py_ssize_t nc = len(carry), nx = len(xs), nk = len(consts), ny = len(ys)
    cdef Py_ssize_t step, t, k
    cdef list args = [None] * (nc + nx + nk)
    cdef list cur = list(carry)
    cdef list outs
    for k in range(nk):
        args[nc + nx + k] = consts[k]
    for step in range(n):
        t = n - 1 - step if reverse else step
        for k in range(nc):
            args[k] = cur[k]
        for k in range(nx):
            args[nc + k] = xs[k][t]
        outs = prog(args)
        for k in range(nc):
            cur[k] = outs[k]
        for k in range(ny):
            if last[k]:
                if step == n - 1:
                    _put(<cnp.ndarray>ys[k], -1, outs[nc + k])
            else:
                _put(<cnp.ndarray>ys[k], t, outs[nc + k])
    return cur


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
    return cur, traj, steps
