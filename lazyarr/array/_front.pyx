# cython: language_level=3
"""The front end's hot path in C: wrapping a variable into a user-facing `Array`, and the
elementwise functions and operators (one closure per scalar-table row).

Called from user code, these functions push no Python frame, so the innermost Python frame is
the user's own: the node's site is found without materializing a lazyarr frame. Only the
common case (operands already Arrays or Python scalars, one compute dtype) is handled here;
the Python helpers given to `bind` and `binary` do the rest (promotion, casts, broadcasting,
errors), so there is one definition of each rule.
"""

cimport cython
cimport numpy as cnp
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.long cimport PyLong_FromVoidPtr  # id() without its audit event
from cpython.object cimport PyObject, PyTypeObject
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.ref cimport Py_REFCNT
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from cpython.weakref cimport PyWeakref_NewRef

from ..graph._ir cimport Apply, Var, node1
from ._memory cimport frozen, overlaps

cdef type Array = None
cdef list _live = None
#: `coerce`'s globals (``_prune`` is called from there), whose policies stay in one place
cdef dict _cg = None
cdef object _realize = None
cdef dict _const_cache = None
cdef object _const = None
cdef tuple _empty = ()

import numpy as _np
cdef object _np_dtype = _np.dtype

from ..graph.pipeline import note_shared as _note_shared


def bind(array_cls, list live, dict coerce_globals, realize):
    """Set the Array class, the live pending registry, `coerce`'s globals and `realize`."""
    global Array, _live, _cg, _realize, _const_cache, _const
    Array, _live, _cg, _realize = array_cls, live, coerce_globals, realize
    _const_cache, _const = coerce_globals["_const_cache"], coerce_globals["const"]


#: the thread whose `coerce` converts a list through NumPy now (0: none): an Array met
#: inside raises `NestedArray` there instead of being read (the list is then stacked:
#: nothing computed, traced values welcome); other threads read values as ever
cdef unsigned long _probing = 0


class NestedArray(Exception):
    """An Array inside a list NumPy was converting (see `probe_nested`)."""


def probe_nested(unsigned long owner):
    """Make ``Array.__array__`` raise `NestedArray` in thread ``owner`` (0: in none);
    returns the previous owner, to restore (a conversion inside a conversion)."""
    global _probing
    prev = _probing
    _probing = owner
    return prev


cdef inline object _float_const(object x, object dt):
    """The constant leaf of Python float or int ``x`` beside an array of floating or complex
    dtype ``dt`` (the standard's rule: the scalar takes ``dt``)."""
    v = _const_cache.get((type(x), x, dt))
    if v is None:
        v = _const(x, dt)
    return v


cnp.import_array()


cdef inline bint _shared_const(object x):
    """Whether `coerce.const` shares the constant of Python int or float ``x`` (not a NaN or
    a zero: those get a leaf each, as the closures' memory must not change the graphs)."""
    cdef double d
    if type(x) is float:
        d = <double>x
        return d == d and d != 0.0
    return True


cdef inline bint _inexact(object dt):
    """Whether NumPy dtype ``dt`` is floating or complex (its kind, read in C)."""
    cdef char k = (<cnp.dtype>dt).kind
    return k == b'f' or k == b'c'


cdef object _GetItem = None  # ops.index.GetItem (imported on first use: ops import this module)


cdef object _getitem_class():
    global _GetItem
    if _GetItem is None:
        from .ops.index import GetItem
        _GetItem = GetItem
    return _GetItem


cdef tuple _D = ("d",)
cdef tuple _WHOLE_AXIS = ("s", None, None, None)


@cython.no_gc_clear  # the collector must not clear ``_v`` first: `__dealloc__` reads it
cdef class ArrayBase:
    """The C part of `Array`: its variable ``_v``, whose count of live arrays (``nref``) it
    gives back when the array is freed (in C: no Python ``__del__`` call per array)."""

    cdef public Var _v
    #: a view's ``(base Array, region)`` (`functions.indexing.view_of`), else None
    cdef public object _base
    #: the views of this array (a `Views`; `functions.indexing.follow_base`), or None
    cdef public object _views
    cdef object __weakref__

    def __dealloc__(self):
        global _dropped
        cdef Var v = self._v
        if v is not None:
            v.nref -= 1
            if v.nref == 0 and v.owner is not None:
                _dropped += 1

    def _value(self):
        """The array's data (a read-only NumPy array), realizing it first if needed."""
        cdef Var v = self._v
        if v.data is None or v.owner is not None:
            _realize_list([v])
        return v.data

    cdef object _scalar0(self, str what):
        """The value of a 0-d array as a NumPy scalar; other shapes go to the Python
        ``_scalar`` (size check, its error naming the user's line)."""
        cdef Var v = self._v
        if v.shape != ():
            return self._scalar(what)
        d = v.data
        if d is None or v.owner is not None:
            _realize_list([v])
            d = v.data
        return d[()]

    def __float__(self):
        if self._v.dtype.kind == "c":
            return self._scalar("float")  # raises: the standard's TypeError
        return float(self._scalar0("float"))

    def __int__(self):
        if self._v.dtype.kind == "c":
            return self._scalar("int")
        return int(self._scalar0("int"))

    def __bool__(self):
        return bool(self._scalar0("bool"))

    def __complex__(self):
        return complex(self._scalar0("complex"))

    def __array__(self, dtype=None, copy=None):
        """NumPy's conversion protocol: the data (realized), cast to ``dtype`` or copied when
        asked (``np.asarray(a)`` is the usual way to read a value)."""
        if _probing and _probing == PyThread_get_thread_ident():
            raise NestedArray
        d = self._value()
        if dtype is not None and _np_dtype(dtype) != d.dtype:
            if copy is False:  # NumPy's protocol: no copy, or ValueError
                raise ValueError(f"Unable to avoid copy while converting {d.dtype} to "
                                 f"{_np_dtype(dtype)} (__array__ with copy=False)")
            return d.astype(dtype)
        if copy:
            return d.copy()
        return d


def write_back(list pending, results, list args):
    """Make each variable of ``pending`` a leaf holding its result, locked read-only (a copy
    of it where the program handed back one of its writable input arrays ``args``, a user's
    array, or a view of one: the value must not change when the user writes the array). A
    result that is one of ``args`` (lazyarr's own read-only data) or an earlier result is
    noted as shared (`pipeline.note_shared`): two arrays hold that buffer."""
    _write_back(pending, results, args)


cdef bint _held_twice(object r, list args, results, Py_ssize_t i):
    """Whether the read-only result ``r`` (``results[i]``) is one of ``args`` or of the
    results before it."""
    cdef Py_ssize_t j
    for x in args:
        if x is r:
            return True
    for j in range(i):
        if results[j] is r:
            return True
    return False


cdef bint _in_writable_arg(cnp.ndarray r, list args):
    """Whether ``r`` shares bytes with one of ``args`` that its owner can still write."""
    for x in args:
        if (type(x) is cnp.ndarray and not frozen(<cnp.ndarray>x)
                and overlaps(r, <cnp.ndarray>x)):
            return True
    return False


def is_frozen(cnp.ndarray a) -> bool:
    """Whether no NumPy array can write ``a``'s memory (`_memory.frozen`): lazyarr may then
    read it later instead of copying it now."""
    return frozen(a)


cdef int _write_back(list pending, results, list args) except -1:
    cdef Var v
    cdef Py_ssize_t i
    cdef cnp.ndarray a
    for i in range(min(len(pending), len(results))):
        v = <Var>pending[i]
        r = results[i]
        if type(r) is cnp.ndarray:
            a = <cnp.ndarray>r
            if cnp.PyArray_ISWRITEABLE(a) or cnp.PyArray_BASE(a) != NULL:
                if _in_writable_arg(a, args):
                    a = r.copy()
                cnp.PyArray_CLEARFLAGS(a, cnp.NPY_ARRAY_WRITEABLE)
            elif _held_twice(r, args, results, i):
                _note_shared(r)
            r = a
        elif r.flags.writeable:
            for x in args:
                if x is r:
                    r = r.copy()
                    break
            r.flags.writeable = False
        v.data = r
        v.owner = None
        v.depth = 0
    return 0


def held_pending(list live):
    """The variables of ``live`` that are pending and held by a user array, without repeats,
    in order (the pruning of `materialize.live_pending`)."""
    cdef list out = []
    cdef set seen = None
    cdef Var v
    cdef Py_ssize_t j, n = 0
    for x in live:
        v = <Var>x
        if not v.nref or v.owner is None:
            continue
        if seen is None:  # a few: compared with those kept (a set only past 16)
            for j in range(n):
                if <object>PyList_GET_ITEM(out, j) is v:
                    break
            else:
                out.append(v)
                n += 1
                if n > 16:
                    seen = set(out)
        elif v not in seen:
            seen.add(v)
            out.append(v)
    return out


def live_count():
    """How many variables `materialize.live_pending` lists now (a mark for `drop_unheld`)."""
    return PyList_GET_SIZE(_live)


def drop_unheld(Py_ssize_t mark):
    """Drop from `materialize.live_pending` the variables listed after ``mark`` that no user
    array holds (a traced function's intermediates, once it returned), keeping the others in
    order; the whole list is pruned if it is shorter than ``mark`` (pruned meanwhile)."""
    cdef Py_ssize_t n = PyList_GET_SIZE(_live), i
    cdef Var v
    if n < mark:
        _live[:] = held_pending(_live)
        return
    cdef list keep = []
    for i in range(mark, n):
        v = <Var>PyList_GET_ITEM(_live, i)
        if v.nref and v.owner is not None:
            keep.append(v)
    del _live[mark:]
    _live.extend(keep)


#: `coerce.MAX_PENDING_DEPTH` and `coerce._prune_at`, set by `set_limits` whenever coerce
#: assigns them (its module type does): `wrap` compares C integers
cdef Py_ssize_t _max_depth = 128, _prune_at = 1 << 14
#: pending variables whose last Array was freed since `materialize.release_dropped` last
#: ran; past `DROPPED_PRUNE_AT`, `wrap` runs it: a graph built and dropped unread (and its
#: input buffers) is freed by reference counts then, not after 16 Ki arrays and a collection
cdef Py_ssize_t _dropped = 0
DROPPED_PRUNE_AT = 64
cdef Py_ssize_t _dropped_at = DROPPED_PRUNE_AT


def set_dropped_prune_at(Py_ssize_t n):
    """Free dropped graphs every ``n`` dropped pending arrays (`DROPPED_PRUNE_AT` by
    default); returns the previous value (a benchmark timing graph building alone turns
    it off, as it turns the collector off)."""
    global _dropped_at
    prev = _dropped_at
    _dropped_at = n
    return prev


def set_limits(Py_ssize_t max_pending_depth, Py_ssize_t prune_at):
    """Set the copies of `coerce`'s ``MAX_PENDING_DEPTH`` and ``_prune_at`` that `wrap` reads."""
    global _max_depth, _prune_at
    _max_depth, _prune_at = max_pending_depth, prune_at


cdef extern from *:
    """
    /* how many `deep_graphs` blocks this thread is inside: while any, its chains may pass
       the pending-depth bound (another thread's transform leaves this one's bound alone) */
    static _Thread_local Py_ssize_t la_lifted_depth = 0;
    """
    Py_ssize_t la_lifted_depth


def lift_depth_bound():
    """Lift the pending-depth bound in this thread (`diff.engine.deep_graphs` entering;
    nests: the bound is back once each lift was matched by `restore_depth_bound`)."""
    global la_lifted_depth
    la_lifted_depth += 1


def restore_depth_bound():
    """Undo this thread's latest `lift_depth_bound` (`deep_graphs` leaving)."""
    global la_lifted_depth
    if la_lifted_depth > 0:
        la_lifted_depth -= 1


def depth_bound_lifted():
    """Whether this thread is inside `deep_graphs` (its chains are not realized on their own)."""
    return la_lifted_depth > 0


cpdef object wrap(Var v):
    """The user-facing Array for variable ``v`` (realized now if its pending chain is long)."""
    global _dropped
    a = (<PyTypeObject*>Array).tp_new(Array, <PyObject*>_empty, NULL)
    (<ArrayBase>a)._v = v
    v.nref += 1
    if v.owner is not None:
        if v.nref == 1:  # listed while any Array holds it: a pending operand wrapped again
            _live.append(v)  # (stack, a reshape to its own shape) is not listed twice
        if PyList_GET_SIZE(_live) > _prune_at:
            _cg["_prune"]()
        elif _dropped > _dropped_at:
            _dropped = 0
            _release_dropped()
        if v.depth > _max_depth and not la_lifted_depth:  # (the thread-local read only past it)
            _realize([v])
    return a


cdef class Views:
    """An array's weak references to its views (``refs``); past ``limit`` of them, the dead
    ones are dropped (views read and dropped in a loop cost no memory)."""
    cdef public list refs
    cdef Py_ssize_t limit


cpdef object view_of(ArrayBase base, ArrayBase view, object spec):
    """Mark ``view`` as a view of ``base`` with region ``spec`` (`functions.indexing.view_of`)."""
    cdef Views vs
    view._base = (base, spec)
    if base._views is None:
        vs = Views.__new__(Views)
        vs.refs = [PyWeakref_NewRef(view, None)]
        vs.limit = 8
        base._views = vs
        return view
    vs = <Views>base._views
    vs.refs.append(PyWeakref_NewRef(view, None))
    if PyList_GET_SIZE(vs.refs) > vs.limit:
        vs.refs = [r for r in vs.refs if r() is not None]
        vs.limit = 2 * PyList_GET_SIZE(vs.refs) + 8
    return view


cpdef object live_views(ArrayBase base):
    """``base``'s live views (a list), its dead references dropped; None, and ``base._views``
    None, when no view is left."""
    cdef Views vs = <Views>base._views
    cdef list views = [], refs = []
    for r in vs.refs:
        view = r()
        if view is not None:
            views.append(view)
            refs.append(r)
    if not refs:
        base._views = None
        return None
    vs.refs = refs
    return views


def view_node(op, ArrayBase base, tuple shape, object spec, tuple ints=None):
    """`shape_node` over ``base``'s variable (then a constant leaf of each of ``ints``: the
    integers and slice starts of ``op``'s key given as 0-d inputs, `int_leaf`), marked as a
    view of ``base`` with region ``spec`` (basic indexing)."""
    cdef Var v = base._v
    cdef Py_ssize_t i, n
    if ints is None:
        ins = (v,)
    else:
        n = PyTuple_GET_SIZE(ints)
        ins = PyTuple_New(n + 1)
        Py_INCREF(v)
        PyTuple_SET_ITEM(ins, 0, v)
        for i in range(n):
            leaf = int_leaf(<object>PyTuple_GET_ITEM(ints, i))
            Py_INCREF(leaf)
            PyTuple_SET_ITEM(ins, i + 1, leaf)
    return view_of(base, wrap(node1(op, ins, v.dtype, shape, v.depth + 1, 1)), spec)


#: Python ints that `write_in_place` writes into an array of each integer dtype: its range
cdef dict _int_ranges = {}
#: Python ints a float array takes exactly (larger ones: the functional path decides)
DEF EXACT_INT = 1 << 53


cdef bint _scalar_fits(object value, object dtype) except -1:
    """Whether the Python scalar ``value`` goes into an array of ``dtype`` as NumPy and the
    functional update both convert it: a float into a real or complex float array, an int
    into one of those (exactly) or into an integer dtype's range, a bool into a bool array."""
    cdef str kind = dtype.kind
    t = type(value)
    if t is float:
        return kind == "f" or kind == "c"
    if t is int:
        if kind == "f" or kind == "c":
            return -EXACT_INT <= value <= EXACT_INT
        if kind == "i" or kind == "u":
            r = _int_ranges.get(dtype)
            if r is None:
                info = _np.iinfo(dtype)
                r = _int_ranges[dtype] = (int(info.min), int(info.max))
            return (<tuple>r)[0] <= value <= (<tuple>r)[1]
        return False
    return t is bool and kind == "b"


cdef tuple _int_key(object key, tuple shape):
    """``key`` as a tuple of ints when it is an int or a tuple of ints, at most one per axis,
    each within its axis of ``shape``, whose sizes are all known; else None."""
    cdef tuple ints
    cdef Py_ssize_t i, n, nd = PyTuple_GET_SIZE(shape)
    if type(key) is int:
        ints = (key,)
    elif type(key) is tuple:
        ints = <tuple>key
    else:
        return None
    n = PyTuple_GET_SIZE(ints)
    if n > nd:
        return None
    for i in range(nd):
        if <object>PyTuple_GET_ITEM(shape, i) is None:
            return None
    for i in range(n):
        k = <object>PyTuple_GET_ITEM(ints, i)
        if type(k) is not int or not -<Py_ssize_t>shape[i] <= k < <Py_ssize_t>shape[i]:
            return None
    return ints


cdef object _Alloc = None  # ops.creation.Alloc (imported on first use: ops import this module)


cdef bint _realize_alloc(Var v) except -1:
    """Realize pending ``v``, a fill of a realized scalar (``zeros``, ``full``, ``empty``) that
    only its one array holds, with NumPy now (``zeros`` from calloc'd pages); False when ``v``
    is not such a fill or something else reads it."""
    global _Alloc
    if _Alloc is None:
        from .ops.creation import Alloc
        _Alloc = Alloc
    if not isinstance(v.owner, Apply):
        return False
    node = <Apply>v.owner
    if type(node.op) is not _Alloc or len(node.inputs) != 1:
        return False
    cdef Var fill = <Var>node.inputs[0]
    if fill.owner is not None or type(fill.data) is not cnp.ndarray:
        return False
    cdef Py_ssize_t listed = 0
    for u in _live:
        if u is v:
            listed += 1
    u = None  # the loop's variable held the list's last entry
    # the array's ``_v``, the caller's ``v``, the node's outputs and the pending list: no reader
    if Py_REFCNT(v) != 3 + listed:
        return False
    value = (<cnp.ndarray>fill.data)[()]
    if any((<cnp.ndarray>fill.data).tobytes()):  # -0.0 is no zero bits: a fill keeps its sign
        d = _np.full(v.shape, value, v.dtype)
    else:
        d = _np.zeros(v.shape, v.dtype)
    d.flags.writeable = False
    v.realize_to(d)
    if listed:
        _live[:] = [u for u in _live if u is not v]
    return True


cpdef bint write_in_place(ArrayBase x, object key, object value) except -1:
    """``x[key] = value`` written into ``x``'s buffer, when nobody can tell it from the
    functional update (`functions.indexing.setitem`): ``key`` an int or a tuple of ints within
    bounds, ``value`` a Python scalar that `_scalar_fits`; ``x`` not a view and with no live
    view, the only array on its variable, which nothing else holds (no pending node, gradient
    tape or program reads it). ``x`` realized, or a fill (``zeros``) realized now with NumPy.
    A buffer somebody else may hold (a user's ``np.asarray``, a program keeping the array it
    handed out to take it back) is copied first, once, if nobody can write it (`frozen`: a
    user's writable array is read when pending work runs). Returns whether it wrote; otherwise
    the caller takes the functional path (which raises the errors)."""
    cdef Var v = x._v
    cdef cnp.ndarray d
    if v.const or v.nref != 1 or x._base is not None:
        return False
    if x._views is not None and live_views(x) is not None:
        return False
    if _int_key(key, v.shape) is None or not _scalar_fits(value, v.dtype):
        return False
    if v.owner is not None and not _realize_alloc(v):
        return False
    if type(v.data) is not cnp.ndarray or Py_REFCNT(v) != 2:  # x._v and ``v``
        return False
    d = <cnp.ndarray>v.data
    if (Py_REFCNT(d) != 2 or cnp.PyArray_BASE(d) != NULL
            or not cnp.PyArray_IS_C_CONTIGUOUS(d)):  # v.data and ``d``: else a copy of its own
        if not frozen(d):
            # a user's writable array (or one viewing it): pending work reads it when it runs,
            # later writes of the user's included, which a copy now would miss
            return False
        d = _np.array(d, order="C")
        d.flags.writeable = False
        v.data = d
    cnp.PyArray_ENABLEFLAGS(d, cnp.NPY_ARRAY_WRITEABLE)
    try:
        d[key] = value
    finally:
        cnp.PyArray_CLEARFLAGS(d, cnp.NPY_ARRAY_WRITEABLE)
    return True


cdef inline bint _int_bound(object b):
    return b is None or type(b) is int or isinstance(b, _np.integer)


cpdef object index_key(object key):
    """A hashable stand-in for an indexing key made only of ints, slices of int or None
    bounds, None and Ellipsis (slices are unhashable before Python 3.12), or None for any
    other key (arrays, bools, lists, a bound of another type: ``1.0 == 1`` but ``a[1.0:3]`` is
    refused, and an ``__index__`` may answer another value next time)."""
    cdef tuple items
    cdef list out
    if type(key) is int:
        return (key,)
    items = <tuple>key if type(key) is tuple else (key,)
    out = []
    for k in items:
        if type(k) is slice:
            a, b, c = (<slice>k).start, (<slice>k).stop, (<slice>k).step
            # ints only (NumPy's too): another bound (``__index__``) may answer another value
            if not (_int_bound(a) and _int_bound(b) and _int_bound(c)):
                return None
            out.append((a, b, c))
        elif type(k) is int or k is None or k is Ellipsis:
            out.append(k)
        else:
            return None
    return tuple(out)


#: per ``(number of int indices, shape)``: the view's node op, its shape and the whole axes
#: after the indices (`_int_view`)
cdef dict _int_views = {}


cdef object _int_view(ArrayBase x, object key):
    """``x[key]`` for ``key`` an int or a tuple of ints, each within its axis of a shape known
    when built: the node `functions.indexing.getitem` would build (its ints as inputs,
    `ops.index.dynamic_key`), from a cache by the number of ints and the shape, not by their
    values (iterating over a long array, ``x[i]`` for each ``i``, missed a cache by key);
    None for any other key or an index out of bounds (the caller's path raises)."""
    shape = x._v.shape
    cdef tuple ints = _int_key(key, shape)
    if ints is None or PyTuple_GET_SIZE(ints) == 0:
        return None
    cdef Py_ssize_t n = PyTuple_GET_SIZE(ints), nd = PyTuple_GET_SIZE(shape)
    hit = _int_views.get((n, shape))
    if hit is None:
        tail = (_WHOLE_AXIS,) * (nd - n)
        hit = (_getitem_class()((_D,) * n + tail, shape[n:]), shape[n:], tail)
        if len(_int_views) > 4096:
            _int_views.clear()
        _int_views[(n, shape)] = hit
    node_op, out_shape, tail = <tuple>hit
    spec = tuple([("i", k) for k in ints]) + <tuple>tail
    return view_node(node_op, x, out_shape, spec, ints)


def basic_view(dict cache, ArrayBase x, object key):
    """``x[key]`` from ``cache`` (`functions.indexing`: per ``(index_key(key), shape)``, the
    view's ``(node op, shape, spec, ints)``, `view_node`'s arguments), or None when the key is
    not basic or not cached yet (the caller parses it). Keys of ints go by `_int_view`."""
    hit = _int_view(x, key)
    if hit is not None:
        return hit
    ck = index_key(key)
    if ck is None:
        return None
    hit = cache.get((ck, x._v.shape))
    if hit is None:
        return None
    node_op, shape, spec, ints = <tuple>hit
    return view_node(node_op, x, shape, spec, ints)


#: read-only 0-d int64 arrays by value: the data of `int_leaf`'s leaves
cdef dict _int_data = {}
cdef object _int64 = _np.dtype(_np.int64)


cpdef Var int_leaf(object k):
    """A constant leaf of int64 value ``k`` (an index given as an input:
    `ops.index.dynamic_key`). A leaf of its own over data shared by value, not the shared
    constant of ``k`` (`coerce.const`): two indices of a key with equal values would be one
    leaf, and the cut's structure would change with the values."""
    d = _int_data.get(k)
    if d is None:
        d = _np.array(k, _int64)
        d.flags.writeable = False
        if len(_int_data) > 4096:
            _int_data.clear()
        _int_data[k] = d
    cdef Var leaf = Var.__new__(Var)
    leaf.dtype = _int64
    leaf.shape = ()
    leaf.data = d
    leaf.const = True
    return leaf


def shape_node(op, Var v, tuple shape):
    """The Array of a new node of ``op`` over ``v`` alone, of ``v``'s dtype and ``shape`` (a
    shape op whose output shape the Python caller computed with the op's rule): the C node
    builder, the user's site looked for above that caller."""
    return wrap(node1(op, (v,), v.dtype, shape, v.depth + 1, 1))


cdef class _TypesMemo:
    """``types(fn, dtype)`` of one elementwise row, remembered per dtype; the last dtype is
    answered without a dict lookup."""
    cdef object fn, types, last_dt, last_r
    cdef dict cache

    def __cinit__(self, fn, types):
        self.fn, self.types, self.cache = fn, types, {}

    cdef inline object get(self, object dt):
        if dt is self.last_dt:
            return self.last_r
        r = self.cache.get(dt)
        if r is None:
            r = self.cache[dt] = self.types(self.fn, dt)
        self.last_dt, self.last_r = dt, r
        return r


cdef class _ScalarMemo:
    """The constant leaf of a Python scalar beside an array of dtype ``dt``; the last scalar
    (by identity: a literal is one object) that `coerce.const` shares is answered at once."""
    cdef object last_x, last_dt, last_c

    cdef inline Var get(self, object x, object dt):
        if x is self.last_x and dt is self.last_dt:
            return <Var>self.last_c
        c = _float_const(x, dt)
        if _shared_const(x):
            self.last_x, self.last_dt, self.last_c = x, dt, c
        return <Var>c


def unary(op, fn, types, as_var, cast):
    """The elementwise function of one-operand row ``fn`` (op ``op``)."""
    cdef _TypesMemo memo = _TypesMemo(fn, types)

    def f(x, /):
        cdef Var v
        if type(x) is Array:
            v = (<ArrayBase>x)._v
        else:
            v = as_var(x)
        dt = v.dtype
        r = memo.get(dt)
        ct = r[0]
        if ct is not dt and ct != dt:
            v = cast(v, ct)
        return wrap(node1(op, (v,), r[1], v.shape, v.depth + 1, 0))

    return f


cpdef bint defers_to(object x, str op):
    """Whether an operator of an Array with ``x`` should return NotImplemented: ``x`` is no
    array to lazyarr (`coerce.as_var` refuses it; Python scalars, sequences and NumPy values
    are arrays, a string never answers for one) but its type has operator ``op`` (a SciPy
    sparse matrix's ``__rmul__``), so ``x`` answers ``x * y`` itself, as beside NumPy."""
    if isinstance(x, (ArrayBase, bool, int, float, complex, str, bytes, list, tuple,
                      _np.ndarray, _np.generic)):
        return False
    if not hasattr(type(x), op):
        return False
    try:
        _cg["as_var"](x)
    except TypeError:
        return True
    return False


def inplace(fn, str name, same_shape, rebind):
    """The in-place operator ``__i{name}__`` of the array object over function ``fn``: ``x OP=
    y`` points ``x`` at ``fn(x, y)``, which must keep ``x``'s shape (``same_shape(r, x)``
    decides where a size is known only at run time) and dtype. An array with no view and no
    base is only re-pointed (`repoint`); others go through ``rebind`` (`coerce.rebind`: views
    follow, a base is written). ``x += 1.0`` in a loop: 1.73 -> 0.36 us."""
    cdef str reflected = f"__r{name}__"

    def op(ArrayBase self, other):
        if type(other) is not Array and defers_to(other, reflected):
            return NotImplemented  # Python then asks ``self OP other``, which defers too
        r = fn(self, other)
        cdef Var v = (<ArrayBase>r)._v
        cdef Var old = self._v
        if v.shape != old.shape and not same_shape(r, self):
            from ..graph.userline import where
            raise ValueError(f"in-place operation would change the shape from {self.shape} "
                             f"to {r.shape} ({where()})")
        if v.dtype is not old.dtype and v.dtype != old.dtype:
            from ..graph.userline import where
            raise TypeError(f"in-place operation would change the dtype from {old.dtype} "
                            f"to {v.dtype} ({where()})")
        if self._views is None and self._base is None:
            repoint(self, v)
        else:
            rebind(self, v)
        return self
    return op


cpdef repoint(ArrayBase a, Var v):
    """Point array ``a`` at variable ``v``: the live-array counts moved, ``v`` listed among the
    pending arrays if it is pending. The first step of every write (`coerce.rebind`, which
    then makes views follow and writes a base; an in-place operator on an array with neither
    stops here)."""
    a._v.nref -= 1
    v.nref += 1
    a._v = v
    if v.owner is not None:
        _live.append(v)


def binary(op, fn, types, coerce_pair, cast, broadcast_shapes, str dunder=None):
    """The elementwise function of two-operand row ``fn`` (op ``op``), and the operators
    ``__{dunder}__`` and ``__r{dunder}__`` of the array object (None without ``dunder``):
    the same function, except that they return NotImplemented for an operand that answers
    them itself (`defers_to`)."""
    cdef _TypesMemo memo = _TypesMemo(fn, types)
    cdef _ScalarMemo scalar = _ScalarMemo()
    # an integer array to a negative Python int is NumPy's ValueError (C truncates 2**-1 to 0)
    cdef bint is_pow = fn.name == "pow"
    # the last two broadcasts of two different shapes (a step's ``x @ w1 + b1`` and
    # ``h @ w2 + b2`` alternate), compared by identity, then by value
    cdef object b1 = None, b2 = None, bout = None, c1 = None, c2 = None, cout = None

    def build(str other_op):
        # ``other_op``: None for the namespace function, else the operator the non-Array
        # operand is asked for when lazyarr cannot take it (see `defers_to`)
        def f(x1, x2, /):
            nonlocal b1, b2, bout, c1, c2, cout
            cdef Var v1, v2
            cdef Py_ssize_t d1, d2
            t1 = type(x1)
            t2 = type(x2)
            if t1 is Array and t2 is Array:
                v1 = (<ArrayBase>x1)._v
                v2 = (<ArrayBase>x2)._v
                dt = v1.dtype
                if v2.dtype is not dt:
                    v1, v2, dt = coerce_pair(x1, x2)
            elif t1 is Array and (t2 is float or t2 is int) and \
                    _inexact((<ArrayBase>x1)._v.dtype):
                v1 = (<ArrayBase>x1)._v
                dt = v1.dtype
                v2 = scalar.get(x2, dt)
            elif t2 is Array and (t1 is float or t1 is int) and \
                    _inexact((<ArrayBase>x2)._v.dtype):
                v2 = (<ArrayBase>x2)._v
                dt = v2.dtype
                v1 = scalar.get(x1, dt)
            else:
                if is_pow and t2 is int and x2 < 0 and isinstance(x1, ArrayBase) and \
                        (<ArrayBase>x1)._v.dtype.kind in "iu":
                    from ..graph.userline import where
                    raise ValueError(f"integers to negative integer powers are not allowed: "
                                     f"{(<ArrayBase>x1)._v.dtype} ** {x2} ({where()})")
                try:
                    v1, v2, dt = coerce_pair(x1, x2)
                except TypeError:
                    if other_op is not None and \
                            defers_to(x1 if isinstance(x2, ArrayBase) else x2, other_op):
                        return NotImplemented
                    raise
            r = memo.get(dt)
            ct = r[0]
            if v1.dtype is not ct and v1.dtype != ct:
                v1 = cast(v1, ct)
            if v2.dtype is not ct and v2.dtype != ct:
                v2 = cast(v2, ct)
            s1 = v1.shape
            s2 = v2.shape
            if s1 is not s2:
                if type(s1) is not tuple or type(s2) is not tuple:
                    s1 = broadcast_shapes(s1, s2)
                elif PyTuple_GET_SIZE(s2) == 0:  # a 0-d side is told by its length
                    pass
                elif PyTuple_GET_SIZE(s1) == 0:
                    s1 = s2
                elif s1 == s2:
                    pass
                elif (s1 is b1 or s1 == b1) and (s2 is b2 or s2 == b2):
                    s1 = bout
                elif (s1 is c1 or s1 == c1) and (s2 is c2 or s2 == c2):
                    s1 = cout
                else:
                    out = broadcast_shapes(s1, s2)  # raises for shapes that do not broadcast
                    c1, c2, cout = b1, b2, bout
                    b1, b2, bout = s1, s2, out
                    s1 = out
            d1 = v1.depth
            d2 = v2.depth
            return wrap(node1(op, (v1, v2), r[1], s1, (d1 if d1 > d2 else d2) + 1, 0))

        return f

    if dunder is None:
        return build(None), None, None
    operator = build(f"__r{dunder}__")
    swapped = build(f"__{dunder}__")

    def reflected(x1, x2, /):
        return swapped(x2, x1)

    return build(None), operator, reflected


# ---- realization: the trace-cache hit path ---------------------------------------------------

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from libc.string cimport memcmp

import os as _os
import threading
from collections import OrderedDict

from ..graph._walk cimport Walk, _empty_list, _meets, _recycle, _release, _start
from ._donate cimport dead_leaves, donated_args

cdef object _prepare = None    # materialize._prepare: the miss path (cut, compile, store)
cdef object _symbolic = None   # materialize._raise_symbolic
cdef TraceCache _cache = None  # materialize.trace_cache
#: how many recent keys a trace cache compares before a dict lookup (an eager loop's
#: realizations are a few keys, repeated)
cdef Py_ssize_t N_RECENT = 4


cdef void _resite(exc, Entry entry, list asked):
    """Name the lines of the graph that ran (not of the one ``entry`` was built from) in a
    run-time error's note: the cut is walked again, only on this error path."""
    if not entry.sites or getattr(exc, "_lazyarr_node", None) is None:
        return
    try:
        from ..exec_cpu.errors import resite
        from ..graph._walk import cut

        steps = cut(asked, [])[1]
        resite(exc, entry.sites, [st[0] for st in steps])
    except Exception:  # naming a line must not replace the error
        pass


cdef class Entry:
    """A trace-cache entry: the ``program`` (``program(args) -> results``) and the
    ``positions`` of the cut's leaves whose data are its arguments (small constants are baked
    into it)."""

    cdef readonly object program
    cdef readonly tuple positions
    #: the user sites of the cut's applies it was built from (cut order): an error while it
    #: runs for another graph of that structure names that graph's lines (`errors.resite`)
    cdef readonly tuple sites
    #: the cut's ops: the key holds their addresses (`Op.interned`)
    cdef readonly tuple keep
    #: the program writes results into dead input buffers (`_donate`): a failed run may have
    #: overwritten them, so it is not run again
    cdef readonly bint donates
    #: ... and has ops that may raise, which run before it writes any (`exec_cpu.linker`): a
    #: run that fails in one of them wrote none
    cdef readonly bint raises_first

    def __init__(self, program, tuple positions, tuple sites=(), tuple keep=(),
                 bint donates=False, bint raises_first=False):
        self.program = program
        self.positions = positions
        self.sites = sites
        self.keep = keep
        self.donates = donates
        self.raises_first = raises_first

    def promote(self, program):
        """Run ``program`` from now on: a provisional program's, once its kernels are built
        (`exec_cpu.tiering`; the same graph, so positions and donation stay)."""
        self.program = program


cdef class TraceCache:
    """Bounded LRU map from structural keys (`bytes`) to `Entry`, with hit/miss counters."""

    cdef readonly object _d
    cdef public Py_ssize_t maxsize, hits, misses
    #: the entry used last (most recently used already: no reordering on a repeated hit)
    cdef object _last
    #: the keys (`bytes`) and entries of the last few distinct hits or stores, most recent
    #: first: a realization compares its key words with them (`_recent`) before it makes a
    #: `bytes` key, hashes it and looks it up
    cdef list _rkeys, _rentries
    #: programs kept beside the cache (`materialize.ScalarFamilies`), cleared with it
    cdef public object families

    def __init__(self, Py_ssize_t maxsize=2048):
        self.maxsize = maxsize
        self.families = None
        self._d = OrderedDict()
        self.hits = self.misses = 0
        self._rkeys, self._rentries = [], []

    cdef object _recent(self, const char* p, Py_ssize_t nbytes, bytes tail=b""):
        """The entry of a recent key whose bytes are ``p[:nbytes]`` then ``tail`` (counted as
        a hit, made most recent), or None (not counted: the caller looks the key up with
        `_hit`)."""
        cdef Py_ssize_t i, nt = PyBytes_GET_SIZE(tail)
        cdef PyObject* k
        for i in range(PyList_GET_SIZE(self._rkeys)):
            k = PyList_GET_ITEM(self._rkeys, i)
            if PyBytes_GET_SIZE(<object>k) == nbytes + nt and \
                    memcmp(PyBytes_AS_STRING(<object>k), p, nbytes) == 0 and \
                    memcmp(PyBytes_AS_STRING(<object>k) + nbytes, PyBytes_AS_STRING(tail),
                           nt) == 0:
                key = <object>k  # a reference of its own: `_remember` takes it out of the list
                e = <object>PyList_GET_ITEM(self._rentries, i)
                self.hits += 1
                if e is not self._last:
                    self._d.move_to_end(key)
                    self._last = e
                if i:
                    self._remember(key, e)
                return e
        return None

    cdef int _remember(self, object key, object entry) except -1:
        """Put ``key`` and ``entry`` first among the recent ones (at most `N_RECENT`)."""
        cdef list ks = self._rkeys
        cdef Py_ssize_t i
        for i in range(len(ks)):
            if ks[i] is key:
                del ks[i]
                del self._rentries[i]
                break
        else:
            if len(ks) >= N_RECENT:
                ks.pop()
                self._rentries.pop()
        ks.insert(0, key)
        self._rentries.insert(0, entry)
        return 0

    cdef object _hit(self, object key):
        """The entry under ``key`` (counted, made most recent), or None (counted as a miss)."""
        cdef PyObject* e = PyDict_GetItem(self._d, key)
        if e == NULL:
            self.misses += 1
            return None
        self.hits += 1
        if <object>e is not self._last:
            self._d.move_to_end(key)
            self._last = <object>e
        return <object>e

    def get(self, key):
        """The entry under ``key`` or None, counted as a hit or a miss."""
        return self._hit(key)

    def count_hit_after_miss(self) -> None:
        """Count the last miss as a hit: a program kept beside the cache served it (a
        `materialize.scalar_families` program), nothing was compiled."""
        self.misses -= 1
        self.hits += 1

    def put(self, key, entry) -> None:
        """Store ``entry`` under ``key`` as the most recent; the least recent goes past
        ``maxsize``."""
        self._d[key] = entry
        self._last = entry
        del self._rkeys[:], self._rentries[:]  # a replaced or evicted key is not recent
        if len(self._d) > self.maxsize:
            self._d.popitem(last=False)

    def clear(self) -> None:
        """Drop every program and reset the counters."""
        self._d.clear()
        if self.families is not None:
            self.families.clear()
        self._last = None
        del self._rkeys[:], self._rentries[:]
        self.hits = self.misses = 0

    def __len__(self):
        return len(self._d)

    def info(self) -> dict:
        """``hits``, ``misses``, ``size`` and ``maxsize``."""
        return {"hits": self.hits, "misses": self.misses, "size": len(self._d),
                "maxsize": self.maxsize}


def bind_realize(TraceCache cache, prepare, raise_symbolic):
    """Set `materialize`'s trace cache and the Python parts of `realize` (miss, the error of
    a value asked of a symbolic input)."""
    global _cache, _prepare, _symbolic
    _cache, _prepare, _symbolic = cache, prepare, raise_symbolic


cdef list _meet_live(list nodes, list live):
    """Pending variables held by user arrays (``live``, pruned) that depend on a node of this
    cut (the applies ``nodes``, the latest walk), without being in it (an SGD step's new
    parameters when its loss is read): computing them in the same program costs only their own
    nodes, and makes them leaves, so the next step of an eager loop has the same structure.
    Variables over symbolic inputs (a trace) are left alone, and so is everything when the
    cut has a lazy op (an untaken branch must not run). `realize` calls this only when the
    user holds pending arrays other than those asked."""
    cdef Py_ssize_t i
    for i in range(PyList_GET_SIZE(nodes)):
        if (<Apply>PyList_GET_ITEM(nodes, i)).op.lazy:
            return []
    # the walks stop after a budget proportional to the cut: many unrelated pending arrays
    # must not make every realization slow (those left unvisited simply stay pending)
    return _meets(live, 2 * PyList_GET_SIZE(nodes) + 512)


cdef bint _only_asked(list live, list asked):
    """True when every pending variable the live registry holds for a user array is among
    ``asked`` (no live-array search needed; the registry is not changed)."""
    cdef Var v
    cdef Py_ssize_t i, j, n = len(asked)
    for i in range(PyList_GET_SIZE(live)):
        v = <Var>PyList_GET_ITEM(live, i)
        if v.nref and v.owner is not None:
            for j in range(n):
                if <object>PyList_GET_ITEM(asked, j) is v:
                    break
            else:
                return False
    return True


def realize(vars):
    """`_realize_list`: compute every pending variable in ``vars`` (a list of `Var`)."""
    _realize_list(list(vars))


cdef Entry _find(bytes key, list asked, bytes dead, list scalars=None):
    """The entry of ``key`` (words, then the donation suffix ``dead``) when no recent key
    matched: the cache's, a scalar family's (``scalars``: the walk's `Walk.scalars`), or
    what `materialize._prepare` builds or finds for ``asked``; remembered as recent when it
    is the cache's (a scalar family's program is not)."""
    cdef Entry entry = _cache._hit(key)
    if entry is None:
        if scalars:
            entry = _family_entry(key, dead, scalars)
            if entry is not None:
                return entry
        entry, stored = _prepare(asked, key, dead)
        if not stored:
            return entry
    _cache._remember(key, entry)
    return entry


cdef bint _want_scalars():
    """Whether walks should record the 0-d constants' places (`Walk.scalars`): some family
    of `materialize.scalar_families` exists, whose program a miss may find (`_family_entry`)."""
    fams = _cache.families
    return fams is not None and len(fams) > 0


cdef Entry _family_entry(bytes key, bytes dead, list scalars):
    """The program of ``key``'s scalar family when it serves these constants' values as they
    are (`ScalarFamilies.known_words`: the walk recorded where the values sit, so no second
    walk), counted as a hit; else None (`materialize._prepare` decides)."""
    fams = _cache.families
    fam = fams.known_words(key, dead, scalars)
    if fam is None:
        return None
    fams.count_hit()
    _cache.count_hit_after_miss()
    return <Entry>fam.payload


cdef int _run_donating(Walk wk, list pending, Py_ssize_t n_asked, Py_ssize_t n_own,
                       bytes dead) except -1:
    """`_realize_list`'s lookup, run and write-back when leaves of the cut are dead buffers
    (`_donate`): the key (the walk's closed words, then ``dead``) says which, and the program
    may write its results into them (after every op that may raise has run:
    `exec_cpu.linker._donation_order`). Returns 1 when the run failed with live arrays joined
    and wrote no dead buffer: the asked ones are then to be computed alone."""
    cdef Entry entry
    cdef list leaves = wk.leaves
    entry = _cache._recent(<char*>wk.w.p, wk.w.n * 8, dead)
    if entry is None:
        entry = _find(PyBytes_FromStringAndSize(<char*>wk.w.p, wk.w.n * 8) + dead,
                      pending[:n_asked], dead, wk.scalars)
    pos = entry.positions
    cdef list args = [(<Var>PyList_GET_ITEM(leaves, <Py_ssize_t>p)).data for p in pos]
    cdef list given = donated_args(pos, dead) if entry.donates else []
    for j in given:
        cnp.PyArray_ENABLEFLAGS(<cnp.ndarray>args[j], cnp.NPY_ARRAY_WRITEABLE)
    try:
        results = entry.program(args)
    except BaseException as exc:
        for j in given:  # locked again, whatever the run wrote
            cnp.PyArray_CLEARFLAGS(<cnp.ndarray>args[j], cnp.NPY_ARRAY_WRITEABLE)
        if isinstance(exc, Exception):
            # an op that may raise failed before any write; memory may run out after one
            if n_asked != n_own and (not entry.donates or (
                    entry.raises_first and not isinstance(exc, MemoryError))):
                return 1
            _resite(exc, entry, pending[:n_asked])
        raise
    for j in given:
        args[j] = None  # a result in a donated buffer is locked as it is, not viewed
    _write_back(pending, results, args)
    return 0


#: realizations run one at a time: a trace-cache miss walks its cut twice (the key, then the
#: program, with Python and compilation between), and another thread's realization would make
#: leaves of part of it meanwhile; kernels release the GIL, so a waiting thread runs no
#: Python. Re-entrant: a failed shared realization computes the asked values again.
cdef object _lock_acquire = None, _lock_release = None


def _new_lock():
    """A new realization lock (its bound acquire and release): at import, and in the child
    of a ``fork()`` (the parent's may be held by one of its threads, which the child does
    not have)."""
    global _lock_acquire, _lock_release
    lock = threading.RLock()
    _lock_acquire, _lock_release = lock.acquire, lock.release


_new_lock()
_os.register_at_fork(after_in_child=_new_lock)


cdef _realize_list(list vars, bint share=True):
    """`_realize_locked` under the realization lock; if it fails, the held variables of
    ``vars`` still pending are listed again (`_relist_held`)."""
    _lock_acquire()
    try:
        _free_unread_dropped()
        _realize_locked(vars, share)
    except BaseException:
        _relist_held(vars)
        raise
    finally:
        _lock_release()


cdef int _free_unread_dropped() except -1:
    """Free now (`release_dropped`) the graphs of the pending variables listed
    that no Array holds and nothing reads (the list and their Apply alone refer to them):
    built and dropped unread. The realization drops such entries from the registry, which
    that freeing works from; their graphs, and the inputs they hold, then waited for the
    collector. Nothing is called when there is none (an eager step's dropped intermediates
    are read by its loss)."""
    global _dropped
    for x in _live:  # references: the list's, the Apply's outputs', this loop's
        if not (<Var>x).nref and (<Var>x).owner is not None and Py_REFCNT(x) <= 3:
            break
    else:
        return 0
    x = None
    _dropped = 0
    _release_dropped()
    return 0


def release_dropped():
    """Unlist the pending variables no user array holds any more (`wrap` calls this every
    `DROPPED_PRUNE_AT` of them) and free their graphs at once where nothing else holds them
    (`graph._walk.release_cut`: a pending Var and its Apply refer to each other, so a graph
    built and dropped unread, and the input buffers it reads, waited for a collection).
    Other entries stay as they are."""
    _release_dropped()


cdef int _release_dropped() except -1:
    cdef list live = _live, keep = [], roots = []
    cdef dict dropped = {}
    cdef Py_ssize_t i
    for i in range(PyList_GET_SIZE(live)):
        x = <object>PyList_GET_ITEM(live, i)
        if (<Var>x).nref or (<Var>x).owner is None:
            keep.append(x)
        else:
            dropped[PyLong_FromVoidPtr(<void*>x)] = x  # (listed twice: once)
    x = None
    if not dropped:
        return 0
    live[:] = keep
    keep = None
    # only those nothing reads (no node of a graph still held): the others are freed with
    # their readers (an eager step's intermediates, read by its loss, cost no walk)
    for x in dropped.values():  # references: the dict's, the Apply's outputs', this loop's
        if Py_REFCNT(x) <= 3:
            roots.append(x)
    x = None
    dropped = None
    if roots:
        nodes = _unread_nodes(roots)
        roots = None  # no reference of ours may count as a holder
        _release(nodes)
    return 0


def unread_nodes(list roots):
    """The applies of the graph above ``roots`` (pending Vars nothing reads) that only it
    reads: an input is walked into once every reader it has is one of the graph's applies and
    no user array holds it. The rest (a long pending chain a user's array extends, read here
    and by its next step) is not walked: each release would walk it again."""
    return _unread_nodes(roots)


cdef list _unread_nodes(list roots):
    cdef list nodes = [], stack = []
    cdef set seen = set()
    cdef dict readings = {}
    cdef Py_ssize_t k
    for v in roots:
        stack.append((<Var>v).owner)
    v = None
    while stack:
        ap = stack.pop()
        if not isinstance(ap, Apply):  # `Var.owner` is public: walk only what is an Apply
            continue
        key = PyLong_FromVoidPtr(<void*>ap)
        if key in seen:
            continue
        seen.add(key)
        nodes.append(ap)
        for x in (<Apply>ap).inputs:
            if (<Var>x).owner is None or (<Var>x).nref:
                continue
            key = PyLong_FromVoidPtr(<void*>x)
            k = readings.get(key, 0) + 1
            readings[key] = k
            # references besides its readers' ``inputs`` tuples: its Apply's outputs', and
            # this loop's
            if k == Py_REFCNT(x) - 2:
                stack.append((<Var>x).owner)
        x = None
        ap = None
    return nodes


cdef int _relist_held(list vars) except -1:
    """List again in the live registry the variables of ``vars`` that a user array holds and
    that are still pending: a realization that was asked for all the held ones empties the
    registry before its run, and `wrap` lists a variable only when its first Array is made."""
    cdef Var v
    for x in vars:
        v = <Var>x
        if v.nref and v.owner is not None:
            for y in _live:
                if y is v:
                    break
            else:
                _live.append(v)
    return 0


cdef _realize_locked(list vars, bint share=True):
    """Compute every pending variable in ``vars`` in one program and make them leaves
    (`materialize.realize`: the walk and its key, live arrays that share the program (unless
    not ``share``), the cached program or a new one, the run, write-back, freeing the nodes
    nothing else holds). ``vars`` is the caller's new list: it may become the list of pending
    variables, and grow. Where a live array that joined them fails (its op raises), the asked
    ones are computed alone: the error stays with the array that raises it."""
    cdef list pending = vars
    for v in vars:
        if (<Var?>v).owner is None:
            pending = [v for v in vars if (<Var>v).owner is not None]
            break
    cdef list extras = []
    cdef list args, leaves
    cdef Py_ssize_t n_asked, n_live = 0, i, n0
    cdef Walk wk
    cdef Entry entry
    cdef tuple pos
    cdef bint only = True
    cdef bint joined = False  # live arrays met beyond the cut joined the asked ones
    if not pending:
        for v in vars:
            if (<Var>v).data is None:
                _symbolic(v)
        return
    cdef Py_ssize_t n_own = len(pending)
    cdef bint scalars = _want_scalars()
    wk = _start(pending, extras, False, scalars)
    if _live and share:
        only = _only_asked(_live, pending)
        if only:
            n_live = len(_live)  # all dead or asked: unlisted before the run
        else:
            _live[:] = held_pending(_live)
            more = _meet_live(wk.nodes, _live)
            if more:
                joined = True
                pending += more
                if not wk._extend(more):
                    extras = []
                    wk = _start(pending, extras, False, scalars)
    n_asked = len(pending)
    if extras:
        pending += extras
    if n_live:
        # all dead or asked: unlisted now, so that `dead_leaves` counts only the references
        # that outlive the realization
        if n_live == PyList_GET_SIZE(_live):
            _empty_list(_live)  # its item array stays for the next step's arrays
        else:
            del _live[:n_live]
    n0 = wk._close()  # the key's words, before `dead_leaves` renumbers the cut's variables
    dead = dead_leaves(wk.leaves, wk.nodes, pending)
    if dead:
        # a program that may raise takes no dead buffer: only it is run again when it fails
        if _run_donating(wk, pending, n_asked, n_own, dead):
            wk.w.n = n0
            _realize_locked(pending[:n_own], False)
            return
        wk.w.n = n0
        _release(wk.nodes)
        if joined or extras:
            _live[:] = held_pending(_live)
        return
    try:
        entry = _cache._recent(<char*>wk.w.p, wk.w.n * 8)
        if entry is None:
            key = PyBytes_FromStringAndSize(<char*>wk.w.p, wk.w.n * 8)
            wk.w.n = n0
            entry = _find(key, pending[:n_asked], b"", wk.scalars)
        else:
            wk.w.n = n0
        # a symbolic leaf keys differently from a leaf with data, so a hit never lacks data
        leaves = wk.leaves
        pos = entry.positions
        args = [(<Var>PyList_GET_ITEM(leaves, <Py_ssize_t>pos[i])).data
                for i in range(len(pos))]
        # results are locked read-only (a view where an op handed back its input, a user's
        # array)
        _write_back(pending, entry.program(args), args)
    except Exception as exc:
        if n_asked == n_own:  # nothing joined: the asked values themselves fail
            if entry is not None:
                _resite(exc, entry, pending[:n_asked])
            raise
        _realize_locked(pending[:n_own], False)
        return
    _release(wk.nodes)  # the nodes above the new leaves, freed now, not by a collection
    if joined or extras:
        # the joined arrays are leaves now: unlisted, so that their buffers go with their
        # last array (listed, they waited for the next realization)
        _live[:] = held_pending(_live)
    leaves = None
    _recycle(wk)
