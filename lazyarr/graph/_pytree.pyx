# cython: language_level=3
"""Pytree flattening in C (`graph.pytree` documents the structure format and re-exports these):
every eager ``value_and_grad`` call flattens its differentiated arguments and rebuilds them and
the gradient, so the recursion runs without a Python frame per container."""

#: the structure of a leaf and of ``None`` (shared: structures compare by value anyway)
cdef tuple _LEAF = ("leaf",)
cdef tuple _NONE = ("none",)


cdef tuple _sorted_keys(object d):
    """The keys of dict ``d`` in order: sorted, or where they do not compare (``1`` and
    ``"a"``), sorted by their type's name and then ``repr`` (ties in insertion order)."""
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(sorted(d, key=lambda k: (type(k).__qualname__, repr(k))))


cdef object _flat(object t, list leaves):
    tp = type(t)
    if tp is list:
        return ("list", tuple([_flat(x, leaves) for x in <list>t]))
    if tp is tuple:
        return ("tuple", tuple([_flat(x, leaves) for x in <tuple>t]))
    if isinstance(t, tuple):
        if hasattr(tp, "_fields") and hasattr(tp, "_make"):  # a namedtuple: its class too
            return ("ntuple", tp, tuple([_flat(x, leaves) for x in <tuple>t]))
        return ("tuple", tuple([_flat(x, leaves) for x in <tuple>t]))
    if tp is dict or isinstance(t, dict):
        keys = _sorted_keys(t)
        return ("dict", keys, tuple([_flat(t[k], leaves) for k in keys]))
    if isinstance(t, list):
        return ("list", tuple([_flat(x, leaves) for x in t]))
    if t is None:
        return _NONE
    leaves.append(t)
    return _LEAF


def flatten(tree):
    """Leaves (left to right) and a structure description of a pytree of tuples, namedtuples,
    lists, dicts (sorted keys: by type name and ``repr`` where they do not compare) and ``None``; anything else is a leaf."""
    cdef list leaves = []
    return leaves, _flat(tree, leaves)


cdef object _unflat(tuple s, list leaves, Py_ssize_t* pos):
    kind = s[0]
    if kind == "leaf":
        if pos[0] >= len(leaves):  # built with boundscheck off
            raise IndexError(f"unflatten: the structure has more leaves than the {len(leaves)} "
                             "given")
        x = leaves[pos[0]]
        pos[0] += 1
        return x
    if kind == "none":
        return None
    if kind == "tuple":
        return tuple([_unflat(<tuple>c, leaves, pos) for c in <tuple>s[1]])
    if kind == "list":
        return [_unflat(<tuple>c, leaves, pos) for c in <tuple>s[1]]
    if kind == "ntuple":
        return s[1]._make([_unflat(<tuple>c, leaves, pos) for c in <tuple>s[2]])
    return {k: _unflat(<tuple>c, leaves, pos) for k, c in zip(s[1], s[2])}


def unflatten(tuple struct, leaves):
    """Inverse of `flatten`: the pytree of structure ``struct`` over ``leaves`` (a sequence
    with at least as many items as the structure has leaves)."""
    cdef Py_ssize_t pos = 0
    cdef list ls = leaves if type(leaves) is list else list(leaves)
    return _unflat(struct, ls, &pos)
