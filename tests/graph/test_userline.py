"""Nodes record the user's site as (code, f_lasti) and resolve it to the user's file and line
only when asked; operators and namespace functions (C functions, no frame of their own) and
Python helpers inside lazyarr (which are walked past) both find the user's frame."""

from __future__ import annotations

import gc
import inspect
import weakref

import numpy as np
import pytest

import lazyarr as xp
from lazyarr.graph import basic
from lazyarr.graph.userline import format_site, site_location


def _line() -> int:
    return inspect.currentframe().f_back.f_lineno


def test_operators_functions_and_reflected_operators_record_the_users_line():
    x = xp.asarray(np.arange(4.0))
    y = xp.asarray(np.ones(4))
    cases = []
    cases.append((x + y, _line()))
    cases.append((2.0 * x, _line()))   # reflected, Python scalar
    cases.append((xp.exp(x), _line()))
    cases.append((xp.clip(x, 0.5, 2.0), _line()))  # built by lazyarr Python code
    cases.append((x.astype(xp.float32) - 1, _line()))
    for arr, line in cases:
        assert site_location(arr._v.owner.site) == (__file__, line)
        assert format_site(arr._v.owner.site) == f"{__file__}, line {line}"


def _deep(x):
    # many lines before the call: the line is resolved from the code's line table
    a = 1
    b = a + 1
    c = b + 1
    del c
    return xp.sin(x), _line()


def test_site_is_resolved_lazily_and_keeps_no_frame_alive():
    class Token:
        pass

    def build():
        token = Token()  # a local of the building frame
        x = xp.asarray(np.arange(3.0))
        return _deep(x), weakref.ref(token)

    (out, line), ref = build()
    gc.collect()
    assert ref() is None  # the site holds the code object, not the frame (and its locals)
    code, lasti = out._v.owner.site
    assert code is _deep.__code__ and isinstance(lasti, int)
    assert site_location(out._v.owner.site) == (__file__, line)


def test_no_site_when_tracking_is_off(monkeypatch):
    monkeypatch.setattr(basic, "track_sites", False)
    x = xp.asarray(np.arange(3.0))
    assert (x * x)._v.owner.site is None
    assert format_site(None) == "<unknown location>"


def test_errors_from_the_c_fast_path_name_the_users_line():
    x = xp.asarray(np.zeros(3))
    with pytest.raises(ValueError) as info:
        line = _line() + 1
        x + xp.asarray(np.zeros(4))
    assert f"{__file__}, line {line}" in str(info.value)
    with pytest.raises(TypeError) as info:
        line = _line() + 1
        xp.asarray(np.zeros(3, bool)) - True
    assert f"{__file__}, line {line}" in str(info.value)
