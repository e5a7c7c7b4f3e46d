"""Generated flatten/unflatten functions for one pytree structure (the hot path of calls).

`control.trace.flatten` walks any pytree recursively; a compiled function called again with the
same structure uses a function generated for that structure instead: one Python expression, no
recursion, no type tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: values compared by ``==`` alone (immutable)
_PLAIN = (bool, int, float, complex, str, bytes, np.generic, type(None))


def value_key(x: Any) -> Any:
    """``x`` (a Python scalar or a static argument's value) as a signature compares it: a
    float or complex by its bits as far as results can tell (``-0.0`` is not ``0.0``, nor
    ``-nan`` ``nan``: copysign reads a NaN's sign; NaNs of one sign are one constant, their
    payloads not told apart), a tuple by its items' types and keys (``(1,)`` is not ``(1.0,)``),
    another object as a `StaticKey`, plain values as they are."""
    if isinstance(x, (float, np.floating)):  # every NumPy float type too
        return _float_key(float(x))
    if isinstance(x, (complex, np.complexfloating)):
        return _float_key(float(x.real)), _float_key(float(x.imag))
    if isinstance(x, tuple):
        return type(x), tuple((type(e), value_key(e)) for e in x)
    if isinstance(x, _PLAIN):
        return x
    return StaticKey(x)


def _float_key(v: float) -> str:
    # float.hex() is "nan" for a NaN of either sign
    return v.hex() if v == v else ("-nan" if math.copysign(1.0, v) < 0 else "nan")


class StaticKey:
    """An object in a signature (a static argument, or an object inside one): its hash as
    it was when the signature was made, and the object. A value at call time matches when its
    hash now is that hash and it is the object or ``==`` to it (`static_equal`): the rule of
    a dictionary lookup by the value's hash at call time, which the signature cache does, and
    of the matchers of the previous call and loop, which call `matches`. So an object mutated
    in place after its trace, whose hash follows its contents, is a new signature on every
    path; one whose hash stays (identity) is the same signature on every path."""

    __slots__ = ("value", "hash")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.hash = hash(value)  # TypeError for an unhashable value

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: Any) -> bool:
        return (type(other) is StaticKey and other.hash == self.hash
                and (other.value is self.value or static_equal(other.value, self.value)))

    def matches(self, x: Any) -> bool:
        """Whether value ``x`` at call time is this key's value (see the class)."""
        try:
            if hash(x) != self.hash:
                return False
        except Exception:  # unhashable now: not this signature (the lookup says why)
            return False
        return x is self.value or static_equal(x, self.value)


def _plain(v: float) -> bool:
    """``==`` compares float ``v`` as `value_key` does: not a NaN, not a zero."""
    return v == v and v != 0.0


def _const_test(src: str, x: Any, consts: list) -> str:
    """A test that ``src`` is the constant ``x`` (its type, then its value as `value_key`
    tells it: plain ``==`` where that says the same)."""
    consts.append(type(x))
    test = f"type({src}) is c[{len(consts) - 1}] and "
    if isinstance(x, tuple):  # item by item (a namedtuple too): no call for a static shape
        return test + " and ".join([f"len({src}) == {len(x)}"] + [
            _const_test(f"{src}[{i}]", e, consts) for i, e in enumerate(x)])
    if isinstance(x, (float, np.floating)) and not _plain(x):
        consts.append(math.copysign(1.0, x))
        value = f"{src} != {src}" if x != x else f"{src} == 0.0"  # a NaN or a zero, by sign
        return test + f"{value} and copysign(1.0, {src}) == c[{len(consts) - 1}]"
    if isinstance(x, (complex, np.complexfloating)) and not (_plain(x.real)
                                                             and _plain(x.imag)):
        consts.append(value_key(x))
        return test + f"key({src}) == c[{len(consts) - 1}]"
    if isinstance(x, _PLAIN):
        consts.append(x)
        return test + f"{src} == c[{len(consts) - 1}]"
    # another object: by its hash and ==, as the signature cache compares it
    consts.append(x if type(x) is StaticKey else StaticKey(x))
    return test + f"c[{len(consts) - 1}].matches({src})"


def static_equal(a: Any, b: Any) -> bool:
    """Whether static value ``a`` equals ``b``: ``a == b`` is a plain True (a bool or NumPy
    bool); an elementwise answer (an array's, a tensor's) or an error means not equal."""
    try:
        eq = a == b
    except Exception:
        return False
    return type(eq) in (bool, np.bool_) and bool(eq)


def _position(key: Any, given: tuple) -> int:
    """Where dict key ``key`` (of a structure, in sorted order) is among the keys as
    ``given``: the same object, else the key of the same type and value."""
    for i, k in enumerate(given):
        if k is key:
            return i
    return next(i for i, k in enumerate(given)
                if type(k) is type(key) and value_key(k) == value_key(key))


def _key_ref(key: Any, keys: list) -> str:
    """Source naming dict key ``key``: ``k[i]``, the generated function's i-th key (any
    hashable key, not only those whose ``repr`` is a literal)."""
    keys.append(key)
    return f"k[{len(keys) - 1}]"


def _flat_expr(struct: Any, src: str, parts: list[str], keys: list) -> None:
    kind = struct[0]
    if kind == "leaf":
        parts.append(src)
    elif kind in ("tuple", "list"):
        for i, s in enumerate(struct[1]):
            _flat_expr(s, f"{src}[{i}]", parts, keys)
    elif kind == "ntuple":
        for i, s in enumerate(struct[2]):
            _flat_expr(s, f"{src}[{i}]", parts, keys)
    elif kind == "dict":
        for key, s in zip(struct[1], struct[2]):
            _flat_expr(s, f"{src}[{_key_ref(key, keys)}]", parts, keys)


def make_flatten(struct: Any) -> Callable[[Any], list]:
    """``flatten(tree) -> leaves`` for trees of exactly ``struct`` (not checked)."""
    parts: list[str] = []
    keys: list = []
    _flat_expr(struct, "t", parts, keys)
    return eval(f"lambda t: [{', '.join(parts)}]", {"k": keys})  # noqa: S307 - from a structure


def _build_expr(struct: Any, counter: list[int], keys: list) -> str:
    kind = struct[0]
    if kind == "leaf":
        counter[0] += 1
        return f"l[{counter[0] - 1}]"
    if kind == "none":
        return "None"
    if kind == "tuple":
        items = [_build_expr(s, counter, keys) for s in struct[1]]
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    if kind == "list":
        return "[" + ", ".join(_build_expr(s, counter, keys) for s in struct[1]) + "]"
    if kind == "ntuple":
        items = [_build_expr(s, counter, keys) for s in struct[2]]
        # _make, as `graph.pytree.unflatten`: a subclass may have its own __new__
        return f"{_key_ref(struct[1], keys)}._make([{', '.join(items)}])"
    return "{" + ", ".join(f"{_key_ref(key, keys)}: {_build_expr(s, counter, keys)}"
                           for key, s in zip(struct[1], struct[2])) + "}"


def make_unflatten(struct: Any) -> Callable[[list], Any]:
    """``unflatten(leaves) -> tree`` of structure ``struct``."""
    keys: list = []
    return eval(f"lambda l: {_build_expr(struct, [0], keys)}", {"k": keys})  # noqa: S307


def make_matcher(spec: Any) -> Callable[[Any], list | None]:
    """``match(tree) -> array leaves`` or None when ``tree`` does not have the structure and
    constants of ``spec``: a structure as from `control.trace.flatten` whose non-array leaves
    are ``("const", value)`` (compared by type and value) or ``("type", t)`` (any value of
    type ``t``), and whose dicts are ``("dict", keys, children, keys as given)``: a dict
    matches with its keys in that order, each of its type and value (``1``, ``True`` and
    ``1.0`` are equal keys that ``f`` tells apart; keys that do not sort keep their order).
    Array leaves are not checked."""
    conds: list[str] = []
    parts: list[str] = []
    consts: list = []
    keys: list = []
    n_dicts = [0]

    def go(s: Any, src: str) -> None:
        kind = s[0]
        if kind == "leaf":
            parts.append(src)
        elif kind == "none":
            conds.append(f"{src} is None")
        elif kind == "const":
            conds.append(_const_test(src, s[1], consts))
        elif kind == "type":
            consts.append(s[1])
            conds.append(f"type({src}) is c[{len(consts) - 1}]")
        elif kind in ("tuple", "list"):
            conds.append(f"type({src}) is {kind} and len({src}) == {len(s[1])}")
            for i, sub in enumerate(s[1]):
                go(sub, f"{src}[{i}]")
        elif kind == "ntuple":
            conds.append(f"type({src}) is {_key_ref(s[1], keys)}")
            for i, sub in enumerate(s[2]):
                go(sub, f"{src}[{i}]")
        else:
            given = f"d{n_dicts[0]}"  # the dict's keys in order, bound in the test
            n_dicts[0] += 1
            conds.append(f"type({src}) is dict and len({given} := tuple({src})) == {len(s[3])}")
            conds.extend(_const_test(f"{given}[{i}]", key, consts) for i, key in enumerate(s[3]))
            for key, sub in zip(s[1], s[2]):  # read through the call's own key (a NaN
                go(sub, f"{src}[{given}[{_position(key, s[3])}]]")  # finds only itself)

    go(spec, "t")
    test = " and ".join(conds) or "True"
    code = f"lambda t: [{', '.join(parts)}] if {test} else None"
    return eval(code, {"c": consts, "k": keys, "copysign": math.copysign,  # noqa: S307
                       "key": value_key})
