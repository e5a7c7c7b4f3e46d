"""The shape rules in C (array/ops/_shapes.pyx) against NumPy's own shape logic."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lazyarr.array.ops.elemwise import broadcast_shapes
from lazyarr.array.ops.linalg import matmul_shape
from lazyarr.array.ops.reduce import reduced_shape

shapes = st.lists(st.integers(1, 3), max_size=4).map(tuple)


@given(st.lists(shapes, min_size=1, max_size=3))
def test_broadcast_shapes_like_numpy(ss):
    try:
        ref = np.broadcast_shapes(*ss)
    except ValueError:
        with pytest.raises(ValueError, match="cannot be broadcast together.*test_shape_rules"):
            broadcast_shapes(*ss)
        return
    assert broadcast_shapes(*ss) == ref


def test_broadcast_unknown_sizes():
    assert broadcast_shapes((None, 3), (5, 1)) == (5, 3)
    assert broadcast_shapes((1,), (None,)) == (None,)
    assert broadcast_shapes((4, None), (None,)) == (4, None)


@given(shapes, shapes)
def test_matmul_shape_like_numpy(a, b):
    try:
        ref = np.matmul(np.zeros(a), np.zeros(b)).shape
    except ValueError:
        with pytest.raises(ValueError, match="matmul.*test_shape_rules"):
            matmul_shape(a, b)
        return
    assert matmul_shape(a, b) == ref


@given(shapes.filter(len), st.data(), st.booleans())
def test_reduced_shape_like_numpy(shape, data, keepdims):
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1)))))
    ref = np.sum(np.zeros(shape), axis=axes, keepdims=keepdims).shape
    assert reduced_shape(shape, axes, keepdims) == ref
