"""Derivative tests build hundreds of distinct small graphs; compiling a C kernel for each
(hundreds of compiler runs on a cold cache) would cost minutes and test ``exec_cpu`` again,
which its own tests do against the reference VM. Here programs are rewritten as usual and run
with the NumPy implementations (``link(native_kernels=False)``); tests that ask for the
``native_pipeline`` fixture run on the installed pipeline (generated kernels) instead."""

import pytest

from lazyarr import exec_cpu, trace_cache
from lazyarr.graph import pipeline
from lazyarr.rewrites.db import rewrite

_installed = pipeline._compiler


def _compile_numpy(fg):
    rewrite(fg)
    return exec_cpu.link(fg, native_kernels=False)


def _use(compiler):
    pipeline.set_compiler(compiler)
    trace_cache.clear()


@pytest.fixture(scope="package", autouse=True)
def _numpy_kernels():
    _use(_compile_numpy)
    yield
    _use(_installed)


@pytest.fixture
def native_pipeline():
    """The pipeline ``import lazyarr`` installed (rewrites + native kernels), for one test."""
    _use(_installed)
    yield
    _use(_compile_numpy)
