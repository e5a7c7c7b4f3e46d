"""Indexing: ``x[key]`` and the functional ``x[key] = value``.

A key is parsed once, when the node is built, into a hashable spec (ints, slices, new axes and
placeholders for index arrays) plus the index arrays as inputs. The result shape follows NumPy's
rules and is computed without touching data; a boolean mask gives a size known only at run time
(``None``).
"""

from __future__ import annotations

import operator

import numpy as np

from ...graph.basic import Op, Var
from ...graph.userline import where
from .._front import is_frozen
from .elemwise import broadcast_shapes

# spec entries: ("i", int) | ("s", start, stop, step) | ("n",) | ("a",)  (an array input)
# | ("d",) | ("t", count, step)  (an integer, a slice's start, given as a 0-d input:
#   `dynamic_key`)

_BIG = 1 << 62  # slice bounds are clamped to +-this
#: a ``:`` entry of an indexing spec (a whole axis)
FULL_SLICE = ("s", None, None, None)


def _np_key(spec: tuple, arrays, shape: tuple | None = None) -> tuple:
    """The NumPy key of ``spec`` with its index inputs ``arrays``. With ``shape`` (the indexed
    array's), a slice start given as an input whose slice would run past its axis raises
    IndexError (NumPy would take fewer elements than the op's shape says)."""
    it = iter(arrays)
    out = []
    dim = 0
    for e in spec:
        t = e[0]
        if t == "s":
            out.append(slice(e[1], e[2], e[3]))
        elif t == "i":
            out.append(e[1])
        elif t == "n":
            out.append(None)
            continue
        elif t == "e":
            out.append(Ellipsis)
        elif t == "d":  # a NumPy 0-d array is an integer here (an array would be advanced)
            out.append(int(next(it)))
        elif t == "t":
            start = int(next(it))
            if shape is not None and not (
                    0 <= start < shape[dim] and 0 <= start + (e[1] - 1) * e[2] < shape[dim]):
                raise IndexError(f"a slice of {e[1]} elements by {e[2]} from {start} runs past "
                                 f"axis {dim} of size {shape[dim]}")
            out.append(slice(*_fixed_slice(start, e[1], e[2])[1:]))
        else:
            a = next(it)
            out.append(a)
            if getattr(a, "dtype", None) == np.bool_:
                dim += a.ndim
                continue
        dim += 1
    return tuple(out)


def dynamic_key(spec: tuple, arrays: list, shape: tuple, make_leaf) -> tuple[tuple, list]:
    """``spec`` (over an array of ``shape``) with its integers and slice starts given as
    inputs: ``("i", k)`` becomes ``("d",)`` and a slice with a start ``("t", count, step)``,
    each with ``make_leaf(k)`` (a 0-d int64 constant leaf, `_front.int_leaf`; the start
    normalized by `slice.indices`) among the inputs in spec order, the index ``arrays`` kept
    between them. An index or an offset that changes from call to call (``traj[t] = x``,
    ``X[i:i + B]`` in a loop) is then a constant's value, which the trace cache lifts to a
    run-time argument once it has changed (`graph.scalar_families`), instead of a new op in
    every key; a program built for one value has it folded back (`fixed_spec`,
    `rewrites.canonicalize.fixed_ints`). A shape known only at run time or an Ellipsis among
    advanced indices keeps the key fixed.

    The ops claim they cannot raise (``raises_on_values``, which lets programs write into
    dead buffers) because every value given there was checked by `parse_key` when its node
    was built: a ``("d",)``/``("t", ...)`` input must only ever be such a checked constant
    (`_np_key` refuses a start whose slice runs past its axis all the same)."""
    if None in shape or not any(e[0] == "i" or (e[0] == "s" and e[1] is not None)
                                for e in spec):
        return spec, arrays
    it = iter(arrays)
    new_spec, inputs, dim = [], [], 0
    for e in spec:
        t = e[0]
        if t == "e":
            return spec, arrays
        if t == "i":
            new_spec.append(("d",))
            inputs.append(make_leaf(e[1]))
            dim += 1
        elif t == "s":
            start, stop, step = slice(e[1], e[2], e[3]).indices(shape[dim])
            count = len(range(start, stop, step))
            if e[1] is None or not count:
                new_spec.append(e)
            else:
                new_spec.append(("t", count, step))
                inputs.append(make_leaf(start))
            dim += 1
        elif t == "a":
            a = next(it)
            inputs.append(a)
            new_spec.append(e)
            dim += len(a.shape) if a.dtype.kind == "b" else 1
        else:
            new_spec.append(e)
    return tuple(new_spec), inputs


def fixed_spec(spec: tuple, inputs) -> tuple[tuple, list] | None:
    """``spec`` with each ``("d",)`` integer and ``("t", ...)`` slice whose input (of the
    node's index ``inputs``, in spec order) is a baked constant written as a fixed entry, and
    the index inputs left; None when none could be fixed."""
    new_spec, rest, folded = [], [], False
    it = iter(inputs)
    for e in spec:
        if e[0] in "adt":
            v = next(it)
            if e[0] != "a" and v.owner is None and v.const and v.data is not None:
                new_spec.append(("i", int(v.data)) if e[0] == "d"
                                else _fixed_slice(int(v.data), e[1], e[2]))
                folded = True
                continue
            rest.append(v)
        new_spec.append(e)
    return (tuple(new_spec), rest) if folded else None


def _fixed_slice(start: int, count: int, step: int) -> tuple:
    """The ``("s", ...)`` entry of ``count`` elements from ``start`` by ``step`` (a start
    normalized by `slice.indices`)."""
    stop = start + count * step
    return ("s", start, None if stop < 0 else stop, None if step == 1 else step)


#: the largest and smallest value of read-only index data checked before, by id (an eager
#: loop indexes with the same index array every step: two reductions each time otherwise)
_bounds_seen: dict[int, tuple] = {}


def check_known_bounds(k: Var, d, dim: int) -> None:
    """An integer index array whose values are known now (a leaf: a list, a NumPy or a
    realized array) is checked now, as NumPy checks it: the error names the indexing line
    (a computed index array is checked when the value is computed)."""
    data = k.data
    if d is None or k.owner is not None or data is None or not data.size:
        return
    seen = _bounds_seen.get(id(data))
    if seen is not None and seen[0] is data:
        hi, lo = seen[1], seen[2]
    else:
        hi, lo = data.max(), data.min()
        if is_frozen(data):  # a user's own buffer may change before the next use
            if len(_bounds_seen) >= 256:
                _bounds_seen.clear()
            _bounds_seen[id(data)] = (data, hi, lo)
    if hi >= d or lo < -d:
        bad = int(hi) if hi >= d else int(lo)
        raise IndexError(f"index {bad} is out of bounds for axis {dim} with size {d} "
                         f"({where()})")


def _advanced(items: list) -> bool:
    """Some item is an advanced index (an index array, or an integer beside one)."""
    return any(isinstance(k, (Var, int)) for k in items)


def parse_key(key, shape: tuple, as_var) -> tuple[tuple, list[Var], tuple]:
    """``(spec, index_vars, result_shape)`` for indexing an array of ``shape`` by ``key``."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if k is None or k is Ellipsis or isinstance(k, slice):
            items.append(k)
        elif isinstance(k, (bool, np.bool_)):
            items.append(as_var(np.asarray(k)))
        elif isinstance(k, (int, np.integer)):
            items.append(int(k))
        elif hasattr(k, "_v") or isinstance(k, (np.ndarray, list)):
            v = as_var(np.zeros(0, np.int64) if isinstance(k, list) and not k else k)
            if v.dtype.kind not in "iub":
                raise IndexError(f"arrays used as indices must be of integer or boolean type, "
                                 f"not {v.dtype} ({where()})")
            items.append(v)
        elif hasattr(k, "__index__"):
            items.append(int(k.__index__()))
        else:
            raise IndexError(f"invalid index {k!r} of type {type(k).__name__} ({where()})")
    n_ell = sum(1 for k in items if k is Ellipsis)
    if n_ell > 1:
        raise IndexError(f"an index can only have a single ellipsis ('...') ({where()})")
    consumed = sum(k.shape.__len__() if isinstance(k, Var) and k.dtype.kind == "b" else
                   (0 if k is None or k is Ellipsis else 1) for k in items)
    ndim = len(shape)
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but "
                         f"{consumed} were indexed ({where()})")
    if n_ell:
        i = next(j for j, k in enumerate(items) if k is Ellipsis)
        # an Ellipsis of no axes still separates advanced indices (NumPy then puts their
        # broadcast axes first): kept as a spec entry of its own where it does
        keep = (ndim == consumed and any(isinstance(k, Var) for k in items)
                and _advanced(items[:i]) and _advanced(items[i + 1:]))
        items[i:i + 1] = [Ellipsis] if keep else [slice(None)] * (ndim - consumed)
    else:
        items += [slice(None)] * (ndim - consumed)

    spec, arrays, out, adv_shapes, adv_pos = [], [], [], [], []
    int_pos: list[tuple[int, int]] = []  # (spec entry, output position) of each integer
    dim = 0
    for k in items:
        if k is None:
            spec.append(("n",))
            out.append(1)
        elif k is Ellipsis:
            spec.append(("e",))
        elif isinstance(k, slice):
            try:
                start, stop, step = (None if s is None else operator.index(s)
                                     for s in (k.start, k.stop, k.step))
            except TypeError:
                raise TypeError(f"slice indices must be integers or None, got {k} "
                                f"({where()})") from None
            if step == 0:
                raise ValueError(f"slice step cannot be zero ({where()})")
            # a bound past any array's length means the same as 2**62 (the kernels take C
            # integers; NumPy clamps such bounds)
            start, stop, step = (None if b is None else max(min(b, _BIG), -_BIG)
                                 for b in (start, stop, step))
            d = shape[dim]
            spec.append(("s", start, stop, step))
            out.append(None if d is None else len(range(*slice(start, stop, step).indices(d))))
            dim += 1
        elif isinstance(k, int):
            d = shape[dim]
            if d is not None and not -d <= k < d:
                raise IndexError(f"index {k} is out of bounds for axis {dim} with size {d} "
                                 f"({where()})")
            int_pos.append((len(spec), len(out)))
            spec.append(("i", k))
            dim += 1
        else:  # an index array
            adv_pos.append((len(spec), len(out)))
            spec.append(("a",))
            arrays.append(k)
            if k.dtype.kind == "b":
                m = len(k.shape)
                covered = shape[dim:dim + m]
                if any(a is not None and b is not None and a != b
                       for a, b in zip(k.shape, covered)):
                    raise IndexError(f"boolean index of shape {k.shape} does not match the "
                                     f"indexed dimensions {covered} ({where()})")
                known_empty = None not in k.shape and 0 in k.shape
                adv_shapes.append((0,) if known_empty else (None,))
                dim += m
            else:
                check_known_bounds(k, shape[dim], dim)
                adv_shapes.append(k.shape)
                dim += 1
    if adv_shapes:
        # NumPy: beside an index array, an integer is an advanced index too; the broadcast
        # axes stand where the first advanced index is when they are all next to each other
        # (no slice or new axis between them), else first
        try:
            b = broadcast_shapes(*adv_shapes) if len(adv_shapes) > 1 else adv_shapes[0]
        except ValueError:
            raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                             f"with shapes {' '.join(map(str, adv_shapes))} ({where()})") from None
        advanced = sorted(adv_pos + int_pos)
        entries = [j for j, _ in advanced]
        first, last = entries[0], entries[-1]
        contiguous = entries == list(range(first, last + 1))
        at = advanced[0][1] if contiguous else 0
        out[at:at] = list(b)
    return tuple(spec), arrays, tuple(out)


class GetItem(Op):
    """``x[key]``: inputs are ``x`` then the index arrays of ``spec``."""

    def __init__(self, spec: tuple, out_shape: tuple):
        self.spec, self.out_shape = spec, out_shape
        self.view = not any(e[0] == "a" for e in spec)
        self.raises_on_values = not self.view  # an index array may be out of bounds

    def infer(self, x: Var, *arrays: Var):
        return [(x.dtype, self.out_shape)]

    def perform(self, x: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        return np.asarray(x[_np_key(self.spec, arrays, x.shape)])

    def __repr__(self) -> str:
        return f"GetItem{{{_spec_str(self.spec)}}}"


class UpdateAt:
    """Mixin of the ops returning a copy of ``x`` updated at a key (`SetItem`, `AddAt`):
    inputs ``x, value, *index arrays`` (the spec of `GetItem`); output like ``x``. An op says
    how ``value`` goes in (``write``). Not an `Op` itself, so it is no op of its own.

    ``perform`` always returns a new buffer; ``perform_into`` writes into ``x`` itself, which
    the linker calls where ``x`` is a buffer nothing else reads (donated, or dead and made by
    the program)."""

    spec: tuple

    def __init__(self, spec: tuple):
        self.spec = spec
        # basic keys and value shapes are checked when built; index arrays only when run
        self.raises_on_values = any(e[0] == "a" for e in spec)

    def infer(self, x: Var, value: Var, *arrays: Var):
        return [(x.dtype, x.shape)]

    @staticmethod
    def write(y: np.ndarray, key: tuple, value: np.ndarray) -> None:
        """Put ``value`` into ``y`` at ``key``, in place."""
        raise NotImplementedError

    def perform(self, x: np.ndarray, value: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        y = x.copy()
        self.write(y, _np_key(self.spec, arrays, x.shape), value)
        return y

    def perform_into(self, x: np.ndarray, value: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
        """`perform` writing into ``x`` itself (into a copy if ``x`` is read-only)."""
        if not x.flags.writeable:
            return self.perform(x, value, *arrays)
        self.write(x, _np_key(self.spec, arrays, x.shape), value)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}{{{_spec_str(self.spec)}}}"


class SetItem(UpdateAt, Op):
    """A copy of ``x`` with ``x[key] = value``: inputs ``x, value, *index arrays``."""

    @staticmethod
    def write(y: np.ndarray, key: tuple, value: np.ndarray) -> None:
        y[key] = value


def _spec_str(spec: tuple) -> str:
    parts = []
    for e in spec:
        if e[0] == "i":
            parts.append(str(e[1]))
        elif e[0] == "n":
            parts.append("None")
        elif e[0] == "a":
            parts.append("<array>")
        elif e[0] == "d":
            parts.append("<int>")
        elif e[0] == "t":
            parts.append(f"<start>+{e[1]}" + ("" if e[2] == 1 else f":{e[2]}"))
        elif e[0] == "e":
            parts.append("...")
        else:
            parts.append(":".join("" if s is None else str(s) for s in e[1:3]) +
                         ("" if e[3] is None else f":{e[3]}"))
    return ", ".join(parts)
