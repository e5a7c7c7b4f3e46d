# cython: language_level=3
"""The per-call work of the transforms in C: an eager training loop calls ``value_and_grad``
every step, and on a gradient-cache hit nothing in it needs Python but the user's function.

`Args` gives the differentiated arguments fresh symbolic inputs and binds them afterwards;
`ForwardIndex` walks the traced forward graph and keys it; `instantiate` clones a recorded
`cache.GradTemplate` onto a forward graph of the same key. The rules for what a transform does
are documented in `transforms` and `cache`; this module only runs them.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcmp

from ..graph._ir cimport Apply, Var, user_site

import gc as _gc

import numpy as _np

from ..graph._ir import build_steps
from ..graph.scalar_families import ScalarFamilies, family_key
from ..graph._pytree import flatten, unflatten
from ..graph._walk import release_cut, walk
from ..graph.userline import site_location, where

# set by `bind` (transforms and the array front end import this module first)
cdef object _wrap = None           # array._front.wrap
cdef type _ArrayBase = None        # array._front.ArrayBase
cdef object _primal_var = None     # transforms._primal_var: a non-Array leaf's variable
cdef object _bind_node = None      # transforms.bind: binding to a value that is not a leaf
cdef object _shape_of = None       # util.input_shape: a symbolic input's shape (None: run time)
cdef object _not_differentiable = None  # transforms._not_differentiable: raises TypeError
#: the usual dtypes of a differentiated leaf, accepted by identity before the kind is read
cdef object _f32 = _np.dtype(_np.float32), _f64 = _np.dtype(_np.float64)


def bind(wrap, array_base, primal_var, bind_node, shape_of, not_differentiable):
    """Give this module the Python helpers it calls off the common path."""
    global _wrap, _ArrayBase, _primal_var, _bind_node, _shape_of, _not_differentiable
    _wrap, _ArrayBase, _primal_var = wrap, array_base, primal_var
    _bind_node, _shape_of, _not_differentiable = bind_node, shape_of, not_differentiable


#: `flatten`'s structure of a list of n leaves, per n (an eager step's parameter list)
cdef dict _list_structs = {}


cdef tuple _list_struct(Py_ssize_t n):
    s = _list_structs.get(n)
    if s is None:
        s = _list_structs[n] = flatten([0] * n)[1]
    return <tuple>s


cdef inline bint _known(tuple shape):
    """No size of ``shape`` is None (unknown until run)."""
    for d in shape:
        if d is None:
            return False
    return True


cdef class Args:
    """The positional arguments of ``f`` with the differentiated ones (``nums``) replaced by
    fresh symbolic variables of their leaves' dtypes and shapes (pytrees flattened):
    ``args`` to call ``f`` with, ``vars`` (per argument) and ``flat`` the fresh variables,
    ``primals`` the variables they stand for. ``check``: only floating/complex leaves."""

    cdef public list args, structs, vars, primals, flat
    cdef public tuple nums
    #: the transform called (its errors name it)
    cdef public str fname

    def __init__(self, args, tuple nums, str fname, bint check=True):
        self._fill(args, nums, fname, check)

    cdef int _fill(self, args, tuple nums, str fname, bint check) except -1:
        cdef Var p, s
        cdef Py_ssize_t k, n
        cdef list leaves, vs, wrapped
        cdef bint plain
        self.args = list(args)
        self.nums = nums
        self.fname = fname
        self.structs, self.vars, self.primals, self.flat = [], [], [], []
        for i in nums:
            t = args[i]
            # a list of Arrays (an eager step's parameters) is its own list of leaves
            plain = type(t) is list
            if plain:
                for x in <list>t:
                    if type(x) is not _Array:
                        plain = False
                        break
            if plain:
                leaves = <list>t
                struct = _list_struct(len(leaves))
            else:
                leaves, struct = flatten(t)
            n = len(leaves)
            vs, wrapped = [], []
            for k in range(n):
                x = leaves[k]
                p = x._v if isinstance(x, _ArrayBase) else _primal_var(x)
                shape = p.shape
                if not _known(shape):
                    shape = _shape_of(p)
                dt = p.dtype
                if check and not (dt is _f32 or dt is _f64) and dt.kind not in "fc":
                    _not_differentiable(fname, i, k, n, dt)
                s = Var.__new__(Var)
                s.dtype = dt
                s.shape = shape
                self.primals.append(p)
                vs.append(s)
                wrapped.append(_wrap(s))
            self.structs.append(struct)
            self.vars.append(vs)
            self.flat.extend(vs)
            self.args[i] = wrapped if plain else unflatten(struct, wrapped)
        return 0

    def bind(self):
        """Give the symbolic inputs their arguments' values (after differentiating): the data
        of a realized leaf, else an identity node over the value (`transforms.bind`)."""
        cdef Var s, p
        cdef Py_ssize_t k
        for k in range(len(self.flat)):
            s = <Var>self.flat[k]
            p = <Var>self.primals[k]
            if p.owner is None and p.data is not None:
                s.data = p.data
            else:
                _bind_node(s, p)

    def rebuild(self, list flat, bint single):
        """Per-argument pytrees of ``flat`` (one entry per fresh variable); the single tree
        when ``single``, else a tuple of them."""
        if single and len(self.structs) == 1 and \
                self.structs[0] is _list_structs.get(len(flat)):
            return list(flat)  # a list of Arrays taken as it was (`_fill`)
        cdef list out = []
        cdef Py_ssize_t k = 0, n
        for struct, vs in zip(self.structs, self.vars):
            n = len(<list>vs)
            out.append(unflatten(struct, flat[k:k + n]))
            k += n
        return out[0] if single else tuple(out)


cdef class ForwardIndex:
    """A traced forward graph walked with `graph._walk.walk` (leaves, distinct nodes in
    topological order, the structural key the trace cache uses), plus where each
    differentiated input sits among the leaves and the types of those it does not read:
    ``key`` is equal for two graphs exactly when they compute the same thing from leaves of
    the same types with the inputs in the same places, and their unread inputs have the same
    types (their gradients are zeros of those)."""

    cdef public list inputs, leaves, nodes
    cdef public object key
    #: the 0-d small constants' places in ``key`` (`_walk.cut_scalars`: a template miss
    #: looks for the family whose lifted constants make it a hit, `_lifted_index`)
    cdef public list scalars

    def __init__(self, outputs, inputs):
        cdef Py_ssize_t i, j, n
        wk = walk(list(outputs), None, True)
        self.inputs = list(inputs)
        self.leaves, self.nodes, self.scalars = wk.leaves, wk.nodes, wk.scalars
        n = len(self.leaves)
        pos = []
        absent = []  # the types of inputs the graph does not read: their zeros take them
        for v in self.inputs:
            j = -1
            for i in range(n):
                if self.leaves[i] is v:
                    j = i
                    break
            pos.append(j)
            if j < 0:
                absent.append(((<Var>v).dtype, (<Var>v).shape))
        self.key = (wk.key(), tuple(pos), tuple(absent))

    def addresses(self) -> dict:
        """Where each forward value is found: ``(-1, k)`` input k, ``(-2, i)`` leaf i,
        ``(s, j)`` output j of node s."""
        where = {}
        for i, v in enumerate(self.leaves):
            where[v] = (-2, i)
        for s, ap in enumerate(self.nodes):
            for j, o in enumerate((<Apply>ap).outputs):
                where[o] = (s, j)
        for k, v in enumerate(self.inputs):
            where.setdefault(v, (-1, k))
        return where

    def dynamic(self) -> bool:
        """Whether some size is known only from data (a rule may have read it)."""
        return (any(None in v.shape for v in self.leaves)
                or any(None in o.shape for ap in self.nodes for o in (<Apply>ap).outputs))

    cpdef object fetch(self, tuple where):
        """The value at an address given by `addresses` (for this graph or one of its key)."""
        cdef Py_ssize_t s = where[0], j = where[1]
        if s == -1:
            return self.inputs[j]
        if s == -2:
            return self.leaves[j]
        return (<Apply>self.nodes[s]).outputs[j]


def instantiate(Py_ssize_t n_all, list given, list steps, list outs, ForwardIndex index,
                call_site, bint arrays):
    """The results of a template (`cache.GradTemplate`: ``n_all`` values, ``given`` forward
    values and leaves, ``steps``, result numbers ``outs``) rebuilt over the values of
    ``index`` (same key as the template's), called from ``call_site``: Vars, or Arrays when
    ``arrays``."""
    return _instantiate(n_all, given, steps, outs, index, call_site, arrays)


cdef list _instantiate(Py_ssize_t n_all, list given, list steps, list outs, ForwardIndex index,
                       call_site, bint arrays):
    cdef list env = [None] * n_all
    for k, w, leaf in given:
        env[k] = index.fetch(w) if leaf is None else leaf
    build_steps(env, steps, index.nodes, call_site)
    if arrays:
        return [_wrap(env[k]) for k in outs]
    return [env[k] for k in outs]


# ---- the pending-depth bound, lifted while differentiating ----------------------------------

cdef object _lift = None     # array._front.lift_depth_bound
cdef object _restore = None  # array._front.restore_depth_bound


def bind_limits(lift, restore):
    """Give this module `array._front.lift_depth_bound` and `restore_depth_bound`."""
    global _lift, _restore
    _lift, _restore = lift, restore


cdef class DeepGraphs:
    """``with DeepGraphs():`` (`engine.deep_graphs`) lifts the pending-depth bound in this
    thread while differentiating or tracing, so that long pending chains are not realized as
    they are wrapped (that would cut the graph being differentiated, or need a traced value),
    and puts it back on leaving. Other threads keep theirs (`_front`'s per-thread count)."""

    cdef inline void enter(self) except *:
        _lift()

    cdef inline void leave(self) except *:
        _restore()

    def __enter__(self):
        self.enter()

    def __exit__(self, *exc):
        self.leave()


# ---- the gradient cache's store --------------------------------------------------------------

cdef class TemplateCache:
    """The gradient cache's LRU map from `ForwardIndex` keys to `cache.GradTemplate`, with
    its hit/miss counters and on/off switch (`cache` exposes it)."""

    cdef readonly object entries
    cdef public Py_ssize_t maxsize, hits, misses
    cdef public bint enabled
    #: the last hit (an eager loop asks for the same key every step): compared word for word
    #: before the new key's bytes are hashed
    cdef tuple _last_key
    cdef object _last_tpl

    def __init__(self, Py_ssize_t maxsize):
        from collections import OrderedDict
        self.entries = OrderedDict()
        self.maxsize = maxsize
        self.hits = self.misses = 0
        self.enabled = True
        self._last_key = None
        self._last_tpl = None

    cpdef object lookup(self, key):
        """The template under ``key`` (a hit, made most recent), or None (a miss; None
        uncounted when the cache is off)."""
        if not self.enabled:
            return None
        cdef tuple last = self._last_key
        if last is not None and type(key) is tuple and _same_key(<tuple>key, last):
            self.hits += 1
            return self._last_tpl
        tpl = self.entries.get(key)
        if tpl is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        if type(key) is tuple and len(<tuple>key) == 3 and type((<tuple>key)[0]) is bytes:
            self._last_key, self._last_tpl = key, tpl
        return tpl

    def store(self, key, tpl) -> None:
        """Keep ``tpl`` under ``key`` (nothing for None or when off); the least recently used
        goes past ``maxsize``."""
        if tpl is None or not self.enabled:
            return
        self._last_key = self._last_tpl = None
        self.entries[key] = tpl
        if len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every template and zero the counters."""
        self.entries.clear()
        self.hits = self.misses = 0
        self._last_key = self._last_tpl = None


cdef inline bint _same_key(tuple key, tuple last):
    """``key`` equals ``last`` (a ForwardIndex key: structural bytes, input positions, types
    of the inputs not read)."""
    if len(key) != 3:
        return False
    k0 = key[0]
    l0 = last[0]
    if type(k0) is not bytes or PyBytes_GET_SIZE(k0) != PyBytes_GET_SIZE(l0):
        return False
    if memcmp(PyBytes_AS_STRING(k0), PyBytes_AS_STRING(l0), PyBytes_GET_SIZE(k0)) != 0:
        return False
    return key[1] == last[1] and key[2] == last[2]


# ---- value_and_grad's call -------------------------------------------------------------------


cdef TemplateCache _templates = None
cdef type _Array = None            # array.Array
cdef object _basic = None          # graph.basic (its ``track_sites``)
cdef object _scalar_output = None  # transforms._scalar_output: the checked Var, or raises
cdef object _by_rules = None       # transforms._gradients_by_rules: the miss path
cdef object _disconnected = None   # transforms._check_disconnected: warn or raise
cdef object _record_call = None    # gradcall.GradientCall.record: a template's call op
cdef object _live_count = None      # array._front.live_count: a mark in live_pending
cdef object _drop_unheld = None     # array._front.drop_unheld: drop the unheld past a mark
#: cache hits on realized arguments become one `GradientCall` node (`set_call_nodes`)
cdef bint _call_nodes = True


def set_call_nodes(bint on):
    """Make eager ``value_and_grad`` hits one `gradcall.GradientCall` node (True) or clone
    the template's nodes; returns the previous setting (tests compare both)."""
    global _call_nodes
    cdef bint was = _call_nodes
    _call_nodes = on
    return was


def bind_grad(TemplateCache templates, array_cls, basic, scalar_output, by_rules,
              disconnected, record_call, live_count, drop_unheld):
    """Give `value_and_grad_call` the template store and its Python helpers."""
    global _templates, _Array, _basic, _scalar_output, _by_rules, _disconnected, _record_call
    global _live_count, _drop_unheld
    _templates, _Array, _basic = templates, array_cls, basic
    _scalar_output, _by_rules, _disconnected = scalar_output, by_rules, disconnected
    _record_call, _live_count, _drop_unheld = record_call, live_count, drop_unheld


cdef Var _scalar_var(object out, str fname):
    """The variable of ``f``'s result when it is a real floating 0-d Array, else
    `transforms._scalar_output`'s (which raises the errors, naming ``fname``)."""
    cdef Var v
    if type(out) is _Array:
        v = <Var>out._v
        if v.shape == () and v.dtype.kind == "f":
            return v
    return <Var?>_scalar_output(out, fname)


#: forward graphs that differ only in 0-d constants' values (`graph.scalar_families`): the
#: constants seen changing (a Python float of the loss that changes every step) become data
#: leaves, so one template (and one program) serves every value
families = ScalarFamilies()


cdef tuple _family_template(ForwardIndex index):
    """After a template miss: ``(template, index)``, the template this forward graph's family
    recorded over its lifted constants (`_lifted_index`) when the family serves these
    constants' values as they are (`ScalarFamilies.known`), and ``index`` with those constants
    as data leaves of their values (the template reads leaves by position, and a
    `GradientCall` over data leaves is one program for every value); else ``(None, index)``.
    No rewrite of the forward graph and no second walk."""
    scalars = index.scalars
    if not scalars or not len(families):
        return None, index
    fkey, values = family_key(index.key[0], scalars)
    fam = families.known((fkey, *index.key[1:]), values)
    if fam is None:
        return None, index
    _templates.misses -= 1  # the lookup's miss was served: a hit (misses count the rules)
    _templates.hits += 1
    cdef ForwardIndex lifted = ForwardIndex.__new__(ForwardIndex)
    lifted.inputs, lifted.nodes, lifted.key, lifted.scalars = (
        index.inputs, index.nodes, index.key, scalars)
    lifted.leaves = list(index.leaves)
    for j in fam.varying:
        lifted.leaves[scalars[j][0]] = _data_copy(<Var>index.leaves[scalars[j][0]])
    return fam.payload, lifted


cdef Var _data_copy(Var c):
    """A data leaf of constant ``c``'s value (a copy: the shared constant's buffer is no
    argument a program may write into)."""
    return Var(c.dtype, c.shape, None, 0, c.data.copy(), False, c.name)


cdef tuple _lifted_index(Var ov, list flat, ForwardIndex index):
    """After a template miss: ``(index, family)``, the index of the same forward graph with the
    0-d constants its family lifts replaced by data leaves of their values (no rule can read a
    data leaf's value, so the template recorded over it holds for every value; the family
    keeps it as its payload, `_family_template`); ``(None, None)`` while the family bakes
    them (or the graph has no 0-d constant)."""
    scalars = index.scalars
    if not scalars:
        return None, None
    fkey, values = family_key(index.key[0], scalars)
    fam, _changed = families.lift((fkey, *index.key[1:]), values)
    if fam is None or not fam.varying:
        return None, None
    swap = {}
    for j in fam.varying:
        c = <Var>index.leaves[scalars[j][0]]
        swap[c] = _data_copy(c)
    for ap in index.nodes:
        ins = (<Apply>ap).inputs
        for v in ins:
            if v in swap:
                (<Apply>ap).inputs = tuple([swap.get(x, x) for x in ins])
                break
    return ForwardIndex([ov], flat), fam


cdef tuple _gradients(Var ov, Args a, object mode, bint as_call):
    """``(value, gradients, forward, by_rules)``: the gradient of ``ov`` w.r.t. ``a``'s fresh
    variables (Arrays), binding them: cloned from a recorded template when the forward graph's
    key was seen, else by the rules (``by_rules`` True). ``as_call``: the value and gradients
    may come from one `gradcall.GradientCall` node (on a miss too, once the rules recorded the
    template): ``value`` is then its Array and ``forward`` the traced forward graph's nodes (no
    longer needed; on a miss the rules' graph over them is left to `value_and_grad_call`'s
    collection), else both are None."""
    cdef ForwardIndex index
    if not _templates.enabled:
        return None, _by_rules(ov, a, mode, None), None, True
    index = ForwardIndex([ov], a.flat)
    tpl = _templates.lookup(index.key)
    fam = None
    if tpl is None:
        tpl, index = _family_template(index)
        if tpl is None:
            lifted, fam = _lifted_index(ov, a.flat, index)
            if lifted is not None:
                index = lifted
                tpl = _templates.lookup(index.key)
                if tpl is not None:
                    fam.payload = tpl
    cdef list outs
    if tpl is None:
        grads = _by_rules(ov, a, mode, index)  # binds ``a``; records the template
        recorded = _templates.entries.get(index.key)  # just stored: no hit
        if fam is not None and recorded is not None:
            fam.payload = recorded
        tpl = recorded if as_call else None
        if tpl is not None:
            # the first call is the node the next ones are (one program for all, not one
            # for the rules' graph and one for the node); the rules warned already
            outs = _call_node(ov, a, index, tpl, user_site(0) if _basic.track_sites else None)
            if outs is not None:
                return outs[0], outs[1:], index.nodes, True
        return None, grads, None, True
    a.bind()
    site = user_site(0) if _basic.track_sites else None
    if as_call:
        outs = _call_node(ov, a, index, tpl, site)
        if outs is not None:
            grads = outs[1:]
            if mode != "zero":
                _disconnected(grads, a, tpl.flags, mode)
            return outs[0], grads, index.nodes, False
    grads = _instantiate(tpl.n_all, tpl.given, tpl.steps, tpl.outs, index, site, True)
    if mode != "zero":
        _disconnected(grads, a, tpl.flags, mode)
    return None, grads, None, False


cdef bint _same_sites(list nodes, tuple sites):
    """Each of ``nodes`` was built at the site recorded in ``sites``."""
    cdef Py_ssize_t i, n = len(nodes)
    cdef Apply ap
    if len(sites) != n:
        return False
    for i in range(n):
        ap = <Apply>nodes[i]
        s = sites[i]
        if ap._code is not None:
            if (type(s) is not tuple or (<tuple>s)[0] is not ap._code
                    or (<tuple>s)[1] != ap._lasti):
                return False
        elif ap._site is not s and ap._site != s:
            return False
    return True


def _same_lines(list nodes, tuple sites) -> bool:
    """Each of ``nodes`` was built on the file and line of the site recorded in ``sites``."""
    return len(nodes) == len(sites) and all(
        site_location((<Apply>ap).site) == site_location(s) for ap, s in zip(nodes, sites))


cdef list _call_node(Var ov, Args a, ForwardIndex index, tpl, site):
    """The value and gradients (Arrays) as the outputs of one `GradientCall` node, or None
    where a leaf or an argument holds no data (an enclosing trace's symbolic value, a pending
    argument) or the template has no call op."""
    cdef Var v
    for x in a.primals:
        v = <Var>x
        if v.owner is not None or v.data is None:
            return None
    for x in index.leaves:
        if (<Var>x).data is None:
            return None
    op = tpl.call_op
    if op is None:
        op = tpl.call_op = _record_call(index, ov, tpl) or False
    if op is False:
        return None
    if not _same_sites(index.nodes, op.sites):
        if not _same_lines(index.nodes, op.sites):
            return None
        # the same lines, other instructions (CPython reports another offset once it has
        # specialized an instruction): compare with this call's from now on
        op.sites = tuple([(<Apply>ap).site for ap in index.nodes])
    # the node's inputs (see `GradientCall.positions`): the leaves, each differentiated one
    # replaced by its primal, then the primals the forward graph does not read
    cdef list ins = list(index.leaves)
    cdef list primals = a.primals
    cdef tuple positions = op.positions
    cdef Py_ssize_t n, k, pos
    for k in range(len(positions)):
        pos = positions[k]
        if pos >= 0:
            ins[pos] = primals[k]
    for k in range(len(positions)):
        if <Py_ssize_t>positions[k] < 0:
            ins.append(primals[k])
    n = len(ins)
    cdef Py_ssize_t nout = op.nout
    cdef list env = ins + [None] * nout
    build_steps(env, op.call_steps, [], site)
    return [_wrap(env[k]) for k in range(n, n + nout)]


def value_and_grad_call(f, tuple args, dict kwargs, tuple nums, bint single, bint has_aux,
                        mode, str fname="value_and_grad"):
    """One call of ``value_and_grad(f, argnums, has_aux, mode)`` on ``args`` (``nums``: the
    resolved argnums, ``single``: an int argnums): ``(value, gradient)`` (see
    `transforms.value_and_grad`); errors name ``fname``, the transform called."""
    cdef DeepGraphs deep = DeepGraphs()
    cdef Args a
    cdef Var ov
    cdef Py_ssize_t mark = _live_count()
    deep.enter()
    try:
        a = Args.__new__(Args)
        a._fill(args, nums, fname, True)
        res = f(*a.args, **kwargs)
        if has_aux:
            if not isinstance(res, (tuple, list)):
                raise TypeError(f"{fname}(): with has_aux=True, f must return a pair "
                                f"(output, aux), got {type(res).__name__} ({where()})")
            if len(res) != 2:
                raise ValueError(f"{fname}(): with has_aux=True, f must return a pair "
                                 f"(output, aux), got {len(res)} values ({where()})")
            out, aux = res
        else:
            out = res
        ov = _scalar_var(out, fname)
        value, grads, forward, by_rules = _gradients(ov, a, mode, _call_nodes and not has_aux)
    finally:
        deep.leave()
    if value is not None:
        # the traced forward graph is garbage now (the call node recomputes it): unlist its
        # values from `materialize.live_pending` and free it at once, not at the next
        # collection (its symbolic inputs share the arguments' buffers, which the step's
        # updates could otherwise not take over)
        res = out = ov = None
        _drop_unheld(mark)
        release_cut(<list>forward)
        forward = None
        if by_rules:
            # the rules' graph over the forward one (with nodes no gradient reads: cotangents
            # of arguments not differentiated) is young cyclic garbage that holds the
            # arguments' buffers: collected now, this call's updates may take them over (and
            # the first step's program is the later steps', donation included)
            _gc.collect(1)
        out_arr = value
    else:
        out_arr = out if isinstance(out, _Array) else _wrap(ov)
    return ((out_arr, aux) if has_aux else out_arr), a.rebuild(grads, single)
