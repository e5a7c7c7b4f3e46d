"""The thread governor (`_vm.LinearProgram._run`, `set_thread_governor`): a program whose
kernels may take several threads is timed now and then over a few runs as it runs and a few
runs with the other choice, and keeps the faster (one thread where the cores are slow to
work together: fig1's mlp500 b10 step 44k examples/s on 2 threads, 95k on one)."""

from __future__ import annotations

import numpy as np
import pytest
from lazyarr.exec_cpu._vm import governor_trials, last_kernel_threads, set_thread_governor

import lazyarr
import lazyarr as xp

X = np.random.default_rng(5).standard_normal((512, 1024)).astype(np.float32)


def _f(x):
    return xp.tanh(x) * 0.5 + xp.exp(-x * x)  # 2^19 elements: a kernel without the GIL


def _program():
    f = xp.compile(_f)
    x = xp.asarray(X)
    f(x)
    return f, x, f.program(x).vm


@pytest.fixture
def governor():
    """2 threads; the governor's period set per test and the defaults put back."""
    lazyarr.set_num_threads(2)
    was = set_thread_governor(0.5)
    yield set_thread_governor
    set_thread_governor(was)
    lazyarr.set_num_threads(None)


def _trial(vm, now: float, other: float) -> bool:
    """Feed one trial (6 runs as the program runs now, 6 with the other choice); whether the
    program takes one thread after it."""
    assert vm.feed_governor(now) == vm.on_one_thread  # a regular run: the trial starts
    for _ in range(5):
        assert vm.feed_governor(now) == vm.on_one_thread
    nxt = vm.feed_governor(now)
    assert nxt != vm.on_one_thread  # the other choice's runs follow
    for _ in range(6):
        vm.feed_governor(other)
    return vm.on_one_thread


def test_the_faster_choice_is_kept(governor):
    governor(1e-9)  # a trial after every regular run
    _, _, vm = _program()
    vm.feed_governor(1e-3)  # the first run sets the clock
    assert not vm.on_one_thread
    assert not _trial(vm, 1e-3, 0.85e-3)  # one thread must beat threads by 20%
    assert _trial(vm, 1e-3, 0.5e-3)
    assert _trial(vm, 1e-3, 0.95e-3)  # ... and threads one thread by 10% to come back
    assert not _trial(vm, 1e-3, 0.8e-3)


def test_the_best_run_counts_not_the_mean(governor):
    governor(1e-9)
    _, _, vm = _program()
    vm.feed_governor(1e-3)
    vm.feed_governor(1e-3)
    for s in (9e-3, 1e-3, 1e-3, 1e-3, 1e-3, 50e-3):  # the first of each half is not counted
        vm.feed_governor(s)
    for s in (1e-3, 0.7e-3, 0.7e-3, 30e-3, 0.7e-3, 0.7e-3):
        vm.feed_governor(s)
    assert vm.on_one_thread


def test_runs_keep_their_values_through_trials(governor):
    governor(1e-4)
    f, x, vm = _program()
    want = np.tanh(X) * 0.5 + np.exp(-X * X)
    before = governor_trials()
    seen = set()
    for _ in range(60):
        np.testing.assert_allclose(np.asarray(f(x)), want, rtol=2e-6, atol=1e-6)
        seen.add(last_kernel_threads())
    assert governor_trials() > before
    assert seen == {1, 2}  # trials ran the other choice


def test_off_leaves_programs_alone(governor):
    governor(0.0)
    f, x, vm = _program()
    before = governor_trials()
    for _ in range(20):
        f(x)
    assert governor_trials() == before and last_kernel_threads() == 2


def test_runs_are_compared_per_offer(governor):
    # a loop's trip count, and with it a run's time, may differ from run to run: a trial whose
    # other runs did twice the work in 1.5x the time is a win for the other choice, and one
    # whose runs took twice the time for twice the work is no loss
    governor(1e-9)
    _, _, vm = _program()
    vm.feed_governor(1e-3, 10)

    def trial(now, now_offers, other, other_offers):
        for _ in range(7):  # the first starts the trial
            vm.feed_governor(now, now_offers)
        for _ in range(6):
            vm.feed_governor(other, other_offers)
        return vm.on_one_thread

    assert trial(1e-3, 10, 1.5e-3, 20)  # 0.75x per offer: to one thread
    assert trial(1e-3, 10, 2e-3, 20)  # the same per offer: it stays there
    assert trial(2e-3, 20, 1e-3, 10)  # (0.5x by the clock alone: it would go back)
    assert not trial(1e-3, 10, 0.4e-3, 5)  # 0.8x per offer: back to threads
