"""NumPy's dispatch protocols on `Array`: ``__array_ufunc__`` and ``__array_function__``.

NumPy code handed lazyarr arrays stays lazy: ``np.sin(a)``, ``np.sum(a, axis=0)``,
``np.concatenate([a, b])``, ``np.linalg.solve(a, b)`` call lazyarr's function of the same
meaning and return a lazy Array. The mapping goes by name (NumPy's name, or the standard's
spelling of it: ``arcsin`` -> ``asin``, ``concatenate`` -> ``concat``...); NumPy's arguments
are bound to its own signature and passed on by position or by name, and an argument lazyarr's
function does not take (``out=``, ``order=``, ``where=``...) sends the call to the fallback.

The fallback materializes every lazyarr array among the arguments and runs NumPy's own
function, returning NumPy arrays (an ``out=`` that is a lazyarr array receives the result as a
functional update). ``supported_functions()`` lists what stays lazy; ``tools/gen_numpy_support.py``
writes that list to ``docs/numpy_support.md``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

from .array_object import Array

__all__ = ["array_ufunc", "array_function", "supported_functions", "ufunc_target",
           "function_target"]


class _Unsupported(Exception):
    """NumPy arguments that lazyarr's counterpart cannot take: use the fallback."""


def _ns():
    import lazyarr

    return lazyarr


# NumPy ufunc names whose standard name differs
_UFUNC_RENAMES = {
    "absolute": "abs", "arcsin": "asin", "arccos": "acos", "arctan": "atan",
    "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "arctan2": "atan2",
    "power": "pow", "true_divide": "divide", "conjugate": "conj", "invert": "bitwise_invert",
    "left_shift": "bitwise_left_shift", "right_shift": "bitwise_right_shift", "rint": "round",
    "mod": "remainder",
}
# ufunc.reduce of these is a reduction of the namespace
_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
           "logical_and": "all", "logical_or": "any"}
# NumPy function names (module, name) whose lazyarr name differs
_FUNC_RENAMES = {
    "concatenate": "concat", "amax": "max", "amin": "min", "around": "round",
    "unique": "unique_values", "power": "pow", "absolute": "abs",
}
# NumPy argument names that lazyarr spells differently, per function ("*" for all)
_ARG_RENAMES = {
    "*": {"a_min": "min", "a_max": "max", "ddof": "correction", "reps": "repetitions"},
}
# NumPy functions whose same-named lazyarr function means something else
_NOT_SAME = frozenset({"round", "around"})


def _shape(a):
    return a.shape


def _ndim(a):
    return a.ndim


def _transpose(a, axes=None):
    ns = _ns()
    if axes is None:
        axes = tuple(range(a.ndim - 1, -1, -1))
    return ns.permute_dims(a, tuple(axes))


def _dot(a, b, out=None):
    if out is not None or np.ndim(a) == 0 or np.ndim(b) == 0 or np.ndim(a) > 2 or \
            np.ndim(b) > 2:
        raise _Unsupported
    return _ns().matmul(a, b)


def _cumsum(a, axis=None, dtype=None, out=None):
    from .functions.methods import cumsum

    if out is not None:
        raise _Unsupported
    return cumsum(_ns().asarray(a), axis=axis, dtype=dtype)


def _cumprod(a, axis=None, dtype=None, out=None):
    from .functions.methods import cumprod

    if out is not None:
        raise _Unsupported
    return cumprod(_ns().asarray(a), axis=axis, dtype=dtype)


def _where(condition, x=None, y=None, /):
    if x is None and y is None:
        return _ns().nonzero(condition)
    if x is None or y is None:
        raise _Unsupported
    return _ns().where(condition, x, y)


def _unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
            *, equal_nan=True, sorted=True):  # noqa: A002 - NumPy's name
    """``np.unique(ar)``: sorted unique values, NaNs as one (``equal_nan``, NumPy's default;
    the standard's ``unique_values`` keeps every NaN). Other forms run on NumPy."""
    if return_index or return_inverse or return_counts or axis is not None or not sorted:
        raise _Unsupported
    ns = _ns()
    u = ns.unique_values(ns.asarray(ar))
    if equal_nan and u.dtype.kind in "fc":
        nan = ns.isnan(u)
        u = u[~nan | (ns.cumulative_sum(ns.astype(nan, ns.int64)) == 1)]
    return u


def _clip(*args, **kwargs):
    """``np.clip``: the standard's clip of ``a`` cast to NumPy's result type of ``a`` and the
    bounds (float64 for an int8 ``a`` and float bounds; the standard keeps ``a``'s dtype)."""
    ns = _ns()
    pos, kw = _translate(np.clip, ns.clip, args, kwargs)
    x = ns.asarray(pos[0])
    bounds = [b.dtype if isinstance(b, Array) else b for b in kw.values() if b is not None]
    dt = np.result_type(x.dtype, *bounds)
    return ns.clip(x if dt == x.dtype else ns.astype(x, dt), **kw)


def _spread(name):
    """``np.var`` / ``np.std``: NumPy divides by ``max(N - ddof, 0)``, so a nonzero sum of
    squares over ``N <= ddof`` elements is inf (the standard's var gives NaN there)."""
    def f(*args, **kwargs):
        from .ops.axes import normalize_axes

        ns = _ns()
        pos, kw = _translate(getattr(np, name), ns.var, args, kwargs)
        x = ns.asarray(pos[0])
        sizes = [x.shape[ax] for ax in normalize_axes(kw.get("axis"), x.ndim, name)]
        if None in sizes:
            raise _Unsupported  # N known only at run time: NumPy's own
        n = math.prod(sizes)
        if n - kw.get("correction", 0) > 0:
            v = ns.var(x, **kw)
        else:
            v = ns.var(x, **dict(kw, correction=0)) * n / 0.0  # IEEE: inf, or NaN for 0
        return ns.sqrt(v) if name == "std" else v
    return f


def _as_tuple(name):
    """``np.meshgrid`` / ``np.broadcast_arrays``: the tuple NumPy 2 returns (the standard's
    functions return lists)."""
    def f(*args, **kwargs):
        target = getattr(_ns(), name)
        pos, kw = _translate(getattr(np, name), target, args, kwargs)
        return tuple(target(*pos, **kw))
    return f


def _fft_complex(name):
    def f(a, n=None, axis=-1, norm=None, out=None):
        ns = _ns()
        if out is not None:
            raise _Unsupported
        x = ns.asarray(a)
        if x.dtype.kind != "c":
            x = ns.astype(x, ns.complex64 if x.dtype == ns.float32 else ns.complex128)
        return getattr(ns.fft, name)(x, n=n, axis=axis, norm=norm or "backward")
    return f


#: functions with their own adapter (NumPy semantics that need more than renaming)
_ADAPTERS: dict[tuple[str, str], Callable] = {
    ("numpy", "shape"): _shape, ("numpy", "ndim"): _ndim,
    ("numpy", "transpose"): _transpose, ("numpy", "dot"): _dot,
    ("numpy", "cumsum"): _cumsum, ("numpy", "cumprod"): _cumprod, ("numpy", "where"): _where,
    ("numpy", "unique"): _unique, ("numpy", "clip"): _clip,
    ("numpy", "var"): _spread("var"), ("numpy", "std"): _spread("std"),
    ("numpy", "meshgrid"): _as_tuple("meshgrid"),
    ("numpy", "broadcast_arrays"): _as_tuple("broadcast_arrays"),
    ("numpy.fft", "fft"): _fft_complex("fft"), ("numpy.fft", "ifft"): _fft_complex("ifft"),
}


def ufunc_target(ufunc: np.ufunc) -> Callable | None:
    """lazyarr's function for a NumPy ufunc (None if there is none)."""
    name = _UFUNC_RENAMES.get(ufunc.__name__, ufunc.__name__)
    f = getattr(_ns(), name, None)
    return f if callable(f) and not isinstance(f, type) else None


def _module_of(func) -> str:
    mod = getattr(func, "__module__", "") or ""
    if mod.startswith("numpy.linalg"):
        return "numpy.linalg"
    if mod.startswith("numpy.fft"):
        return "numpy.fft"
    return "numpy"


def function_target(func) -> Callable | None:
    """lazyarr's counterpart of a NumPy function (an adapter, or the function of the same or
    the standard's name; None if there is none)."""
    mod, name = _module_of(func), func.__name__
    ad = _ADAPTERS.get((mod, name))
    if ad is not None:
        return ad
    if name in _NOT_SAME:
        return None
    ns = _ns()
    space = {"numpy": ns, "numpy.linalg": ns.linalg, "numpy.fft": ns.fft}[mod]
    target = getattr(space, _FUNC_RENAMES.get(name, name), None)
    if not callable(target) or isinstance(target, type) or isinstance(target, np.dtype):
        return None
    # only array functions (Python or compiled, as the elementwise ones in array._front):
    # lazyarr.gradient (differentiation) is not np.gradient
    if not (getattr(target, "__module__", None) or "").startswith("lazyarr.array"):
        return None
    return target


_sig_cache: dict = {}


def _signature(f):
    s = _sig_cache.get(f)
    if s is None:
        s = _sig_cache[f] = inspect.signature(f)
    return s


def _is_default(value, default) -> bool:
    if value is np._NoValue:
        return True
    if default is inspect.Parameter.empty:
        return False
    if value is default:
        return True
    if isinstance(value, (str, int, float, bool, type(None))) and \
            isinstance(default, (str, int, float, bool, type(None))):
        return type(value) is type(default) and value == default
    return False


def _translate(func, target, args, kwargs):
    """Bind NumPy's arguments and re-pass them to ``target``: ``(args, kwargs)``."""
    try:
        ba = _signature(func).bind(*args, **kwargs)
    except TypeError:
        raise _Unsupported from None
    tparams = list(_signature(target).parameters.values())
    P = inspect.Parameter
    n_pos = sum(1 for p in tparams if p.kind is P.POSITIONAL_ONLY)
    if n_pos == 0 and tparams and tparams[0].kind is P.POSITIONAL_OR_KEYWORD:
        n_pos = 1
    t_var = any(p.kind is P.VAR_POSITIONAL for p in tparams)
    t_names = {p.name for p in tparams if p.kind in (P.POSITIONAL_OR_KEYWORD, P.KEYWORD_ONLY)}
    renames = _ARG_RENAMES["*"]
    pos, kw = [], {}
    for i, p in enumerate(_signature(func).parameters.values()):
        if p.kind is P.VAR_POSITIONAL:
            if not t_var:
                raise _Unsupported
            pos.extend(ba.arguments.get(p.name, ()))
            continue
        if p.kind is P.VAR_KEYWORD:
            if ba.arguments.get(p.name):
                raise _Unsupported
            continue
        present = p.name in ba.arguments
        val = ba.arguments.get(p.name, p.default)
        if i < n_pos:
            if not present and p.default is P.empty:
                raise _Unsupported
            if val is np._NoValue:
                raise _Unsupported
            pos.append(val)
            continue
        if not present or _is_default(val, p.default):
            continue
        name = renames.get(p.name, p.name)
        if name not in t_names:
            raise _Unsupported
        kw[name] = val
    return pos, kw


def _materialize(obj):
    if isinstance(obj, Array):
        return obj._value()
    if isinstance(obj, list):
        return [_materialize(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    return obj


def _fallback(call, args, kwargs):
    """Run NumPy's ``call`` on materialized inputs. A lazyarr array in ``out=`` is given to
    NumPy as a writable copy of its value (so ``where=`` keeps its other elements), which the
    array then holds; the result is what NumPy returns (the ``out`` array for one output)."""
    out = kwargs.get("out")
    outs = out if isinstance(out, tuple) else (out,)
    if not any(isinstance(o, Array) for o in outs):
        return call(*_materialize(args), **_materialize(kwargs))
    from ..graph.basic import Var
    from .coerce import rebind
    bufs = tuple(np.array(np.asarray(o)) if isinstance(o, Array) else o for o in outs)
    kwargs = dict(kwargs, out=bufs if isinstance(out, tuple) else bufs[0])
    call(*_materialize(args), **_materialize(kwargs))
    for o, b in zip(outs, bufs):
        if isinstance(o, Array):
            b.flags.writeable = False
            rebind(o, Var.leaf(b))
    return outs[0] if len(outs) == 1 else outs


def array_ufunc(self, ufunc, method, *inputs, **kwargs):
    """``Array.__array_ufunc__``: NumPy ufuncs on lazyarr arrays stay lazy where lazyarr has
    the function (plain calls; ``reduce`` of add/multiply/maximum/minimum/logical_and/or)."""
    plain = {k: v for k, v in kwargs.items()
             if not (k == "out" and (v is None or (type(v) is tuple
                                                   and all(o is None for o in v))))}
    if method == "__call__" and not plain:
        target = ufunc_target(ufunc)
        if target is not None:
            try:
                return target(*inputs)
            except (TypeError, ValueError):
                pass
    elif method == "at" and inputs and isinstance(inputs[0], Array):
        # ufunc.at writes into its first argument, read-only or not (NumPy 2.4): into a copy
        # here, which the array then holds (a functional update, as the in-place operators)
        from ..graph.basic import Var
        from .coerce import rebind
        data = np.array(inputs[0]._value())
        ufunc.at(data, *_materialize(inputs[1:]), **_materialize(kwargs))
        data.flags.writeable = False
        rebind(inputs[0], Var.leaf(data))
        return None
    elif method == "reduce" and ufunc.__name__ in _REDUCE:
        ok = {"axis", "keepdims", "dtype"}
        if set(plain) <= ok and len(inputs) == 1:
            axis = plain.get("axis", 0)
            kw = {"axis": axis, "keepdims": bool(plain.get("keepdims", False))}
            if plain.get("dtype") is not None:
                kw["dtype"] = plain["dtype"]
            try:
                return getattr(_ns(), _REDUCE[ufunc.__name__])(inputs[0], **kw)
            except (TypeError, ValueError):
                pass
    return _fallback(getattr(ufunc, method), inputs, kwargs)


def array_function(self, func, types_, args, kwargs):
    """``Array.__array_function__``: a NumPy function with a lazyarr counterpart returns lazy
    arrays; any other materializes its inputs and returns NumPy's result."""
    target = function_target(func)
    if target is not None:
        try:
            if (_module_of(func), func.__name__) in _ADAPTERS:
                return target(*args, **kwargs)
            pos, kw = _translate(func, target, args, kwargs)
            return target(*pos, **kw)
        except (_Unsupported, TypeError, ValueError):
            pass
    return _fallback(func, args, kwargs)


def supported_functions() -> dict[str, list[str]]:
    """``{"ufuncs": [...], "functions": [...]}``: the NumPy names that stay lazy (each
    function is matched to its lazyarr counterpart by the same rules as at call time)."""
    ufuncs = sorted(n for n in dir(np) if isinstance(getattr(np, n), np.ufunc)
                    and ufunc_target(getattr(np, n)) is not None)
    funcs = []
    for prefix, mod in (("", np), ("linalg.", np.linalg), ("fft.", np.fft)):
        for n in dir(mod):
            f = getattr(mod, n)
            # only functions that dispatch through __array_function__
            if n.startswith("_") or not hasattr(f, "_implementation"):
                continue
            if function_target(f) is not None and f.__name__ == n:
                funcs.append(prefix + n)
    return {"ufuncs": ufuncs, "functions": sorted(funcs)}


Array.__array_ufunc__ = array_ufunc
Array.__array_function__ = array_function
