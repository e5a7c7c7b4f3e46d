"""JAX-style function transforms over pytrees: grad, value_and_grad, vjp, jvp, hvp, jacobian,
hessian.

Each transform gives every differentiated argument a fresh symbolic input (a leaf without
data), calls ``f`` on Arrays over those, records the tape of the pending graph between the
inputs and the outputs, runs the engine, and only then binds each input to its argument: to the
argument's data (a leaf), or, for a pending or symbolic Array, as an identity node over it, so
that an enclosing transform still sees the path. While ``f`` runs, a value that depends on an
argument cannot be read (``float(h)``, ``bool(x > 0)``, a size known only from data): that is a
``ConcretizationError``, as under ``jax.grad``; reading it would freeze it into a constant and
silently cut the derivative. Results are lazy arrays.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..array import _front
from ..array._front import ArrayBase
from ..array.coerce import Array, as_var, leaf_from_numpy, wrap
from ..array.ops.shape import Reshape
from ..graph import basic
from ..graph.basic import Apply, Var
from ..graph.pytree import flatten, struct_str, unflatten
from ..graph.userline import user_site, where
from . import _fastgrad
from . import cache as grad_cache
from .cache import ForwardIndex, GradTemplate
from .engine import Tape, deep_graphs
from .gradcall import GradientCall
from .util import input_shape, is_differentiable, shape_of, zeros_of
from .xp import xp

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian",
           "DisconnectedInputError"]


class DisconnectedInputError(ValueError):
    """An input asked for with ``disconnected_inputs='raise'`` does not reach the output."""


# ---- variables for arguments ---------------------------------------------------------------

def _primal_var(x) -> Var:
    """The variable an argument stands for: an Array's own, a new leaf for other data."""
    if isinstance(x, Array):
        return x._v
    if isinstance(x, (bool, int, float, complex, np.ndarray, np.generic)):
        return leaf_from_numpy(np.asarray(x))  # a new leaf, never a shared constant
    return as_var(x)


def bind(sym: Var, primal: Var) -> None:
    """Make symbolic input ``sym`` stand for ``primal``: share its data when it is a realized
    leaf, else become an identity node over it (the path stays visible to outer transforms)."""
    if primal.owner is None and primal.data is not None:
        sym.data = primal.data
        return
    node = Apply(Reshape(sym.shape), (primal,), [sym])
    sym.owner, sym.index, sym.depth = node, 0, primal.depth + 1


def _argnums(argnums, nargs: int, fname: str) -> tuple[tuple[int, ...], bool]:
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{fname}(): argnums {argnums!r} is out of range for {nargs} "
                             f"positional argument(s) ({where()})")
    resolved = tuple(i % nargs for i in nums)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{fname}(): argnums {argnums!r} names an argument more than once "
                         f"({where()})")
    return resolved, single


def _not_differentiable(fname: str, i: int, k: int, n: int, dtype) -> None:
    where_ = f"argument {i}" + (f", leaf {k}" if n > 1 else "")
    raise TypeError(f"{fname}(): {where_} has dtype {dtype}; derivatives are taken only with "
                    f"respect to floating-point or complex inputs, not integer or boolean ones "
                    f"({where()})")


#: The positional arguments of ``f`` with the differentiated ones replaced by fresh variables
#: (pytrees flattened); C (`_fastgrad.Args`), calling the helpers above off the common path.
_Args = _fastgrad.Args
_fastgrad.bind(wrap, ArrayBase, _primal_var, bind, input_shape, _not_differentiable)


DISCONNECTED_MODES = ("zero", "warn", "raise")


def check_disconnected_mode(mode, fname: str) -> str:
    """``mode`` if it is a ``disconnected_inputs`` value, else a ValueError naming them."""
    if mode not in DISCONNECTED_MODES:
        raise ValueError(f"{fname}(): disconnected_inputs must be one of "
                         f"{', '.join(map(repr, DISCONNECTED_MODES))}, got {mode!r} ({where()})")
    return mode


def _zeros_if_none(g, v: Var, disconnected: bool, mode: str, label: str, fname: str,
                   stacklevel: int = 4):
    if disconnected:
        msg = f"{fname}(): {label} does not reach the output ({where()})"
        if mode == "raise":
            raise DisconnectedInputError(msg)
        if mode == "warn":
            warnings.warn(msg, stacklevel=stacklevel)
    return zeros_of(v) if g is None else g


def _scalar_output(out, fname: str) -> Var:
    if isinstance(out, (tuple, list, dict)):
        hint = ("; with has_aux=True, f returns (value, aux)"
                if isinstance(out, tuple) and len(out) == 2 else "")
        raise TypeError(f"{fname}(): the function must return a scalar (0-d) array, got a "
                        f"{type(out).__name__} of {len(out)}{hint} ({where()})")
    v = as_var(out)
    if v.shape != ():
        raise TypeError(f"{fname}(): the function must return a scalar (0-d) array, got shape "
                        f"{v.shape}; use vjp() or jacobian() for other outputs ({where()})")
    if v.dtype.kind != "f":
        raise TypeError(f"{fname}(): the function must return a real floating-point scalar, "
                        f"got {v.dtype} ({where()})")
    return v


# ---- transforms ----------------------------------------------------------------------------

def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   disconnected_inputs: str = "zero") -> Callable:
    """A function returning ``(f(*args), gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``). ``f`` must return a real 0-d array; the gradient has the pytree structure of
    ``args[argnums]`` (a tuple of them for a tuple ``argnums``), each leaf with its argument's
    shape and dtype. ``disconnected_inputs``: ``'zero'`` (zeros), ``'warn'`` or ``'raise'``."""

    check_disconnected_mode(disconnected_inputs, "value_and_grad")
    return _value_and_grad(f, argnums, has_aux, disconnected_inputs, "value_and_grad")


def _value_and_grad(f: Callable, argnums, has_aux: bool, mode: str, fname: str) -> Callable:
    """`value_and_grad`, its errors naming ``fname`` (the transform the user called)."""
    resolved: dict[int, tuple] = {}  # number of arguments -> _argnums' (valid) answer

    def value_and_grad_f(*args, **kwargs):
        r = resolved.get(len(args))
        if r is None:
            r = resolved[len(args)] = _argnums(argnums, len(args), fname)
        return _value_and_grad_call(f, args, kwargs, r[0], r[1], has_aux, mode, fname)

    return value_and_grad_f


def _gradients_by_rules(ov: Var, a: _Args, mode: str, index: ForwardIndex | None) -> list:
    """The gradient of scalar ``ov`` w.r.t. each of ``a``'s fresh variables, binding them to
    their arguments, by running the rules (a gradient-cache miss: recorded under ``index``'s
    key when given; a hit is cloned in C, `_fastgrad.value_and_grad_call`)."""
    tape = Tape([ov], a.flat)
    a.bind()
    cts = tape.backward([xp.ones((), dtype=ov.dtype)])
    reached = [tape.reaches(v) for v in a.flat]
    grads = [_zeros_if_none(g, v, not r, mode, f"argument leaf {k}", a.fname, 6)
             for k, (g, v, r) in enumerate(zip(cts, a.flat, reached))]
    if index is not None:
        site = user_site(1) if basic.track_sites else None
        grad_cache.store(index.key, GradTemplate.build(index, [g._v for g in grads], reached,
                                                       site))
    return grads


def _check_disconnected(grads: list, a: _Args, reached: list, mode: str) -> None:
    """Warn or raise (``mode``) for each argument leaf that does not reach the output, as the
    rules' path does (a gradient-cache hit replays the recorded ``reached``)."""
    for k, (v, r) in enumerate(zip(a.flat, reached)):
        _zeros_if_none(grads[k], v, not r, mode, f"argument leaf {k}", a.fname, 5)


_value_and_grad_call = _fastgrad.value_and_grad_call
_fastgrad.bind_grad(grad_cache.templates, Array, basic, _scalar_output, _gradients_by_rules,
                    _check_disconnected, GradientCall.record, _front.live_count,
                    _front.drop_unheld)


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         disconnected_inputs: str = "zero") -> Callable:
    """The gradient of ``f`` (a real scalar function) w.r.t. ``args[argnums]``, as a function
    of the same arguments (returns ``(gradient, aux)`` with ``has_aux``). See
    `value_and_grad`."""
    check_disconnected_mode(disconnected_inputs, "grad")
    return _grad(f, argnums, has_aux, disconnected_inputs, "grad")


def _grad(f: Callable, argnums, has_aux: bool, mode: str, fname: str) -> Callable:
    """`grad`, its errors naming ``fname``."""
    vg = _value_and_grad(f, argnums, has_aux, mode, fname)

    def grad_f(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def _shapes_may_match(a: tuple, b: tuple) -> bool:
    """Whether shapes ``a`` and ``b`` have the same rank and agree where both sizes are
    known (None: a size known only at run time, which is not read: that would realize the
    pending graph, cutting the path being differentiated, or need a traced value). A 1
    against a run-time size does not match: the sweep's kernels would broadcast it."""
    return a == b or (len(a) == len(b) and all(
        x == y or (x is None) != (y is None) and 1 not in (x, y) for x, y in zip(a, b)))


def _check_like(t, v: Var, what: str, fname: str) -> Array | None:
    """``t`` as an Array matching ``v``'s shape (ValueError otherwise; a size known only at
    run time is checked where the sweep's kernels meet it) and dtype (TypeError otherwise, as
    JAX's pullback says). An integer or boolean ``v`` carries no derivative: its (co)tangent
    has its own dtype (``zeros_like``; taken as zero, its values not read), where JAX asks
    for float0; a Python int is one of its dtype."""
    if t is None:
        return None
    if isinstance(t, (int, float, complex)) and not isinstance(t, bool) and (
            is_differentiable(v.dtype) or isinstance(t, int)):
        tv = as_var(xp.asarray(t, dtype=v.dtype))
    else:
        tv = as_var(t)
    if not _shapes_may_match(tv.shape, v.shape):
        hint = ("; None is a size known only when it runs, which cannot be compared with a "
                "size 1 without reading it (the kernels would broadcast the 1): give the "
                "primal's shape (ones_like(primal), say)"
                if None in tv.shape + v.shape else "")
        raise ValueError(f"{fname}(): {what} has shape {tv.shape}, its primal has shape "
                         f"{v.shape}{hint} ({where()})")
    if tv.dtype != v.dtype:
        why = ("" if is_differentiable(v.dtype) else
               ", which carries no derivative: give an array of its dtype "
               "(zeros_like(primal))")
        raise TypeError(f"{fname}(): {what} has dtype {tv.dtype}, its primal has dtype "
                         f"{v.dtype}{why} ({where()})")
    return wrap(tv)


def _same_structure(tree, struct, n: int, what: str, fname: str) -> list:
    leaves, s = flatten(tree)
    if s != struct:
        raise ValueError(f"{fname}(): {what} has structure {struct_str(s)}, expected "
                         f"{struct_str(struct)} ({where()})")
    return leaves


def vjp(f: Callable, *primals, has_aux: bool = False) -> tuple:
    """``(f(*primals), vjp_fn)`` (plus ``aux`` with ``has_aux``): ``vjp_fn(cotangent)`` takes a
    pytree shaped like the output and returns a tuple with one cotangent pytree per primal
    (``Jᵀ u``; for complex values ``Jᴴ u``, PyTorch's convention)."""
    with deep_graphs():
        a = _Args(primals, tuple(range(len(primals))), "vjp", check=False)
        res = f(*a.args)
        out, aux = res if has_aux else (res, None)
        out_leaves, out_struct = flatten(out)
        out_vars = [as_var(o) for o in out_leaves]
        tape = Tape(out_vars, a.flat)
        a.bind()

    def vjp_fn(cotangent):
        leaves = _same_structure(cotangent, out_struct, len(out_vars), "the cotangent", "vjp")
        cts = [_check_like(c, v, f"cotangent leaf {k}", "vjp")
               for k, (c, v) in enumerate(zip(leaves, out_vars))]
        with deep_graphs():
            gs = tape.backward(cts)
            gs = [g if g is not None or not is_differentiable(v.dtype)
                  else zeros_of(v) for g, v in zip(gs, a.flat)]
        return tuple(a.rebuild(gs, False))

    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jvp(f: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False) -> tuple:
    """``(f(*primals), J·tangents)`` by forward mode; ``tangents`` has the structure and
    shapes of ``primals`` (ValueError otherwise) and their dtypes (TypeError otherwise). An
    integer or boolean primal carries no derivative (``vjp`` gives it None): its tangent is
    an array of the primal's dtype, ``zeros_like(primal)``, taken as zero (its values are
    not read); a float tangent for it is a TypeError."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp(): {len(primals)} primals but {len(tangents)} tangents "
                         f"({where()})")
    with deep_graphs():
        a = _Args(primals, tuple(range(len(primals))), "jvp", check=False)
        ts = []
        for i, (t, struct) in enumerate(zip(tangents, a.structs)):
            ts += _same_structure(t, struct, 0, f"tangent {i}", "jvp")
        ts = [_check_like(t, v, f"tangent leaf {k}", "jvp")
              for k, (t, v) in enumerate(zip(ts, a.flat))]
        res = f(*a.args)
        out, aux = res if has_aux else (res, None)
        out_leaves, out_struct = flatten(out)
        out_vars = [as_var(o) for o in out_leaves]
        tape = Tape(out_vars, a.flat)
        a.bind()
        touts = tape.forward(ts)
        touts = [t if t is not None else zeros_of(v)
                 for t, v in zip(touts, out_vars)]
    result = (out, unflatten(out_struct, touts))
    return result + (aux,) if has_aux else result


def hvp(f: Callable, primals: Sequence, tangents: Sequence) -> Any:
    """Hessian of real scalar ``f`` times ``tangents`` (forward-over-reverse: the jvp of the
    gradient), shaped like ``primals`` (a single pytree for one primal)."""
    primals = tuple(primals)
    nums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(f, nums), primals, tuple(tangents))[1]


def jacobian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """A function returning the Jacobian of ``f``: for an output of shape ``S`` and an input
    of shape ``T`` an array of shape ``S + T``; pytrees of outputs map to pytrees of these
    (with a tuple per output for a tuple ``argnums``). Forward mode when the inputs have no
    more elements than the outputs, reverse mode otherwise. For a real input both modes give
    the same block, complex outputs included; for a complex input reverse mode's rows are
    conjugated (PyTorch's convention, ``Jᴴ``)."""

    return _jacobian(f, argnums, "jacobian")


def _jacobian(f: Callable, argnums, fname: str) -> Callable:
    """`jacobian`, its errors naming ``fname``."""

    def jac_f(*args):
        nums, single = _argnums(argnums, len(args), fname)
        with deep_graphs():
            a = _Args(args, nums, fname)
            out = f(*a.args)
            out_leaves, out_struct = flatten(out)
            out_vars = [as_var(o) for o in out_leaves]
            tape = Tape(out_vars, a.flat)
            a.bind()
            n_in = sum(math.prod(shape_of(v)) for v in a.flat)
            n_out = sum(math.prod(shape_of(v)) for v in out_vars)
            blocks = (_forward_blocks if n_in <= n_out else _reverse_blocks)(tape, out_vars,
                                                                             a.flat)
        per_out = [a.rebuild(row, single) for row in blocks]
        return unflatten(out_struct, per_out)

    return jac_f


def _basis(shape: tuple, dtype, k: int) -> Array:
    e = np.zeros(math.prod(shape), dtype=dtype)
    e[k] = 1
    return xp.asarray(e.reshape(shape))


def _reverse_blocks(tape: Tape, outs: list[Var], ins: list[Var]) -> list[list]:
    blocks = []
    for j, o in enumerate(outs):
        rows: list[list] = [[] for _ in ins]
        for k in range(math.prod(shape_of(o))):
            for r, g in zip(rows, _reverse_row(tape, outs, ins, j, k)):
                r.append(g)
        blocks.append([_assemble(r, shape_of(o), shape_of(v), _block_dtype(o, v), lead=True)
                       for r, v in zip(rows, ins)])
    return blocks


def _reverse_row(tape: Tape, outs: list[Var], ins: list[Var], j: int, k: int) -> list:
    """Row ``k`` (flat) of output ``j``'s Jacobian w.r.t. each input, shaped like the input.
    A real input's cotangent is the real part of ``Jᴴ u``, so for a complex output it is
    ``Re J`` for ``u = e_k`` and ``Im J`` for ``u = i·e_k``: a second sweep gives the
    imaginary part, so the row equals forward mode's. A complex input keeps ``Jᴴ e_k``."""
    o = outs[j]
    if not is_differentiable(o.dtype):
        return [zeros_of(v) for v in ins]
    e = _basis(shape_of(o), o.dtype, k)
    row = _sweep(tape, len(outs), j, e, ins)
    if o.dtype.kind != "c" or not any(v.dtype.kind == "f" for v in ins):
        return row
    imag = _sweep(tape, len(outs), j, e * 1j, ins)
    return [xp.astype(g, o.dtype) + 1j * gi if v.dtype.kind == "f" else g
            for g, gi, v in zip(row, imag, ins)]


def _sweep(tape: Tape, n_outs: int, j: int, ct: Array, ins: list[Var]) -> list:
    """``Jᴴ u`` for each input (zeros where it is not reached), ``u`` being ``ct`` on output
    ``j`` and nothing on the others."""
    cts = [None] * n_outs
    cts[j] = ct
    return [zeros_of(v) if g is None else g for g, v in zip(tape.backward(cts), ins)]


def _forward_blocks(tape: Tape, outs: list[Var], ins: list[Var]) -> list[list]:
    cols: list[list[list]] = [[[] for _ in ins] for _ in outs]
    for i, v in enumerate(ins):
        for k in range(math.prod(shape_of(v))):
            ts = [None] * len(ins)
            ts[i] = _basis(shape_of(v), v.dtype, k)
            touts = tape.forward(ts)
            for j, (t, o) in enumerate(zip(touts, outs)):
                cols[j][i].append(zeros_of(o) if t is None else t)
    return [[_assemble(cols[j][i], shape_of(o), shape_of(v), _block_dtype(o, v), lead=False)
             for i, v in enumerate(ins)] for j, o in enumerate(outs)]


def _block_dtype(out: Var, inp: Var) -> np.dtype:
    """The dtype of the Jacobian block of ``out`` w.r.t. ``inp``, whichever mode computed it:
    the input's, as a gradient's (JAX's and PyTorch's ``jacobian``; reverse mode's rows are
    computed in it, forward mode's columns are cast to it), or both promoted where one is
    complex and the other real."""
    if not (is_differentiable(out.dtype) and is_differentiable(inp.dtype)):
        return inp.dtype
    if (out.dtype.kind == "c") != (inp.dtype.kind == "c"):
        return np.result_type(out.dtype, inp.dtype)
    return inp.dtype


def _assemble(parts: list, out_shape: tuple, in_shape: tuple, dtype, lead: bool) -> Array:
    shape = tuple(out_shape) + tuple(in_shape)
    if not parts:
        return xp.zeros(shape, dtype=dtype)
    stacked = xp.stack([xp.reshape(p, (-1,)) for p in parts], axis=0 if lead else 1)
    if stacked.dtype != dtype:
        stacked = xp.astype(stacked, dtype)
    return xp.reshape(stacked, shape)


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian of real scalar ``f``: the Jacobian of its gradient (shape ``T + T`` for an
    input of shape ``T``)."""
    return _jacobian(_grad(f, argnums, False, "zero", "hessian"), argnums, "hessian")
