# cython: language_level=3
"""The IR's node objects (`Var`, `Apply`) and the user-site lookup, in C: building a node is
the front end's hot path (one `Apply` and one `Var` per array operation), so both are extension
types (no Python ``__init__`` frame, C fields, C deallocation).

A user site is recorded as ``(code object, f_lasti)`` of the first frame outside lazyarr: no
line-table walk while building; `site_location` turns it into ``(filename, lineno)`` when an
error message or a printer needs it. The code object (not the frame) is kept, so no frame and
no local variable stays alive.
"""

cimport cython
from cpython.dict cimport PyDict_Next
from cpython.ref cimport Py_INCREF, PyObject, Py_XDECREF, Py_XINCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM

import os

#: the lazyarr package's source directory (set by `bind_flags`: this extension module may be
#: built elsewhere, as in an editable install)
cdef str _PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
#: filename -> True when it is a lazyarr (or frozen bootstrap) file
cdef dict _is_lib = {}

#: `graph.basic.track_sites` (set through `set_track_sites` whenever it is assigned)
cdef bint _track_sites = True
#: the code object met last by `_find_site`, and whether it is lazyarr's
cdef object _last_code = None
cdef bint _last_is_lib = False


cdef extern from "Python.h":
    Py_ssize_t _refcnt "Py_REFCNT"(PyObject*)


def drop_unheld_values(dict table) -> int:
    """Remove from ``table`` the entries whose value nothing else references (its reference
    count is the dict's alone); returns how many were removed."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* k
    cdef PyObject* v
    cdef list dead = []
    while PyDict_Next(table, &pos, &k, &v):
        if _refcnt(v) == 1:
            dead.append(<object>k)
    for key in dead:
        del table[key]
    return len(dead)


def bind_flags(dict flags):
    """Take the package's directory from ``flags["__file__"]`` (`graph.basic`'s globals)."""
    global _PKG_ROOT, _last_code
    _PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(flags["__file__"]))) + os.sep
    _is_lib.clear()
    _last_code = None


def set_track_sites(bint on):
    """Whether new nodes record their user site (`graph.basic.track_sites`, which sets it)."""
    global _track_sites
    _track_sites = on


cdef extern from "Python.h":
    ctypedef struct PyFrameObject:
        pass
    ctypedef struct PyCodeObject:
        PyObject* co_filename
    PyFrameObject* PyEval_GetFrame()                     # borrowed
    PyFrameObject* PyFrame_GetBack(PyFrameObject*)        # new reference
    PyCodeObject* PyFrame_GetCode(PyFrameObject*)         # new reference
    int PyFrame_GetLasti(PyFrameObject*)


cdef inline bint _lib_file(object fn):
    r = _is_lib.get(fn)
    if r is None:
        r = fn.startswith(_PKG_ROOT) or fn.startswith("<frozen")
        _is_lib[fn] = r
    return r is True


cdef inline bint _lib_code(PyCodeObject* code):
    """Whether ``code`` is lazyarr's (the answer for the last code object is remembered: the
    nodes of one user line, or one user function, ask about the same code)."""
    global _last_code, _last_is_lib
    if <object>code is _last_code:
        return _last_is_lib
    _last_is_lib = _lib_file(<object>code.co_filename)
    _last_code = <object>code
    return _last_is_lib


cdef int _find_site(Apply node, int skip) except -1:
    """Record in ``node`` the site `user_site(skip)` would return (its code object and
    ``f_lasti`` in C fields: no tuple and no int object per node)."""
    cdef PyFrameObject* f = PyEval_GetFrame()
    cdef PyFrameObject* back
    cdef PyCodeObject* code
    if f == NULL:
        return 0
    Py_XINCREF(<PyObject*>f)
    while f != NULL:
        if skip <= 0:
            code = PyFrame_GetCode(f)
            if not _lib_code(code):
                node._code = <object>code
                node._lasti = PyFrame_GetLasti(f)
                Py_XDECREF(<PyObject*>code)
                Py_XDECREF(<PyObject*>f)
                return 0
            Py_XDECREF(<PyObject*>code)
        skip -= 1
        back = PyFrame_GetBack(f)
        Py_XDECREF(<PyObject*>f)
        f = back
    return 0


cpdef object user_site(int skip=1):
    """``(code, f_lasti)`` of the innermost frame outside lazyarr, starting ``skip`` frames
    above the Python function that calls this one; None if there is none. Hot paths pass the
    depth at which the user's frame usually is; a call from inside lazyarr walks further."""
    cdef PyFrameObject* f = PyEval_GetFrame()
    cdef PyFrameObject* back
    cdef PyCodeObject* code
    if f == NULL:
        return None
    Py_XINCREF(<PyObject*>f)
    while f != NULL:
        if skip <= 0:
            code = PyFrame_GetCode(f)
            if not _lib_code(code):
                r = (<object>code, PyFrame_GetLasti(f))
                Py_XDECREF(<PyObject*>code)
                Py_XDECREF(<PyObject*>f)
                return r
            Py_XDECREF(<PyObject*>code)
        skip -= 1
        back = PyFrame_GetBack(f)
        Py_XDECREF(<PyObject*>f)
        f = back
    return None


@cython.freelist(256)  # freed nodes are reused: an eager step builds and frees dozens
cdef class Var:
    """A typed value in the graph: an op's output, a realized array, a constant or an input.

    ``nref`` counts the live user-facing arrays on this variable: materialization writes back
    every pending variable that a user still holds, not only the one asked for."""

    def __init__(self, dtype, shape, owner=None, Py_ssize_t index=0, data=None,
                 bint const=False, name=None, Py_ssize_t depth=0):
        self.dtype = dtype
        self.shape = shape
        self.owner = owner
        self.index = index
        self.data = data
        self.const = const
        self.name = name
        self.depth = depth
        self.nref = 0

    @classmethod
    def leaf(cls, data, bint const=False, name=None):
        """A realized leaf holding ``data`` (a NumPy array, not copied)."""
        return cls(data.dtype, data.shape, None, 0, data, const, name, 0)

    @classmethod
    def input(cls, dtype, shape, name=None):
        """A symbolic input (no data) for traced functions and inner graphs."""
        import numpy as np
        return cls(np.dtype(dtype), tuple(shape), None, 0, None, False, name, 0)

    def realize_to(self, data):
        """Turn this variable into a leaf holding ``data``, dropping the graph above it."""
        self.data = data
        self.owner = None
        self.depth = 0

    def __repr__(self):
        what = "const" if self.const else ("leaf" if self.data is not None else
                                            ("input" if self.owner is None else "node"))
        nm = f" {self.name}" if self.name else ""
        return f"<Var{nm} {what} {self.dtype}{list(self.shape)}>"


@cython.freelist(256)
cdef class Apply:
    """One application of an op to input variables, producing output variables.

    ``site`` is where the user code built it (`user_site`; None if unknown), used to name the
    user's line in errors raised while running."""

    def __init__(self, op, inputs, outputs, site=None):
        self.op = op
        self.inputs = inputs if type(inputs) is tuple else tuple(inputs)
        self.outputs = outputs
        self._site = site

    @property
    def site(self):
        """Where the user's code built this node: ``(code object, f_lasti)`` (`user_site`),
        another object given by the builder, or None."""
        if self._code is not None:
            return (self._code, self._lasti)
        return self._site

    @site.setter
    def site(self, value):
        self._code = None
        self._site = value

    def __repr__(self):
        return f"<Apply {self.op!r}>"


cdef Var node1(object op, tuple inputs, object dtype, object shape, Py_ssize_t depth,
               int site_skip):
    cdef Apply node = Apply.__new__(Apply)
    cdef Var out = Var.__new__(Var)
    node.op = op
    node.inputs = inputs
    if _track_sites:
        _find_site(node, site_skip)
    out.dtype = dtype
    out.shape = shape
    out.owner = node
    out.depth = depth
    node.outputs = (out,)  # a front-end node has one output: a tuple is one allocation
    return out


def apply_typed(op, tuple inputs, dtype, shape, Py_ssize_t depth, int site_skip):
    """Build a single-output node whose type the caller computed with the op's own rule (the
    hot path of elementwise functions); the user's frame is looked for ``site_skip`` frames
    above the caller. Returns the output `Var`."""
    return node1(op, inputs, dtype, shape, depth, site_skip)


def apply_types(op, tuple inputs, types, int site_skip):
    """Build a node of ``op`` with output ``types`` (``[(dtype, shape), ...]``, from its rule);
    the user's frame is looked for ``site_skip`` frames above the caller. Returns the outputs."""
    cdef Py_ssize_t depth = 0
    cdef Var v
    for x in inputs:
        v = <Var?>x
        if v.depth > depth:
            depth = v.depth
    depth += 1
    cdef Apply node = Apply.__new__(Apply)
    node.op = op
    node.inputs = inputs
    if _track_sites:
        _find_site(node, site_skip)
    return _outputs(node, types, depth)


cdef list _outputs(Apply node, object types, Py_ssize_t depth):
    """Give ``node`` one new output `Var` per ``(dtype, shape)`` of ``types``, at ``depth``."""
    cdef list outs = []
    cdef Var out
    cdef Py_ssize_t i = 0
    for dt, sh in types:
        out = Var.__new__(Var)
        out.dtype = dt
        out.shape = sh
        out.owner = node
        out.index = i
        out.depth = depth
        outs.append(out)
        i += 1
    node.outputs = outs
    return outs


def build_steps(list env, list steps, list fnodes, call_site):
    """Build the nodes of a recorded derivative template (`diff.cache.GradTemplate.steps`:
    ``(op, in_refs, [(dtype, shape), ...], site, first)`` each) over the values in ``env``
    (a list indexed by value number; each node's outputs are stored from ``first`` on). An
    int ``site`` names the forward node of ``fnodes`` (the forward graph's distinct applies,
    `diff.cache.ForwardIndex.nodes`) whose site the node takes (its C fields copied: no site
    tuple), -1 the caller's ``call_site``.
    A single-output node's ``outputs`` is a 1-tuple, as a front-end node's."""
    cdef Apply node, fnode
    cdef Var v, out
    cdef Py_ssize_t depth, first, i, n
    cdef tuple refs, ins
    cdef list outs
    for st in steps:
        op, refs, types, site, first = st
        n = len(refs)
        ins = PyTuple_New(n)
        depth = 0
        for i in range(n):
            x = env[<Py_ssize_t>refs[i]]
            v = <Var?>x
            if v.depth > depth:
                depth = v.depth
            Py_INCREF(x)
            PyTuple_SET_ITEM(ins, i, x)
        node = Apply.__new__(Apply)
        node.op = op
        node.inputs = ins
        if type(site) is int:
            if site >= 0:
                fnode = <Apply>fnodes[site]
                node._code = fnode._code
                node._lasti = fnode._lasti
                node._site = fnode._site
            else:
                node._site = call_site
        else:
            node._site = site
        if len(<list>types) == 1:
            dt, sh = (<list>types)[0]
            out = Var.__new__(Var)
            out.dtype = dt
            out.shape = sh
            out.owner = node
            out.depth = depth + 1
            node.outputs = (out,)
            env[first] = out
        else:
            outs = _outputs(node, types, depth + 1)
            for i in range(len(outs)):
                env[first + i] = outs[i]


cdef object _np_dtype = None  # numpy.dtype, imported on first use


def leaf_reprs(tuple params) -> tuple:
    """The reprs of ``params``' leaves, nested tuples walked, but for strings, None and dtypes
    (equal ones have equal reprs) and ints (marked by their type): params equal by value key
    apart where their reprs differ (0.0 and -0.0, 1 and 1.0 and True), as keying by
    ``repr(params)`` would, without the cost of NumPy's dtype reprs (`graph.basic.OpMeta`
    interns every fused node's `Composite` so; in C since each new graph's fusion asks)."""
    global _np_dtype
    if _np_dtype is None:
        import numpy
        _np_dtype = numpy.dtype
    cdef list out = []
    _add_leaf_reprs(params, out)
    return tuple(out)


# A param that is a dtype in one op and its name in another (``np.dtype("f8") == "float64"``)
# is skipped both times, yet their ops never meet under one key: the two hash differently.
cdef int _add_leaf_reprs(tuple params, list out) except -1:
    for x in params:
        t = type(x)
        if t is tuple:
            _add_leaf_reprs(<tuple>x, out)
        elif t is int:  # equal ints have equal reprs: only a bool or float there differs
            out.append(int)
        elif t is not str and x is not None and not isinstance(x, _np_dtype):
            out.append(repr(x))
    return 0
