"""Provisional programs: an eager trace-cache miss runs before its kernels are compiled.

A new graph structure needs generated C kernels, and a compiler run costs 50-150 ms (a bundle;
~0.7 s for the row kernels): far more than running a small program on NumPy. So a realization
that misses links its program with the kernels at hand (in memory or in the disk cache); a
node whose kernel is not built yet runs its op's NumPy ``perform`` instead. That
`Provisional` program asks for its kernels on its second run (a structure met once never pays
the compiler), and a kernel that a second program wants is asked for then (the same code on
new shapes makes a new structure each time, each run once, all sharing their kernels); one
background thread builds them while the program goes on running on NumPy;
the first run after they are built links the program again, now with its kernels, and hands
that program to its owner (the trace-cache entry), so later runs call it directly.

A miss whose NumPy fallback would be large (more than `WORK_MAX` element operations in nodes
that want a kernel) compiles at once: there a run costs more than waiting for the compiler.
`lazyarr.compile`, loop bodies and the debug modes always link with every kernel.

Only the first runs of a structure differ: NumPy's ``exp`` or ``tanh`` may round differently
from the kernel's in the last bit. ``set_background_compile(False)`` (or
``LAZYARR_BACKGROUND_COMPILE=0`` in the environment) compiles every miss at once, as
`lazyarr.compile` does (benchmarks time steady states so: `bench.report.bench_env`);
`finish_compiles` waits for the builds asked so far.
"""

from __future__ import annotations

import atexit
import math
import os
import queue
import threading
from collections.abc import Callable

from ..array.ops.composite import Composite, FusedReduce
from ..array.ops.rowprog import RowProgram
from ..graph.fgraph import FunctionGraph
from . import ccache, dot_update, native
from .linker import link

__all__ = ["Provisional", "link_provisional", "set_background_compile", "background_compile",
           "finish_compiles", "WORK_MAX", "BUILD_ON_RUN"]

#: the run of a provisional program that asks for its kernels (run 1 is the miss itself)
BUILD_ON_RUN = 2
#: element operations of the kernel-wanting nodes above which a miss compiles at once
WORK_MAX = 1 << 20

_state: dict = {"on": os.environ.get("LAZYARR_BACKGROUND_COMPILE", "1").strip().lower()
                not in ("0", "false", "off", "no"), "worker": None}
_jobs: queue.Queue = queue.Queue()
_idle = threading.Condition()
_busy = [0]  # jobs queued or running
#: bumped in a forked child: a job of an earlier generation is the parent's
_generation = [0]


def set_background_compile(on: bool) -> bool:
    """Compile the kernels of eager trace-cache misses in the background (``True``, the
    default) or at once (``False``); returns the previous setting."""
    before = _state["on"]
    _state["on"] = bool(on)
    return before


def background_compile() -> bool:
    """Whether eager misses compile their kernels in the background."""
    return _state["on"]


def finish_compiles(timeout: float | None = None) -> bool:
    """Wait until the kernel builds asked for so far are done (at most ``timeout`` seconds);
    True when none is left. Each provisional program switches to its kernels on its next run."""
    with _idle:
        return _idle.wait_for(lambda: _busy[0] == 0, timeout)


def link_provisional(fg: FunctionGraph) -> Callable:
    """``fg`` (rewritten) linked without waiting for the compiler: its native program when all
    its kernels are at hand or its NumPy fallback would be large, else a `Provisional`."""
    if not _state["on"] or not ccache.available():
        return link(fg)
    missing: list = []
    first = link(fg, defer=missing)
    if not missing:
        return first  # every kernel at hand: how large the work is does not matter
    if _kernel_work(fg) > WORK_MAX:
        return link(fg)
    ripe = _wanted_again(missing)
    if ripe and _submit(ripe) is None:  # no build thread: the programs build them when
        _asked.difference_update(ripe)  # promoted
    return Provisional(fg, first, missing)


#: kernel templates that provisional programs wanted and no build was asked for yet, with how
#: many programs wanted each: programs of one structure on new shapes each run once, but
#: share their kernels, so the `BUILD_ON_RUN`-th program wanting a kernel asks for its build
_wants: dict = {}
#: templates whose build is queued or running
_asked: set = set()
#: `_wants` is forgotten past this many templates (each met once; a template is kBs of C, as
#: for `ccache._keys`)
WANTS_MAX = 1024


def _wanted_again(missing: list) -> list:
    """The templates of ``missing`` now wanted by `BUILD_ON_RUN` programs (counting this
    one), taken out of `_wants` and marked asked for."""
    ripe = []
    for t in dict.fromkeys(missing):
        if t in _asked:
            continue
        n = _wants.get(t, 0) + 1
        if n >= BUILD_ON_RUN:
            _wants.pop(t, None)
            _asked.add(t)
            ripe.append(t)
        else:
            if len(_wants) >= WANTS_MAX:
                _wants.clear()
            _wants[t] = n
    return ripe


def _asking(missing: list) -> None:
    """``missing`` is about to be asked for by its own program: no longer counted as wanted
    (a count left behind would make a later program met once build them), and marked asked
    for (before the job is queued: the build thread unmarks them when done)."""
    for t in missing:
        _wants.pop(t, None)
    _asked.update(missing)


class Provisional:
    """A program running with NumPy in place of the kernels that ``missing`` lists (kernel
    templates, `dot_update.SOURCE`) until they are built; then ``fg`` linked again."""

    __slots__ = ("fg", "_run", "_missing", "_runs", "_job", "owner")

    def __init__(self, fg: FunctionGraph, first: Callable, missing: list):
        self.fg = fg
        self._run = first
        self._missing = missing
        self._runs = 0
        self._job: _Job | None = None
        #: what holds this program (a trace-cache entry): handed the native program
        self.owner = None

    @property
    def native(self) -> bool:
        """Whether the kernels are in use."""
        return self.fg is None

    def __call__(self, args: list) -> list:
        if self.fg is not None:
            job = self._job
            if job is None:
                self._runs += 1
                if not _state["on"]:
                    self._promote()
                elif self._runs >= BUILD_ON_RUN:
                    _asking(self._missing)
                    self._job = _submit(self._missing)
                    if self._job is None:  # no build thread could start: build now
                        _asked.difference_update(self._missing)
                        self._promote()
            elif job.done or job.generation != _generation[0]:
                self._promote()
        return self._run(args)

    def _promote(self) -> None:
        """Link ``fg`` with its kernels (built by now, else built here; one that fails to
        build runs on NumPy) and hand the program to the owner."""
        program = link(self.fg)
        self._run = program
        self.fg = self._job = self._missing = None
        if self.owner is not None:
            self.owner.promote(program)
            self.owner = None


def _kernel_work(fg: FunctionGraph) -> float:
    """Element operations of the nodes that want a generated kernel: the larger of their
    inputs' and outputs' sizes times their scalar operations (a fused node's steps, a row
    program's members'); a size known only at run time counts as unbounded."""
    work = 0.0
    for node in fg.toposort():
        if node.op.lazy or not (native.elementwise_kernel(node) or native.reduce_kernel(node)
                                or native.row_kernel(node)):
            continue
        largest = 0.0
        for v in (*node.inputs, *node.outputs):
            if None in v.shape:
                return math.inf
            largest = max(largest, float(math.prod(v.shape)))
        work += largest * _operations(node.op)
    return work


def _operations(op) -> int:
    """Scalar operations per element of ``op``: a `Composite`'s steps (through a
    `FusedReduce`), a `RowProgram`'s members', else 1."""
    if isinstance(op, FusedReduce):
        op = op.composite
    if isinstance(op, Composite):
        return max(1, len(op.steps))
    if isinstance(op, RowProgram):
        return max(1, sum(_operations(m[0]) for m in op.members))
    return 1


class _Job:
    """A build asked for: the kernels' templates and sources; ``done`` once tried."""

    __slots__ = ("missing", "done", "generation")

    def __init__(self, missing: list):
        self.missing = missing
        self.done = False
        self.generation = _generation[0]


def _submit(missing: list) -> _Job | None:
    """Queue a build of ``missing``; None where no build thread could be started (at
    interpreter shutdown, say)."""
    if _state["worker"] is None:
        t = threading.Thread(target=_work, name="lazyarr-compile", daemon=True)
        try:
            t.start()
        except RuntimeError:
            return None
        _state["worker"] = t
    job = _Job(missing)
    with _idle:
        _busy[0] += 1
    _jobs.put(job)
    return job


def _work() -> None:
    """The build thread: one job at a time (the compiler runs of a job are parallel already)."""
    while True:
        job = _jobs.get()
        try:
            _build(job.missing)
        except Exception:  # noqa: BLE001 - the next run links again; a failure shows there
            pass
        finally:
            _asked.difference_update(job.missing)  # built (or failed: `native._failed`)
            job.done = True
            with _idle:
                _busy[0] -= 1
                _idle.notify_all()


def _build(missing: list) -> None:
    templates = [m for m in missing if m is not dot_update.SOURCE]
    native.build_templates(templates)
    if len(templates) < len(missing):
        ccache.load(dot_update.SOURCE)


def _after_fork_in_child() -> None:
    """No build thread here: queued jobs stay the parent's; a provisional program whose job
    is the parent's links with a build of its own (`Provisional.__call__`; the kernel
    cache's locks that the parent's build held are the parent's alone:
    `ccache._drop_locks_in_child`)."""
    global _jobs, _idle
    _jobs = queue.Queue()
    _idle = threading.Condition()
    _busy[0] = 0
    _generation[0] += 1
    _wants.clear()
    _asked.clear()
    _state["worker"] = None


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _drop_queued() -> None:
    """At exit, start no further build (the one running is left to finish or be cut)."""
    while True:
        try:
            _jobs.get_nowait()
        except queue.Empty:
            return
        with _idle:
            _busy[0] -= 1
