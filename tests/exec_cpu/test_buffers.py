"""The buffers compiled programs keep between runs (`exec_cpu/buffers.py`): bounded across
programs, released on request, and still reused by a program that runs again and again."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as xp

MIB = 1 << 20


@pytest.fixture(autouse=True)
def _limit():
    old = xp.set_buffer_limit(xp.buffer_info()["limit"])
    yield
    xp.set_buffer_limit(old)


def _programs(n: int):
    """``n`` distinct elementwise programs over a 2 MiB float64 input, each run once and its
    result dropped: each keeps its 2 MiB output to take back."""
    x0 = np.linspace(0.0, 1.0, 2 * MIB // 8)
    fs = [xp.sin, xp.cos, xp.exp, xp.tanh, xp.sqrt, xp.log1p, xp.expm1, xp.atan][:n]
    oracle = [np.sin, np.cos, np.exp, np.tanh, np.sqrt, np.log1p, np.expm1, np.arctan][:n]
    x = xp.asarray(x0)
    for f, g in zip(fs, oracle):
        r = f(x) * 3.0 + 1.0
        np.testing.assert_allclose(np.asarray(r), g(x0) * 3.0 + 1.0, rtol=1e-12)
        del r
    return x, x0, fs, oracle


def test_programs_keep_at_most_the_limit_least_recently_run_first():
    xp.release_buffers()
    xp.set_buffer_limit(5 * MIB)
    x, x0, fs, oracle = _programs(6)
    info = xp.buffer_info()
    assert info["limit"] == 5 * MIB
    assert 2 * MIB <= info["kept"] <= 5 * MIB and info["programs"] <= 2
    for f, g in zip(fs, oracle):  # released programs allocate anew: the same values
        np.testing.assert_allclose(np.asarray(f(x) * 3.0 + 1.0), g(x0) * 3.0 + 1.0,
                                   rtol=1e-12)
    assert xp.buffer_info()["kept"] <= 5 * MIB


def test_release_buffers_lets_every_program_go_and_a_lower_limit_applies_at_once():
    xp.set_buffer_limit(64 * MIB)
    x, x0, fs, oracle = _programs(4)
    assert xp.buffer_info()["kept"] >= 8 * MIB
    xp.set_buffer_limit(3 * MIB)
    assert xp.buffer_info()["kept"] <= 3 * MIB
    xp.release_buffers()
    assert xp.buffer_info() == {"kept": 0, "programs": 0, "limit": 3 * MIB}
    np.testing.assert_allclose(np.asarray(fs[0](x) * 3.0 + 1.0), oracle[0](x0) * 3.0 + 1.0,
                               rtol=1e-12)


def test_a_program_alone_over_the_limit_still_takes_its_output_back():
    xp.release_buffers()
    xp.set_buffer_limit(MIB)
    x = xp.asarray(np.linspace(0.0, 1.0, 2 * MIB // 8))
    ptrs = []
    for _ in range(3):
        r = np.asarray(xp.sin(x) * 5.0 - 2.0)
        ptrs.append(r.ctypes.data)
        del r
    assert ptrs[1] == ptrs[2]


@pytest.mark.parametrize("bad, err", [(-1, ValueError), (1.5, TypeError), (True, TypeError),
                                      ("1", TypeError)])
def test_set_buffer_limit_checks_its_argument(bad, err):
    with pytest.raises(err, match="set_buffer_limit"):
        xp.set_buffer_limit(bad)


def test_set_buffer_limit_takes_numpy_and_huge_integers():
    xp.set_buffer_limit(np.int64(3 * MIB))
    assert xp.buffer_info()["limit"] == 3 * MIB
    xp.set_buffer_limit(2 ** 64)  # no limit
    assert xp.buffer_info()["limit"] >= 2 ** 62


def test_programs_with_a_cond_count_against_the_limit_too():
    """A program with a lazy node (`cond`) beside its big elementwise work keeps buffers as
    a linear one does, and counts them."""
    xp.release_buffers()
    xp.set_buffer_limit(64 * MIB)
    x0 = np.linspace(0.0, 1.0, 2 * MIB // 8)
    x, flag = xp.asarray(x0), xp.asarray(True)
    fs = [(xp.sin, np.sin), (xp.cos, np.cos), (xp.exp, np.exp)]
    for f, g in fs:
        r = f(x) * 3.0 + xp.cond(flag, lambda a: a[:1] * 2.0, lambda a: a[:1] * 5.0, x)
        np.testing.assert_allclose(np.asarray(r), g(x0) * 3.0 + x0[0] * 2.0, rtol=1e-12)
        del r
    assert xp.buffer_info()["programs"] >= 3
    xp.release_buffers()
    assert xp.buffer_info()["kept"] == 0


def test_programs_of_a_fraction_of_a_mebibyte_count_too():
    """Many programs each keeping 128 KiB (a loop over new minibatch sizes keeps one per size
    in the trace cache) are bounded like big ones."""
    xp.release_buffers()
    xp.set_buffer_limit(300 * 1024)
    x0 = np.linspace(0.0, 1.0, 128 * 1024 // 8)
    x = xp.asarray(x0)
    for f, g in [(xp.sin, np.sin), (xp.cos, np.cos), (xp.exp, np.exp), (xp.tanh, np.tanh)]:
        np.testing.assert_allclose(np.asarray(f(x) * 3.0 - 1.0), g(x0) * 3.0 - 1.0, rtol=1e-12,
                                   atol=1e-14)
    info = xp.buffer_info()
    assert 128 * 1024 <= info["kept"] <= 300 * 1024 and info["programs"] == 2
