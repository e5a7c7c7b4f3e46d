"""A linked program given fewer argument arrays than it reads raises instead of crashing."""

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.array import materialize


def _program_of(make):
    materialize.trace_cache.clear()
    np.asarray(make())
    (entry,) = materialize.trace_cache._d.values()
    return entry.program


@pytest.mark.parametrize("make", [
    lambda: xp.asarray(np.ones(4)) * xp.asarray(np.arange(4.0)) + 1.0,  # linear
    lambda: xp.cond(xp.asarray(True), lambda a: a + 1.0, lambda a: a - 1.0,
                    xp.asarray(np.ones(3))),  # lazy
])
def test_too_few_arguments_is_a_value_error(make):
    program = _program_of(make)
    with pytest.raises(ValueError, match="argument arrays"):
        program([])
    if hasattr(program, "profile"):
        with pytest.raises(ValueError, match="argument arrays"):
            program.profile([], repeat=1)
