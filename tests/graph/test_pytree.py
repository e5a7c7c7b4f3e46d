"""graph.pytree (C flatten/unflatten): structures and leaves as the documented format says,
checked against a plain recursive oracle, and round trips."""

from collections import OrderedDict, namedtuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lazyarr.graph.pytree import flatten, struct_str, unflatten

Pair = namedtuple("Pair", "a b")


def _oracle(t, leaves):
    if isinstance(t, tuple) and hasattr(type(t), "_fields"):
        return ("ntuple", type(t), tuple(_oracle(x, leaves) for x in t))
    if isinstance(t, tuple):
        return ("tuple", tuple(_oracle(x, leaves) for x in t))
    if isinstance(t, list):
        return ("list", tuple(_oracle(x, leaves) for x in t))
    if isinstance(t, dict):
        keys = tuple(sorted(t))
        return ("dict", keys, tuple(_oracle(t[k], leaves) for k in keys))
    if t is None:
        return ("none",)
    leaves.append(t)
    return ("leaf",)


trees = st.recursive(
    st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.text(max_size=2)),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.tuples(kids, kids),
                           st.dictionaries(st.text(max_size=2), kids, max_size=3)),
    max_leaves=12)


@given(trees)
def test_flatten_matches_oracle_and_round_trips(tree):
    leaves, struct = flatten(tree)
    ref: list = []
    assert struct == _oracle(tree, ref)
    assert leaves == ref
    assert unflatten(struct, leaves) == tree
    assert unflatten(struct, iter(leaves)) == tree


def test_namedtuples_and_subclasses():
    """A namedtuple is a node, as in JAX: its fields are leaves (or trees) and unflatten
    rebuilds its class; an OrderedDict is a dict."""
    p = Pair(1, [2, None])
    leaves, struct = flatten([p, OrderedDict(b=4, a=3), (5,)])
    assert leaves == [1, 2, 3, 4, 5]
    assert struct_str(struct) == "[Pair(*, [*, None]), {'a': *, 'b': *}, (*,)]"
    back = unflatten(struct, leaves)
    assert type(back[0]) is Pair and back == [p, {"a": 3, "b": 4}, (5,)]
    assert flatten(Pair(1, 2))[1] != flatten((1, 2))[1]


def test_too_few_leaves_raises():
    _, struct = flatten([1, 2])
    with pytest.raises(IndexError):
        unflatten(struct, [1])


def test_dict_keys_that_do_not_compare():
    """``{1: a, "a": b}``: sorted by type name and repr (sorting them raised a bare
    TypeError from grad and compile); the order does not depend on insertion."""
    leaves, struct = flatten({1: "x", "a": "y", (2,): "z"})
    leaves2, struct2 = flatten({(2,): "z", "a": "y", 1: "x"})
    assert struct == struct2 and leaves == leaves2 == ["x", "y", "z"]
    assert unflatten(struct, leaves) == {1: "x", "a": "y", (2,): "z"}
