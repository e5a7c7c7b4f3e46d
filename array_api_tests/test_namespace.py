"""Every name of the standard exists in lazyarr (enumerated from array_api_strict, so a
missing name fails), with the standard's kind of object; constants and dtypes; the namespace
inspection object agrees with the reference."""

from __future__ import annotations

import math

import array_api_strict as S
import pytest
from _support import STRICT_ONLY, dtype_name

import lazyarr as L

MAIN = sorted(n for n in S.__all__ if n not in STRICT_ONLY)
LINALG = sorted(S.linalg.__all__)
FFT = sorted(S.fft.__all__)
DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64", "complex64", "complex128"]


def test_version():
    assert L.__array_api_version__ == "2024.12"
    assert L.__name__ == "lazyarr"


@pytest.mark.parametrize("name", MAIN)
def test_main_namespace_name(name):
    assert hasattr(L, name), f"lazyarr lacks the standard's {name!r}"
    ref, ours = getattr(S, name), getattr(L, name)
    if name in DTYPES:
        assert dtype_name(ours) == name
    elif isinstance(ref, float):
        assert isinstance(ours, float)
        assert ours == ref or (math.isnan(ours) and math.isnan(ref))
    elif ref is None:
        assert ours is None
    elif callable(ref):
        assert callable(ours)


@pytest.mark.parametrize("name", LINALG)
def test_linalg_name(name):
    assert callable(getattr(L.linalg, name, None)), f"lazyarr.linalg lacks {name!r}"


@pytest.mark.parametrize("name", FFT)
def test_fft_name(name):
    assert callable(getattr(L.fft, name, None)), f"lazyarr.fft lacks {name!r}"


def test_array_object_attributes():
    ref = S.ones((2, 3))
    ours = L.ones((2, 3))
    for attr in [a for a in dir(ref) if a.startswith("__") and a.endswith("__")] + [
            "dtype", "device", "mT", "ndim", "shape", "size", "T", "to_device"]:
        if attr in ("__dict__", "__module__", "__weakref__", "__annotations__", "__slots__",
                    "__init_subclass__", "__subclasshook__", "__class_getitem__", "__new__",
                    "__getstate__", "__firstlineno__", "__static_attributes__",
                    "__orig_bases__", "__parameters__", "__array__", "__buffer__",
                    "__doc__"):
            continue
        assert hasattr(ours, attr), f"Array lacks {attr}"


def test_namespace_info_matches_reference():
    ref, ours = S.__array_namespace_info__(), L.__array_namespace_info__()
    rc, oc = ref.capabilities(), ours.capabilities()
    assert set(rc) <= set(oc)
    assert oc["boolean indexing"] is True and oc["data-dependent shapes"] is True
    assert isinstance(oc["max dimensions"], int | None)
    assert {k: dtype_name(v) for k, v in ours.default_dtypes().items()} == \
        {k: dtype_name(v) for k, v in ref.default_dtypes(device=ref.default_device()).items()}
    for kind in (None, "bool", "signed integer", "unsigned integer", "integral",
                 "real floating", "complex floating", "numeric", ("bool", "integral")):
        assert set(ours.dtypes(kind=kind)) == set(ref.dtypes(kind=kind)), kind
    assert ours.default_device() in ours.devices()
    x = L.ones(2, device=ours.default_device())
    assert x.device == ours.default_device()


def test_array_namespace_api_version():
    x = L.ones(2)
    assert x.__array_namespace__() is L
    assert x.__array_namespace__(api_version="2024.12") is L
    with pytest.raises(ValueError):
        x.__array_namespace__(api_version="2000.01")


def test_namespace_info_dtypes_are_a_new_dict_each_call():
    info = L.__array_namespace_info__()
    first = info.dtypes(kind="real floating")
    assert set(first) == {"float32", "float64"}
    first.clear()
    assert set(info.dtypes(kind="real floating")) == {"float32", "float64"}
    assert info.dtypes(kind=("bool", L.int8)) == {"bool": L.bool, "int8": L.int8}
    with pytest.raises(TypeError, match="not a dtype"):
        info.dtypes(kind=["bool"])
