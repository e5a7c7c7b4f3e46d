"""Eager misses run before their kernels are compiled (`exec_cpu.tiering`): the first runs
on NumPy, the kernels built in the background after the second, then the native program.

Each test starts from an empty kernel cache (memory and disk), so every kernel is new."""

import os
import threading

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import LinearProgram

import lazyarr as xp
from lazyarr import trace_cache
from lazyarr.exec_cpu import ccache, tiering

pytestmark = pytest.mark.skipif(not ccache.available(), reason="needs a C compiler")


@pytest.fixture
def cold(tmp_path, monkeypatch):
    """An empty kernel cache, background compilation on, a fresh trace cache."""
    xp.finish_compiles()
    monkeypatch.setenv("LAZYARR_CACHE_DIR", str(tmp_path))
    ccache.reset()
    monkeypatch.setattr(ccache, "_loaded", {})
    tiering._wants.clear()  # no program has wanted a kernel yet
    trace_cache.clear()
    before = xp.set_background_compile(True)
    yield tmp_path
    assert xp.finish_compiles(timeout=120)
    xp.set_background_compile(before)
    trace_cache.clear()
    ccache.reset()


@pytest.fixture(autouse=True)
def _switch_restored():
    """Each test leaves background compilation as it found it (on, the rest of the suite
    would run on NumPy first and build in the background while the session's kernel
    directory is removed)."""
    before = xp.background_compile()
    yield
    assert xp.background_compile() == before


def _entry_program():
    """The program of the trace cache's most recent entry."""
    return list(trace_cache._d.values())[-1].program


def _expr(a, b):
    return xp.sum(xp.exp(a) * b + xp.tanh(b) * 0.25, axis=0)


def _oracle(a, b):
    return np.sum(np.exp(a) * b + np.tanh(b) * 0.25, axis=0)


def _data(n=300):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 3)), rng.standard_normal((n, 3))


def test_a_miss_runs_on_numpy_without_the_compiler(cold):
    a, b = _data()
    builds = ccache.stats["builds"]
    got = np.asarray(_expr(xp.asarray(a), xp.asarray(b)))
    np.testing.assert_allclose(got, _oracle(a, b), rtol=1e-13)
    prog = _entry_program()
    assert isinstance(prog, tiering.Provisional) and not prog.native
    assert ccache.stats["builds"] == builds  # no compiler run for the first run
    assert xp.finish_compiles(timeout=60)
    assert ccache.stats["builds"] == builds  # met once: nothing asked for


def test_second_run_builds_in_background_then_the_entry_runs_native(cold):
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    want = _oracle(a, b)
    builds = ccache.stats["builds"]
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(_expr(xa, xb)), want, rtol=1e-13)
    prov = _entry_program()
    assert isinstance(prov, tiering.Provisional)
    assert xp.finish_compiles(timeout=120)
    assert ccache.stats["builds"] > builds  # the background thread compiled the kernels
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), want, rtol=1e-13)  # promotes
    assert prov.native
    assert type(_entry_program()) is LinearProgram  # the entry calls the native program now
    builds = ccache.stats["builds"]
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), want, rtol=1e-13)
    assert ccache.stats["builds"] == builds


def test_a_kernel_two_programs_want_is_built_though_each_runs_once(cold):
    """Programs of one structure on new shapes run once each but share their kernels: the
    second program wanting them asks for their build, and the next new shape runs native."""
    builds = ccache.stats["builds"]
    for n in (300, 301):
        a, b = _data(n)
        got = np.asarray(_expr(xp.asarray(a), xp.asarray(b)))
        np.testing.assert_allclose(got, _oracle(a, b), rtol=1e-13)
        assert isinstance(_entry_program(), tiering.Provisional)
    assert xp.finish_compiles(timeout=120)
    assert ccache.stats["builds"] > builds
    a, b = _data(302)
    np.testing.assert_allclose(np.asarray(_expr(xp.asarray(a), xp.asarray(b))), _oracle(a, b),
                               rtol=1e-13)
    assert type(_entry_program()) is LinearProgram


def test_a_program_that_asked_for_its_kernels_leaves_no_want_counted(cold, monkeypatch):
    """A program's own request (its second run) takes its kernels out of the count of
    programs wanting them: where they are missing again (another, empty kernel cache), a
    structure met once still builds nothing."""
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    for _ in range(2):
        np.asarray(_expr(xa, xb))
    assert xp.finish_compiles(timeout=120)
    monkeypatch.setenv("LAZYARR_CACHE_DIR", str(cold / "other"))
    ccache.reset()
    monkeypatch.setattr(ccache, "_loaded", {})
    trace_cache.clear()
    builds = ccache.stats["builds"]
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), _oracle(a, b), rtol=1e-13)
    assert isinstance(_entry_program(), tiering.Provisional)
    assert xp.finish_compiles(timeout=60)
    assert ccache.stats["builds"] == builds  # met once: nothing asked for


def test_kernels_at_hand_give_the_native_program_at_once(cold):
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    for _ in range(2):
        np.asarray(_expr(xa, xb))
    assert xp.finish_compiles(timeout=120)
    trace_cache.clear()  # the same structure misses again: its kernels are on hand now
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), _oracle(a, b), rtol=1e-13)
    assert type(_entry_program()) is LinearProgram


def test_a_large_miss_compiles_at_once(cold):
    n = tiering.WORK_MAX // 3 + 1000  # the fused node's (n, 3) inputs exceed WORK_MAX
    a, b = _data(n)
    builds = ccache.stats["builds"]
    np.testing.assert_allclose(np.asarray(_expr(xp.asarray(a), xp.asarray(b))), _oracle(a, b),
                               rtol=1e-12)
    assert type(_entry_program()) is LinearProgram
    assert ccache.stats["builds"] > builds


def test_switched_off_compiles_at_once_and_promotes_a_provisional_program(cold):
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    np.asarray(_expr(xa, xb))
    prov = _entry_program()
    assert isinstance(prov, tiering.Provisional)
    assert xp.set_background_compile(False) is True
    assert not xp.background_compile()
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), _oracle(a, b), rtol=1e-13)
    assert prov.native and type(_entry_program()) is LinearProgram
    c = xp.asarray(a[:, :2])
    np.testing.assert_allclose(np.asarray(xp.cos(c) * 3.5 - c), np.cos(a[:, :2]) * 3.5 - a[:, :2])
    assert type(_entry_program()) is LinearProgram


def test_compile_links_every_kernel_at_once(cold):
    a, b = _data()
    f = xp.compile(_expr)
    builds = ccache.stats["builds"]
    np.testing.assert_allclose(np.asarray(f(xp.asarray(a), xp.asarray(b))), _oracle(a, b),
                               rtol=1e-13)
    assert ccache.stats["builds"] > builds
    assert type(f.program(xp.asarray(a), xp.asarray(b)).vm) is LinearProgram


def test_eager_sgd_steps_match_through_the_switch_to_kernels(cold):
    """Steps whose updates write into dead buffers (donation) give the same parameters as
    with every kernel compiled at once, before and after the program is promoted."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 300)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    W0 = (0.01 * rng.standard_normal((300, 10))).astype(np.float32)

    def loss_fn(w, x, y):
        z = x @ w
        lse = xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
        return xp.mean(xp.sum(y * (lse - z), axis=1))

    vg = xp.value_and_grad(loss_fn)

    def train(steps):
        w = xp.asarray(W0.copy())
        x, y = xp.asarray(X), xp.asarray(Y)
        losses = []
        for i in range(steps):
            loss, g = vg(w, x, y)
            w = w - 0.1 * g
            losses.append(float(loss))
            if i == 3:
                assert xp.finish_compiles(timeout=120)
        return np.asarray(w), losses

    w_tiered, l_tiered = train(8)
    xp.set_background_compile(False)
    trace_cache.clear()
    w_now, l_now = train(8)
    np.testing.assert_allclose(l_tiered, l_now, rtol=1e-5)
    np.testing.assert_allclose(w_tiered, w_now, rtol=1e-5, atol=1e-7)


def test_a_failed_background_build_is_built_when_the_program_is_promoted(cold, monkeypatch):
    def broken(templates):
        raise RuntimeError("compiler exploded")

    monkeypatch.setattr(tiering.native, "build_templates", broken)
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    for _ in range(2):
        np.asarray(_expr(xa, xb))
    assert xp.finish_compiles(timeout=60)
    builds = ccache.stats["builds"]
    # the next run links again, building what is missing now, and is right
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), _oracle(a, b), rtol=1e-13)
    assert type(_entry_program()) is LinearProgram
    assert ccache.stats["builds"] > builds


def test_no_build_thread_means_a_build_now(cold, monkeypatch):
    """Where no thread can start (at interpreter shutdown), the second run builds the
    kernels itself instead of queuing a job nobody runs (``finish_compiles`` hung)."""
    def refuse(self):
        raise RuntimeError("can't create new thread at interpreter shutdown")

    monkeypatch.setitem(tiering._state, "worker", None)  # (a new dict would outlive `cold`)
    monkeypatch.setattr(threading.Thread, "start", refuse)
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    np.asarray(_expr(xa, xb))
    assert isinstance(_entry_program(), tiering.Provisional)
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), _oracle(a, b), rtol=1e-13)
    assert type(_entry_program()) is LinearProgram
    assert xp.finish_compiles(timeout=0)


def test_a_miss_with_much_fused_work_compiles_at_once(cold):
    """Work counts a fused node's operations, not only its size: a long chain over fewer
    elements than `WORK_MAX` would run far slower on NumPy than waiting for its kernel."""
    n = tiering.WORK_MAX // 8
    a = np.linspace(0.0, 1.0, n)
    y = xp.asarray(a)
    want = a.copy()
    for k in range(12):
        y = xp.sin(y) * 0.5 + xp.tanh(y + 0.25 * k)
        want = np.sin(want) * 0.5 + np.tanh(want + 0.25 * k)
    builds = ccache.stats["builds"]
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-12)
    assert type(_entry_program()) is LinearProgram
    assert ccache.stats["builds"] > builds


def test_threads_share_provisional_programs(cold):
    a, b = _data()
    want = _oracle(a, b)
    errors = []

    def run():
        try:
            xa, xb = xp.asarray(a), xp.asarray(b)
            for _ in range(20):
                np.testing.assert_allclose(np.asarray(_expr(xa, xb)), want, rtol=1e-13)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ts = [threading.Thread(target=run) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert xp.finish_compiles(timeout=120)
    np.asarray(_expr(xp.asarray(a), xp.asarray(b)))
    assert type(_entry_program()) is LinearProgram


def test_environment_switch(tmp_path):
    import subprocess
    import sys

    code = "import lazyarr as xp; print(xp.background_compile())"
    for value, want in (("0", "False"), ("1", "True")):
        env = dict(os.environ, LAZYARR_BACKGROUND_COMPILE=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == want


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_build_builds_alone(cold, monkeypatch):
    """A child forked while the build thread held the kernel cache's file locks kept them
    held forever (its copy of the lock's file was never closed): the child's own build of
    that kernel blocked in ``flock``. The child now drops its copies (the parent's build
    keeps its locks and finishes), and has no queued builds (``finish_compiles`` returns at
    once)."""
    import time

    real = ccache._build

    def slow(*args):  # under the kernels' file locks
        time.sleep(0.5)
        real(*args)

    monkeypatch.setattr(ccache, "_build", slow)
    a, b = _data()
    xa, xb = xp.asarray(a), xp.asarray(b)
    want = _oracle(a, b)
    for _ in range(2):  # the second run queues the build
        np.asarray(_expr(xa, xb))
    time.sleep(0.2)  # the build thread holds the kernels' locks now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            ok = xp.finish_compiles(timeout=5)
            got = np.asarray(_expr(xa, xb))
            code = 0 if ok and np.allclose(got, want, rtol=1e-13) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
    assert xp.finish_compiles(timeout=60)
    np.testing.assert_allclose(np.asarray(_expr(xa, xb)), want, rtol=1e-13)
    assert type(_entry_program()) is LinearProgram


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_never_lands_inside_a_compiler_spawn(monkeypatch):
    """A fork Pool started right after an eager warm-up hung on about one run in four: a
    worker forked while the build thread spawned the compiler kept copies of the spawn's
    pipes, the build waited for their EOF holding its kernels' locks, and the worker's own
    build waited for those locks. A fork now waits for a spawn under way (milliseconds)."""
    import subprocess
    import time

    real = subprocess.Popen

    class SlowSpawn(real):
        def __init__(self, *args, **kwargs):
            time.sleep(0.5)  # inside the spawn
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ccache.subprocess, "Popen", SlowSpawn)
    t = threading.Thread(target=ccache._run, args=(["true"],))
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        os._exit(0)
    waited = time.monotonic() - t0
    os.waitpid(pid, 0)
    t.join()
    assert waited >= 0.3
