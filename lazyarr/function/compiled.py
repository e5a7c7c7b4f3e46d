"""`lazyarr.compile`: trace a function once per input signature, optimize and link once, call
the linked program with the least overhead.

A call flattens the arguments (pytrees of Arrays, NumPy arrays and Python scalars), looks the
signature up (structure, dtypes, shapes, static arguments, Python scalar values), traces ``f``
over symbolic inputs on a miss (`control.trace`, the mechanism ``scan`` and ``cond`` use) and
runs the program. Results are realized Arrays (leaves), arranged as ``f`` returned them.
"""

from __future__ import annotations

import functools
import inspect
import operator
import sys
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..array import coerce
from ..array.array_object import Array
from ..array.dtypes import ALL_DTYPES
from ..array.materialize import ConcretizationError, realize
from ..control import trace as T
from ..graph.userline import where
from . import _call
from .program import Program
from .pytree_code import make_flatten, make_matcher, value_key

_SCALARS = (bool, int, float, complex)
_SUPPORTED_DTYPES = frozenset(ALL_DTYPES)
_MISS = _call.Runner  # what `Runner.call` returns for arguments of another signature

#: programs a compiled function keeps, one per signature (the least recently used goes
#: first)
MAX_SIGNATURES = 64
#: distinct values of a signature's Python scalars that are traced and compiled; a call with
#: yet another value runs ``f`` as eager code, whose trace cache makes changing scalars
#: program arguments (as eager code bakes a constant's first values, then lifts it)
TRACED_VALUES = 2
#: what `Compiled._prepare` returns for a call to run as eager code
_EAGER = object()
#: value tuples run as eager code remembered per signature: one met again is traced (a
#: schedule's plateau)
EAGER_MEMORY = 16


def _argnums(nums: int | Sequence[int], what: str) -> tuple[int, ...]:
    """Argument numbers ``nums`` (one integer or a sequence of them: anything
    `operator.index` takes but bools, NumPy's integers too) as a tuple of ints."""
    one = _index(nums)
    try:
        t = (one,) if one is not None else tuple(_index(n) for n in nums)
    except TypeError:  # not iterable
        t = (None,)
    if any(n is None or n < 0 for n in t):
        raise TypeError(f"compile: {what} must be non-negative ints, got {nums!r} ({where()})")
    return t


def _index(n: Any) -> int | None:
    """Integer ``n`` as an int (`operator.index`), None for a bool or a non-integer."""
    if isinstance(n, (bool, np.bool_)):
        return None
    try:
        return operator.index(n)
    except TypeError:
        return None


class Compiled:
    """A compiled function: call it like ``f``. See `compile`."""

    def __init__(self, fn: Callable, static_argnums: tuple[int, ...],
                 donate_argnums: tuple[int, ...], trust_input: bool):
        self.fn = fn
        self.static_argnums = static_argnums
        self.donate_argnums = donate_argnums
        #: skip the checks and conversions of the arguments (see `compile`)
        self.trust_input = trust_input
        #: how many times ``fn`` was traced (once per new signature)
        self.n_traces = 0
        self._cache: OrderedDict = OrderedDict()
        #: per signature without its Python scalars' values: the value tuples traced
        self._scalar_values: dict = {}
        #: ``(matcher, scalars_of, dtypes, shapes, _ScalarValues)`` of the signature (scalars
        #: by type) last run as eager code: its calls with new values skip `_prepare`
        self._eager: tuple | None = None
        self._last: Program | None = None
        #: ``(program, stacked argnums, stacked leaf positions)`` of the last `loop`
        self._last_loop: tuple | None = None
        #: number of arguments -> `loop`'s default stacked argnums (neither static nor donated)
        self._default_stacked: dict[int, tuple] = {}
        self._signature: inspect.Signature | None = None  # ``f``'s, read on a keyword call
        #: argument number of each of ``f``'s positional-or-keyword parameters, by name
        self._position: dict[str, int] = {}
        #: the largest argument number named: a shorter positional call binds f's defaults
        self._last_argnum = max((*static_argnums, *donate_argnums), default=-1)
        functools.update_wrapper(self, fn)

    def __reduce__(self):
        """Pickled (and deep-copied) as ``f`` and the options: programs are built again. A
        module-level ``@compile`` function, whose name is this object, by that name."""
        module = sys.modules.get(getattr(self, "__module__", None) or "")
        obj = module
        for part in getattr(self, "__qualname__", "<locals>").split("."):
            obj = getattr(obj, part, None)
        if obj is self:
            return self.__qualname__
        return (Compiled, (self.fn, self.static_argnums, self.donate_argnums,
                           self.trust_input))

    def _bind(self, args: tuple, kwargs: dict) -> tuple:
        """``args`` and ``kwargs`` as ``f``'s positional arguments, which argument numbers and
        signatures refer to: up to the last parameter given or argument number named, those
        left out before it filled with their defaults (the arguments a positional call with
        the same values passes)."""
        if self._signature is None:
            self._signature = inspect.signature(self.fn)
            self._position = {name: i for i, (name, p)
                              in enumerate(self._signature.parameters.items())
                              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD}
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"compile: {e} ({where()})") from None
        # ``bound.kwargs`` also holds the parameters after one left to its default
        refused = [name for name in bound.kwargs if name not in self._position]
        if refused:  # f's own defaults of keyword-only parameters are left to f
            raise TypeError(f"compile: arguments to keyword-only parameters or **kwargs of f "
                            f"are not supported ({', '.join(refused)}) ({where()})")
        bound.apply_defaults()
        n = max(len(args), self._last_argnum + 1,
                *(self._position[name] + 1 for name in kwargs if name in self._position))
        return bound.args[:n]

    def _arguments(self, args: tuple, kwargs: dict) -> tuple:
        """``f``'s positional arguments for a call with ``args`` and ``kwargs``: bound by
        `_bind` when keywords are given or the call is too short for the argument numbers."""
        if kwargs or len(args) <= self._last_argnum:
            return self._bind(args, kwargs)
        return args

    # ---- the checked path -----------------------------------------------------------------
    def _prepare(self, args: tuple, stacked: Sequence[int] = (), eager_ok: bool = False):
        """``(program, flat data, flat leaves, stacked leaf positions)`` for ``args``; None
        when an argument is symbolic or built from a symbolic value (``f`` is being traced by
        an enclosing transform); with ``eager_ok``, `_EAGER` when the call should run ``f`` as
        eager code (`_values_vary`)."""
        nargs = len(args)
        for n in (*self.static_argnums, *self.donate_argnums, *stacked):
            if n >= nargs:
                raise TypeError(f"compile: argument number {n} given, but the call passes "
                                f"{nargs} arguments ({where()})")
        try:  # a static object's key takes its hash now (`pytree_code.StaticKey`)
            statics = tuple((i, type(args[i]), value_key(args[i]))
                            for i in self.static_argnums)
        except TypeError:
            raise TypeError(f"compile: static arguments must be hashable, got "
                            f"{[type(args[i]).__name__ for i in self.static_argnums]} "
                            f"({where()})") from None
        dyn_pos = [i for i in range(nargs) if i not in self.static_argnums]
        leaves: list = []
        structs = []
        starts = {}
        for i in dyn_pos:
            lv, st = T.flatten(args[i])
            starts[i] = (len(leaves), len(leaves) + len(lv))
            leaves += lv
            structs.append(st)
        struct = ("tuple", tuple(structs))
        donated = {k for i in self.donate_argnums if i in starts for k in range(*starts[i])}
        stacked_leaves = [k for i in stacked for k in range(*starts[i])]
        data: list = []
        objs: list = []
        types: list = []
        scalars: list = []
        pending = []
        for k, x in enumerate(leaves):
            if isinstance(x, Array):
                v = x._v
                if v.owner is not None:
                    pending.append(v)
                elif v.data is None:
                    return None
            elif isinstance(x, _SCALARS) or x is None:
                scalars.append((k, type(x), value_key(x)))
                continue
            elif type(x) is not np.ndarray or x.dtype not in _SUPPORTED_DTYPES:
                x = coerce.wrap(coerce.as_var(x))  # as eager code converts it
            objs.append(x)
        if pending:
            try:
                realize(pending)
            except ConcretizationError:  # an argument built from an enclosing trace's input
                return None
        for x in objs:
            d = x if type(x) is np.ndarray else x._v.data
            data.append(d)
        arr_pos = [k for k in range(len(leaves)) if not (isinstance(leaves[k], _SCALARS)
                                                         or leaves[k] is None)]
        index_of = {k: n for n, k in enumerate(arr_pos)}
        stacked_idx = [index_of[k] for k in stacked_leaves if k in index_of]
        for n, d in enumerate(data):
            if n in stacked_idx:
                if d.ndim == 0:
                    raise ValueError(f"compile: a stacked argument must have a leading step "
                                     f"axis, got a 0-d array ({where()})")
                types.append((d.dtype, d.shape[1:]))
            else:
                types.append((d.dtype, d.shape))
        try:
            key = ((struct, _dict_keys(struct)), tuple(types), tuple(scalars), statics,
                   len(args))
            hash(key)
        except TypeError:
            raise TypeError(f"compile: static arguments must be hashable, got "
                            f"{[t.__name__ for _i, t, _v in statics]} ({where()})") from None
        prog = self._cache.get(key)
        if prog is None:
            if eager_ok and scalars and self._values_vary(key):
                spec = _match_spec(args, self.static_argnums, scalar_types=True)
                self._eager = (make_matcher(spec), make_flatten(_scalars_only(spec)),
                               [t[0] for t in types], [t[1] for t in types],
                               self._scalar_state(key))
                return _EAGER
            match = make_matcher(_match_spec(args, self.static_argnums))  # before f runs
            prog = self._trace(args, dyn_pos, struct, leaves, arr_pos, types,
                               [index_of[k] for k in sorted(donated) if k in index_of])
            if scalars:
                self._scalar_state(key).traced.add(tuple(v for _k, _t, v in scalars))
            prog.match = match
            prog.runner.set_match(prog.match)
            self._cache[key] = prog
            if len(self._cache) > MAX_SIGNATURES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        self._last = prog
        return prog, data, objs, stacked_idx

    def _values_vary(self, key: tuple) -> bool:
        """Whether a call of signature ``key`` (a miss) should run as eager code: its Python
        scalars' values are neither among those traced for the signature without them
        (`TRACED_VALUES` at first) nor a value that recurs (run as eager code once before: a
        schedule's plateau, traced now); values that change on every call (a learning-rate
        schedule, a step count) run as eager code."""
        state = self._scalar_state(key)
        values = tuple(v for _k, _t, v in key[2])
        if values in state.traced or len(state.traced) < TRACED_VALUES:
            return False
        return state.eager_once(values)

    def _scalar_state(self, key: tuple) -> _ScalarValues:
        struct, types, scalars, statics, nargs = key
        base = (struct, types, tuple((k, t) for k, t, _v in scalars), statics, nargs)
        state = self._scalar_values.get(base)
        if state is None:
            state = self._scalar_values[base] = _ScalarValues()
            if len(self._scalar_values) > MAX_SIGNATURES:
                del self._scalar_values[next(iter(self._scalar_values))]
        return state

    def _run_eager(self, args: tuple) -> Any:
        """``f(*args)`` as eager code, its outputs realized together: what a call computes,
        with the trace cache's programs (which take changing scalars as arguments). As in a
        trace, ``f`` gets lazyarr Arrays for the arrays among the arguments, in containers and
        Arrays of its own: its writes into them (``x[0] = v``, ``d[k] = v``) do not reach the
        caller's, as they do not in a traced call."""
        full = list(args)
        for i, a in enumerate(args):
            if i not in self.static_argnums:
                leaves, struct = T.flatten(a)
                full[i] = T.unflatten(struct, [_fresh_array(x) for x in leaves])
        self._last = None  # no program ran: a trusted call next takes the checked path
        leaves, struct = T.flatten(self.fn(*full))
        try:
            vs = T.to_vars(leaves)
        except TypeError as exc:
            raise TypeError(f"compile: f must return arrays (or pytrees of arrays): "
                            f"{exc}") from None
        realize([v for v in vs if v.owner is not None])
        # new Arrays, never an argument itself nor a view of a caller's writable data, as a
        # program's results are
        return T.unflatten(struct, [coerce.wrap(coerce.snapshot(v)) for v in vs])

    def _trace(self, args, dyn_pos, struct, leaves, arr_pos, types, donate) -> Program:
        fn, nargs = self.fn, len(args)
        fixed = list(leaves)

        def body(*syms):
            for k, s in zip(arr_pos, syms):
                fixed[k] = s
            dyn = T.unflatten(struct, fixed)
            full = list(args)
            for i, a in zip(dyn_pos, dyn):
                full[i] = a
            return fn(*full[:nargs])

        flat_struct = ("tuple", tuple(("leaf",) for _ in arr_pos))
        traced = T.trace(body, types, flat_struct, hoist=True, what="compile")
        self.n_traces += 1
        if traced.extras:
            try:  # work that reads no argument runs once, now
                realize([v for v in traced.extras if v.owner is not None])
            except Exception:
                # some of it raised, and may be read only where a cond's branch is not
                # taken: traced again, work that may raise stays in the program (and raises
                # there when a call needs it, as eager code does)
                traced = T.trace(body, types, flat_struct, hoist="safe", what="compile")
                realize([v for v in traced.extras if v.owner is not None])
            for v in traced.extras:
                if v.data is None:
                    raise TypeError(f"compile: the function closes over a traced value "
                                    f"({v}); pass it as an argument instead ({where()})")
        extras = [v.data for v in traced.extras]
        in_struct = _arrays_only(("tuple", tuple(T.flatten(args[i])[1] if i in dyn_pos
                                                 else ("skip",) for i in range(nargs))),
                                 iter(isinstance(x, (Array, np.ndarray)) or not (
                                     isinstance(x, _SCALARS) or x is None) for x in leaves))
        return Program(traced, extras, len(arr_pos), donate, in_struct)

    # ---- calls ----------------------------------------------------------------------------
    def __get__(self, obj: Any, objtype: type | None = None):
        """As a method (``@compile(static_argnums=0)`` in a class body): bound to ``obj``,
        which ``f`` takes as its first argument (argument numbers count it; static, it keys
        the signature by ``==`` and its hash, as any static value)."""
        return self if obj is None else _Bound(self, obj)

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) <= self._last_argnum:  # `_arguments`, inlined (the hot path)
            args = self._bind(args, kwargs)
        last = self._last
        if last is not None:
            if self.trust_input:
                return self._call_trusted(last, args)
            out = last.runner.call(args)  # the signature of the previous call, checked quickly
            if out is not _MISS:
                return out
        if self._eager is not None:  # the signature last run as eager code, checked quickly
            match, scalars_of, dtypes, shapes, state = self._eager
            objs = match(args)
            if objs is not None and _call.check(objs, dtypes, shapes) is not None:
                values = tuple(value_key(x) for x in scalars_of(args))
                if values not in state.traced and values not in state.eager:  # a new value
                    state.eager_once(values)
                    return self._run_eager(args)
        prep = self._prepare(args, eager_ok=True)
        if prep is None:
            return self.fn(*args)  # inside an enclosing trace: f is inlined
        if prep is _EAGER:
            return self._run_eager(args)
        prog, data, objs, _ = prep
        return prog.run(data, objs)

    def _call_trusted(self, prog: Program, args: tuple):
        try:
            return prog.runner.call_trusted(args)
        except _call.TrustedArgsError as e:
            if e.args[0] == "shape":
                got, want = e.args[1]
                raise ValueError(f"compile (trust_input): an argument has shape {got}, "
                                 f"the compiled program takes {want} ({where()})") from None
            raise TypeError(f"compile (trust_input): the arguments are not arrays in the "
                            f"structure of the previous call ({where()})") from None

    def loop(self, n: int, *args, stacked_argnums: int | Sequence[int] | None = None,
             exact: bool = False, **kwargs):
        """Run ``n`` steps without returning to the caller (Theano's ``fn(n_calls=n)``).

        ``args`` and ``kwargs`` are ``f``'s, bound as a call binds them (a parameter named
        ``stacked_argnums`` or ``exact`` is passed positionally).

        Step ``i`` reads slice ``i`` (along axis 0) of each stacked argument (``stacked_argnums``;
        default: every argument neither static nor donated); each donated argument takes the
        output it is matched with (same dtype and shape, in order), so the state carries from
        step to step; other arguments stay the same. Returns the outputs of the last step.

        A donated float32 matrix ``W`` that a step reads only as ``x @ W`` and updates only as
        ``W += alpha * x.T @ d`` (``x`` the step's few rows of a stacked argument: an SGD step's
        first layer) is updated once per block of steps, each step's product corrected for the
        updates still pending: the same values up to rounding, with ``W`` read far less often.
        ``exact=True`` turns that off: every step then computes exactly as a call does.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"compile.loop: n must be a positive int, got {n!r} ({where()})")
        n = int(n)
        args = self._arguments(args, kwargs)
        if stacked_argnums is None:
            stacked = self._default_stacked.get(len(args))
            if stacked is None:
                stacked = self._default_stacked[len(args)] = tuple(
                    i for i in range(len(args))
                    if i not in self.static_argnums and i not in self.donate_argnums)
        else:
            stacked = _argnums(stacked_argnums, "stacked_argnums")
            static = [i for i in stacked if i in self.static_argnums]
            if static:
                raise ValueError(f"compile.loop: stacked argument {static[0]} is static; a "
                                 f"stacked argument holds one array slice per step ({where()})")
            donated = [i for i in stacked if i in self.donate_argnums]
            if donated:
                raise ValueError(f"compile.loop: stacked argument {donated[0]} is donated; a "
                                 f"donated argument carries the state from step to step, a "
                                 f"stacked one holds one array slice per step ({where()})")
        last = self._last_loop
        if last is not None and last[1] == stacked:  # the last loop's signature, checked in C
            prog, _, stacked_idx = last
            objs = prog.match(args)
            if objs is not None:
                data = _call.check_loop(objs, prog.dtypes, prog.shapes, stacked_idx[1], n)
                if data is not None:
                    return prog.loop(n, data, objs, stacked_idx[0], exact)
        prep = self._prepare(args, stacked)
        if prep is None:
            raise TypeError(f"compile.loop: cannot run steps on traced arguments ({where()})")
        prog, data, objs, stacked_idx = prep
        self._last_loop = (prog, stacked, (stacked_idx, frozenset(stacked_idx)))
        for p in stacked_idx:
            if data[p].shape[0] < n:
                raise ValueError(f"compile.loop: a stacked argument has {data[p].shape[0]} "
                                 f"slices, {n} steps need {n} ({where()})")
        return prog.loop(n, data, objs, stacked_idx, exact)

    def program(self, *args, **kwargs) -> Program:
        """The `Program` (traced and linked if needed) for arguments like ``args`` and
        ``kwargs`` (bound as a call binds them); its ``vm`` is the bare linked program: it
        takes the argument arrays followed by ``extras_data``, and writes donated outputs
        into the arrays passed (see `Program`)."""
        prep = self._prepare(self._arguments(args, kwargs))
        if prep is None:
            raise TypeError(f"compile.program: arguments are traced values ({where()})")
        return prep[0]

    def __repr__(self) -> str:
        return f"<lazyarr.compile of {getattr(self.fn, '__qualname__', self.fn)!r}>"


class _ScalarValues:
    """The Python scalars' value tuples of one signature (their values left out): those
    ``traced`` (compiled programs), and those run once as eager code (the last
    `EAGER_MEMORY`): one met again is traced."""

    __slots__ = ("traced", "eager")

    def __init__(self) -> None:
        self.traced: set = set()
        self.eager: OrderedDict = OrderedDict()

    def eager_once(self, values: tuple) -> bool:
        """Whether a call with ``values`` (not traced) runs as eager code: yes the first
        time; a value met again is for a trace (False)."""
        if self.eager.pop(values, None) is not None:
            return False
        self.eager[values] = True
        if len(self.eager) > EAGER_MEMORY:
            self.eager.popitem(last=False)
        return True


def _scalars_only(spec: Any) -> Any:
    """A `make_flatten` structure of a matcher ``spec`` that takes its ``("type", t)`` leaves
    (the Python scalars) and skips the rest."""
    kind = spec[0]
    if kind == "type":
        return ("leaf",)
    if kind in ("tuple", "list"):
        return (kind, tuple(_scalars_only(c) for c in spec[1]))
    if kind in ("dict", "ntuple"):
        return (kind, spec[1], tuple(_scalars_only(c) for c in spec[2]))
    return ("skip",)


def _as_array(x: Any) -> Any:
    """Argument leaf ``x`` as ``f`` sees it: a lazyarr Array for array data (a NumPy array's
    leaf aliases it, as `asarray` does; other dtypes convert as eager code converts them),
    Python scalars and None as they are."""
    if isinstance(x, (Array, *_SCALARS)) or x is None:
        return x
    if type(x) is np.ndarray and x.dtype in _SUPPORTED_DTYPES:
        return coerce.wrap(coerce.leaf_from_numpy(x))
    return coerce.wrap(coerce.as_var(x))


def _fresh_array(x: Any) -> Any:
    """`_as_array`, and a new Array over the variable of an Array ``x`` (an in-place operator
    or ``__setitem__`` on it rebinds that Array alone)."""
    if type(x) is Array:
        return coerce.wrap(x._v)
    return _as_array(x)


def _match_spec(args: tuple, static_argnums: tuple, scalar_types: bool = False) -> Any:
    """The structure of ``args`` for `make_matcher`: static arguments and Python scalars are
    constants, or with ``scalar_types`` scalars match any value of their type; dicts carry
    their keys in the order given."""
    def mark(s, x):
        kind = s[0]
        if kind == "leaf":
            if not isinstance(x, _SCALARS):
                return s
            return ("type", type(x)) if scalar_types else ("const", x)
        if kind in ("tuple", "list"):
            return (kind, tuple(mark(c, y) for c, y in zip(s[1], x)))
        if kind == "ntuple":
            return (kind, s[1], tuple(mark(c, y) for c, y in zip(s[2], x)))
        if kind == "dict":
            return (kind, s[1], tuple(mark(c, x[k]) for k, c in zip(s[1], s[2])), tuple(x))
        return s

    return ("tuple", tuple(("const", a) if i in static_argnums else mark(T.flatten(a)[1], a)
                           for i, a in enumerate(args)))


def _dict_keys(struct: Any) -> tuple:
    """The keys of the dicts in pytree ``struct`` by type and `value_key` (a structure
    compares them by ``==``: ``1``, ``True`` and ``1.0`` are one key there)."""
    kind = struct[0]
    if kind in ("tuple", "list"):
        return tuple(k for s in struct[1] for k in _dict_keys(s))
    if kind == "ntuple":
        return tuple(k for s in struct[2] for k in _dict_keys(s))
    if kind == "dict":
        return (tuple((type(k), value_key(k)) for k in struct[1]),
                *(k for s in struct[2] for k in _dict_keys(s)))
    return ()


def _arrays_only(struct: Any, is_array) -> Any:
    """``struct`` with the leaves that are not arrays (Python scalars) marked as skipped."""
    kind = struct[0]
    if kind == "leaf":
        return struct if next(is_array) else ("skip",)
    if kind in ("tuple", "list"):
        return (kind, tuple(_arrays_only(s, is_array) for s in struct[1]))
    if kind in ("dict", "ntuple"):
        return (kind, struct[1], tuple(_arrays_only(s, is_array) for s in struct[2]))
    return struct


class _Bound:
    """A compiled method bound to its instance: calls, ``loop`` and ``program`` pass the
    instance first (argument numbers count it); other attributes (``trust_input``,
    ``n_traces``) are the compiled function's."""

    __slots__ = ("_compiled", "_obj")

    def __init__(self, compiled: Compiled, obj: Any):
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "_obj", obj)

    def __call__(self, *args, **kwargs):
        return self._compiled(self._obj, *args, **kwargs)

    def loop(self, n: int, *args, **kwargs):
        """`Compiled.loop` with the instance as the first argument."""
        return self._compiled.loop(n, self._obj, *args, **kwargs)

    def program(self, *args, **kwargs):
        """`Compiled.program` with the instance as the first argument."""
        return self._compiled.program(self._obj, *args, **kwargs)

    def __getattr__(self, name: str):
        if name in _Bound.__slots__:  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._compiled, name)

    def __reduce__(self):
        return (_Bound, (self._compiled, self._obj))

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._compiled, name, value)


def compile(f: Callable | None = None, *, static_argnums: int | Sequence[int] = (),  # noqa: A001
            donate_argnums: int | Sequence[int] = (), trust_input: bool = False):
    """Compile ``f`` for reuse: trace it on its first call for each input signature, optimize
    and link once, and run the linked program on later calls.

    ``f`` takes and returns pytrees (tuples, namedtuples, lists, dicts, None) of arrays. The
    signature is the pytree structure, every array's dtype and shape, the values of Python
    scalars, and the (hashable) values of the ``static_argnums`` arguments; a new signature
    traces again (``.n_traces`` counts). The programs of the last `MAX_SIGNATURES`
    signatures are kept. Python scalars whose values change from call to call (a learning
    rate, a step count) are traced for their first `TRACED_VALUES` values; a call with
    another value runs ``f`` as eager code (the same results: ``f`` sees the value, and the
    trace cache gives changing scalars one program), and a value met again is traced (a
    schedule's plateau). Eager code costs more per call than a compiled program: pass a
    value that changes on every call as a 0-d array for the least overhead.

    Static values should be immutable, as in JAX. A static object is keyed by its hash and
    ``==`` at call time, against the hash it had and the object it was when traced: on every
    path (calls, ``.loop``, ``.program``), an object mutated in place after its trace is a
    new signature if its hash changed (traced again, or a program kept for that hash), and
    the same signature, with the program traced before the change, if its hash did not (an
    object hashed by identity).

    Results are realized lazyarr Arrays. Keyword arguments are bound to ``f``'s parameters
    and then count as positional ones, the parameters left out before them getting their
    defaults: the same arguments passed by position or by keyword are one signature.
    Argument numbers refer to ``f``'s parameters, and a call too short for them gets the
    defaults. Arguments to keyword-only parameters or ``**kwargs`` are not supported (their
    defaults are ``f``'s).
    ``f`` should be a function of its arguments: its side effects (writes into its arguments
    or to outer state, reads of mutable state beside them) happen when it is traced or runs
    as eager code, never when a program runs, and its writes into argument Arrays and
    containers never reach the caller's. NumPy arrays of a dtype lazyarr lacks are converted as
    eager code converts them (float16 to float32).

    ``donate_argnums``: arrays of these arguments give their buffers to the outputs matched with
    them (same dtype and shape, in order): parameters updated in place, nothing allocated per
    step. A donated array must not be used after the call (it may hold the new value); other
    arrays built from it before the call (an expression, realized or not, a view) keep the old
    value (the call then takes a fresh buffer). If the call raises, the donated array may have
    been overwritten.

    ``trust_input=True`` (or setting ``.trust_input`` later): calls skip flattening checks,
    conversions and the signature lookup and run the program of the previous call; arguments
    must be arrays (NumPy arrays or Arrays; those not computed yet are computed first) of that
    call's structure. A wrong shape raises ValueError; a wrong dtype is
    computed through NumPy's casting rules (the result dtype may differ); any other object
    raises TypeError from the program. Python scalars and static arguments are not read (the
    previous call's values are baked into its program), and leaves beyond that call's
    structure are ignored. Use ``.loop(n, ...)`` for many steps in one call and
    ``.program(...).vm`` for the bare linked program (no checks; it takes ``extras_data``
    after the arguments and writes into donated arrays: see `Program`).
    """
    if f is None:
        return functools.partial(compile, static_argnums=static_argnums,
                                 donate_argnums=donate_argnums, trust_input=trust_input)
    if not callable(f):
        raise TypeError(f"compile: f must be callable, got {type(f).__name__} ({where()})")
    return Compiled(f, _argnums(static_argnums, "static_argnums"),
                    _argnums(donate_argnums, "donate_argnums"), bool(trust_input))
