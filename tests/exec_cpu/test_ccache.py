"""The compiler driver and disk cache: concurrent builders build once, a corrupt or foreign file
is rebuilt (never loaded), an unwritable directory falls back to a private one, and with no C
compiler everything still runs (on NumPy) with one warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lazyarr.exec_cpu import ccache

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def _source(tag: str) -> str:
    return f"int la_probe_{tag}(int x) {{ return x + {len(tag)}; }}\n"


def _env(cache_dir, **extra):
    env = dict(os.environ)
    env["LAZYARR_CACHE_DIR"] = str(cache_dir)
    env.update(extra)
    return env


def _run_at_once(script: str, tmp_path, n: int) -> list[dict]:
    """Start ``n`` processes running ``script`` on the cache in ``tmp_path`` at once; the JSON
    each prints last."""
    procs = [subprocess.Popen([PY, "-c", script], env=_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def test_concurrent_processes_build_each_kernel_once(tmp_path):
    """8 processes compile the same 2 kernels at once: all succeed, 2 builds in total."""
    script = textwrap.dedent("""
        import json, sys
        from lazyarr.exec_cpu import ccache
        res = []
        for tag in ("alpha", "beta"):
            lib = ccache.load("int la_probe_%s(int x) { return x + %d; }\\n" % (tag, len(tag)))
            res.append(getattr(lib, "la_probe_" + tag)(10))
        print(json.dumps({"res": res, "builds": ccache.stats["builds"]}))
    """)
    outs = _run_at_once(script, tmp_path, 8)
    assert all(o["res"] == [15, 14] for o in outs)
    assert sum(o["builds"] for o in outs) == 2
    assert len(list(tmp_path.glob("*.so"))) == 2
    assert not list(tmp_path.glob("build-*"))  # no temporary files left behind


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAZYARR_CACHE_DIR", str(tmp_path))
    ccache.reset()
    ccache._loaded.clear()
    yield tmp_path
    ccache.reset()


def test_corrupt_truncated_and_foreign_files_are_rebuilt(fresh_cache):
    src = _source("gamma")
    key = ccache.kernel_key(src)
    path = fresh_cache / f"{key}.so"
    b0 = ccache.stats["builds"]
    ccache.load(src)
    assert ccache.stats["builds"] == b0 + 1 and path.exists()
    good = path.read_bytes()
    other = _source("delta")
    ccache.load(other)
    foreign = (fresh_cache / f"{ccache.kernel_key(other)}.so").read_bytes()
    for bad in (good[: len(good) // 2],                          # truncated
                good[:100] + b"\xff" * 64 + good[164:],          # corrupt body
                foreign,                                         # another key's valid file
                b"not an ELF file at all"):
        path.unlink()  # a loaded library is mapped: never rewrite it in place
        path.write_bytes(bad)
        ccache._loaded.clear()
        before = ccache.stats["builds"], ccache.stats["rejected"]
        lib = ccache.load(src)
        assert lib.la_probe_gamma(1) == 6
        assert ccache.stats["builds"] == before[0] + 1
        assert ccache.stats["rejected"] == before[1] + 1
        assert path.read_bytes() == good  # the rebuilt file is identical (reproducible)
    ccache._loaded.clear()
    hits = ccache.stats["disk_hits"]
    ccache.load(src)
    assert ccache.stats["disk_hits"] == hits + 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only directories")
def test_unwritable_directory_falls_back_to_private_temp(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        monkeypatch.setenv("LAZYARR_CACHE_DIR", str(ro))
        ccache.reset()
        ccache._loaded.clear()
        with pytest.warns(RuntimeWarning, match="not writable"):
            d = ccache.cache_dir()
        assert d != ro and d.exists() and (d.stat().st_mode & 0o077) == 0
        assert ccache.load(_source("eps")).la_probe_eps(0) == 3
    finally:
        ro.chmod(0o700)
        ccache.reset()


def test_unwritable_directory_in_subprocess(tmp_path):
    """A cache path under a regular file can never be created, even by root."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    script = textwrap.dedent("""
        import warnings
        warnings.simplefilter("error")
        import numpy as np
        from lazyarr.exec_cpu import ccache
        try:
            ccache.cache_dir()
        except RuntimeWarning as w:
            assert "not writable" in str(w)
        warnings.simplefilter("ignore")
        ccache.reset()
        d = ccache.cache_dir()
        lib = ccache.load("int la_probe_z(int x) { return 2 * x; }\\n")
        print(d, lib.la_probe_z(21))
    """)
    r = subprocess.run([PY, "-c", script], env=_env(blocker / "sub"), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d, val = r.stdout.split()
    assert val == "42" and not d.startswith(str(blocker))
    # the private directories (one per `cache_dir` after a reset) went with the process: each
    # suite run used to leave two in the system's temp directory
    assert not os.path.exists(d)


def test_no_compiler_runs_on_numpy_with_one_warning(tmp_path):
    """PATH without a compiler: programs still compute right, and one warning says why."""
    script = textwrap.dedent("""
        import warnings
        import numpy as np
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            import lazyarr as xp
            a = xp.asarray(np.arange(6.0).reshape(2, 3))
            b = xp.asarray(np.ones(3))
            r1 = np.asarray(xp.exp(a) * 2 + b)
            r2 = np.asarray(xp.sin(a) - xp.cos(b))
            r3 = np.asarray(a @ xp.asarray(np.ones((3, 2))))
        x = np.arange(6.0).reshape(2, 3)
        assert np.allclose(r1, np.exp(x) * 2 + 1)
        assert np.allclose(r2, np.sin(x) - np.cos(1.0))
        assert np.allclose(r3, x @ np.ones((3, 2)))
        msgs = [str(w.message) for w in rec if "C compiler" in str(w.message)]
        print(len(msgs))
    """)
    env = _env(tmp_path / "cache", PATH=str(Path(PY).parent) + ":/nonexistent", CC="cc")
    r = subprocess.run([PY, "-c", script], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "1"
    assert not list((tmp_path / "cache").glob("*.so")) if (tmp_path / "cache").exists() else True


def test_kernel_source_does_not_depend_on_sizes():
    from lazyarr.array.ops.elemwise import Elemwise
    from lazyarr.exec_cpu.native import elementwise_kernel
    from lazyarr.graph import Var, apply

    srcs = set()
    for n in (3, 1000, 10**6):
        x, y = Var.input(np.float32, (n,)), Var.input(np.float32, (n,))
        out, = apply(Elemwise("add"), x, y)
        srcs.add(elementwise_kernel(out.owner).source(True))
    assert len(srcs) == 1


def test_a_kernel_pruned_by_another_process_before_loading_is_rebuilt(fresh_cache, monkeypatch):
    """A full cache prunes files other processes may have just validated: the loader builds
    the kernel again instead of failing (it used to fall back to NumPy with a warning)."""
    src = _source("epsilon")
    key = ccache.kernel_key(src)
    path = fresh_cache / f"{key}.so"
    ccache._build_locked(src, key, fresh_cache, path)  # on disk, not loaded (dlopen would
    # find an already loaded library by its name even after the file is gone)
    real_valid = ccache._valid
    pruned = []

    def valid_then_pruned(p, key):
        ok = real_valid(p, key)
        if ok and not pruned:
            p.unlink()  # another process prunes it between our check and dlopen
            pruned.append(p)
        return ok

    monkeypatch.setattr(ccache, "_valid", valid_then_pruned)
    b0 = ccache.stats["builds"]
    assert ccache.load(src).la_probe_epsilon(1) == 8
    assert pruned and path.exists() and ccache.stats["builds"] == b0 + 1


def test_pruning_removes_the_least_recently_used_kernels(fresh_cache, monkeypatch):
    monkeypatch.setattr(ccache, "MAX_FILES", 2)
    old, used, new = _source("old"), _source("used"), _source("new")
    for i, src in enumerate((used, old)):  # 'used' is built first, so it is the oldest file
        ccache.load(src)
        p = fresh_cache / f"{ccache.kernel_key(src)}.so"
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
    ccache._loaded.clear()
    ccache.load(used)  # a disk hit marks it recently used
    ccache.load(new)   # the third kernel prunes one: the least recently used, 'old'
    names = {p.name for p in fresh_cache.glob("*.so")}
    assert names == {f"{ccache.kernel_key(s)}.so" for s in (used, new)}


def test_pruning_tolerates_files_another_process_pruned(tmp_path, monkeypatch):
    """Two processes prune at once: a file listed but already gone must not fail the build
    that triggered the pruning (it used to raise FileNotFoundError from stat)."""
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.so").write_bytes(b"x")
    listed = sorted(tmp_path.glob("*.so")) + [tmp_path / "gone.so"]
    monkeypatch.setattr(ccache, "_listing", lambda d: (list(listed), []))
    monkeypatch.setattr(ccache, "MAX_FILES", 1)
    ccache._prune(tmp_path)
    assert len(list(tmp_path.iterdir())) == 1



def _count_listings(monkeypatch) -> list:
    listings = []
    real = ccache._listing
    monkeypatch.setattr(ccache, "_listing", lambda d: listings.append(d) or real(d))
    return listings


def test_a_full_cache_is_pruned_below_its_bound_and_not_listed_at_every_build(fresh_cache,
                                                                              monkeypatch):
    """Past `MAX_FILES` the cache is pruned down to `PRUNE_TO` (the most recently used kept),
    so a full cache is listed once per many builds: it was listed (and every kernel reference
    read) at each build, ~40 ms on a cache of 4000 kernels, as much as compiling one."""
    monkeypatch.setattr(ccache, "MAX_FILES", 6)
    monkeypatch.setattr(ccache, "PRUNE_TO", 3)
    monkeypatch.setattr(ccache, "RECOUNT_EVERY", 100)
    listings = _count_listings(monkeypatch)
    sources = [_source(f"full{i:02d}") for i in range(14)]
    counts = []
    for i, src in enumerate(sources):
        ccache.load(src)
        os.utime(fresh_cache / f"{ccache.kernel_key(src)}.so", (1_000_000 + i,) * 2)
        counts.append(len(list(fresh_cache.glob("*.so"))))
    # listed at the first build, then when the 7th and the 11th passed the bound
    assert len(listings) == 3
    assert counts == [1, 2, 3, 4, 5, 6, 3, 4, 5, 6, 3, 4, 5, 6]
    kept = {p.name for p in fresh_cache.glob("*.so")}
    assert kept == {f"{ccache.kernel_key(s)}.so" for s in sources[-6:]}


def test_other_processes_kernels_are_counted_every_few_builds(fresh_cache, monkeypatch):
    """A process's count of the cache misses other processes' builds until its next listing,
    `RECOUNT_EVERY` builds later: then the cache is pruned all the same."""
    monkeypatch.setattr(ccache, "MAX_FILES", 6)
    monkeypatch.setattr(ccache, "PRUNE_TO", 4)
    monkeypatch.setattr(ccache, "RECOUNT_EVERY", 3)
    listings = _count_listings(monkeypatch)
    ccache.load(_source("mine0"))
    for i in range(8):  # another process's kernels, older than this process's
        other = fresh_cache / f"{i:040x}.so"
        other.write_bytes(b"x")
        os.utime(other, (1_000_000 + i,) * 2)
    ccache.load(_source("mine1"))
    ccache.load(_source("mine2"))
    assert len(listings) == 1 and len(list(fresh_cache.glob("*.so"))) == 11
    ccache.load(_source("mine3"))  # the third build since the count lists the directory
    assert len(listings) == 2
    assert {p.name for p in fresh_cache.glob("*.so")} == {
        f"{ccache.kernel_key(_source(f'mine{i}'))}.so" for i in range(4)}


def test_build_directories_left_by_a_killed_build_are_removed(fresh_cache):
    """A compiler killed with its process leaves its ``build-*`` directory: one older than
    `STALE_BUILD_S` goes at the next listing; a recent one may be another process's build."""
    stale, live = fresh_cache / "build-stale", fresh_cache / "build-live"
    for d in (stale, live):
        d.mkdir()
        (d / "k.c").write_text("int x;\n")
    old = time.time() - ccache.STALE_BUILD_S - 60
    os.utime(stale, (old, old))
    ccache.load(_source("zeta"))  # this process's first build lists the directory
    assert not stale.exists() and live.exists()

# ---- bundles: a program's missing kernels in one compiler run per translation unit ----------

PRELUDE = "#define LA_TWICE(x) (2 * (x))\n"
SFX = "__SFX"


def _tpl(n: int) -> str:
    return f"int la_probe{SFX}(int x) {{ return LA_TWICE(x) + {n}; }}\n"


def _call(got, x: int) -> int:
    lib, sfx = got
    return getattr(lib, "la_probe" + sfx)(x)


def test_missing_kernels_are_built_together_and_found_again(fresh_cache, monkeypatch):
    monkeypatch.setattr(ccache, "JOBS", 2)
    b0, k0 = ccache.stats["builds"], ccache.stats["kernels_built"]
    got = ccache.load_kernels(PRELUDE, [_tpl(1), _tpl(2), _tpl(3), _tpl(1)], SFX)
    assert [_call(g, 10) for g in got] == [21, 22, 23, 21]
    assert ccache.stats["builds"] == b0 + 2  # 3 kernels, 2 translation units
    assert ccache.stats["kernels_built"] == k0 + 3
    assert len(list(fresh_cache.glob("*.so"))) == 2 and len(list(fresh_cache.glob("*.ref"))) == 3
    # another process (memory forgotten): every kernel from disk, a new one built alone
    ccache._loaded.clear()
    hits = ccache.stats["disk_hits"]
    got = ccache.load_kernels(PRELUDE, [_tpl(3), _tpl(4), _tpl(2)], SFX)
    assert [_call(g, 0) for g in got] == [3, 4, 2]
    assert ccache.stats["kernels_built"] == k0 + 4 and ccache.stats["builds"] == b0 + 3
    assert ccache.stats["disk_hits"] >= hits + 1
    # the same process again: memory hits only
    b1 = ccache.stats["builds"]
    ccache.load_kernels(PRELUDE, [_tpl(1), _tpl(4)], SFX)
    assert ccache.stats["builds"] == b1


def test_bad_kernel_references_are_misses_not_errors(fresh_cache, monkeypatch):
    monkeypatch.setattr(ccache, "JOBS", 1)
    ccache.load_kernels(PRELUDE, [_tpl(5), _tpl(6)], SFX)
    key5 = ccache.kernel_key(PRELUDE + _tpl(5))
    key6 = ccache.kernel_key(PRELUDE + _tpl(6))
    ref = fresh_cache / f"{key5}.ref"
    bundle_of_6 = (fresh_cache / f"{key6}.ref").read_text()
    ccache.load_kernels(PRELUDE, [_tpl(7)], SFX)
    other_bundle = (fresh_cache / f"{ccache.kernel_key(PRELUDE + _tpl(7))}.ref").read_text()
    for bad in ("garbage\xff", "0" * 40, other_bundle, "../" + bundle_of_6):
        ref.write_text(bad, encoding="latin-1")
        ccache._loaded.clear()
        got, = ccache.load_kernels(PRELUDE, [_tpl(5)], SFX)
        assert _call(got, 1) == 7
        # rebuilt (the first time; then found as the bundle of that one kernel) and the
        # reference rewritten to name it
        fixed = ref.read_text()
        assert _KEY_RE.fullmatch(fixed) and fixed not in (bundle_of_6, other_bundle)
        assert (fresh_cache / f"{fixed}.so").exists()
    # a bundle that fails its trailer check is never loaded: its kernels are rebuilt
    path = fresh_cache / f"{bundle_of_6}.so"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    ccache._loaded.clear()
    k = ccache.stats["kernels_built"]
    got, = ccache.load_kernels(PRELUDE, [_tpl(6)], SFX)
    assert _call(got, 1) == 8 and ccache.stats["kernels_built"] == k + 1


_KEY_RE = __import__("re").compile(r"[0-9a-f]{40}")


def test_a_kernel_that_does_not_compile_fails_alone(fresh_cache, monkeypatch):
    monkeypatch.setattr(ccache, "JOBS", 1)
    broken = f"int la_probe{SFX}(int x) {{ return x +; }}\n"
    got = ccache.load_kernels(PRELUDE, [_tpl(8), broken, _tpl(9)], SFX)
    assert _call(got[0], 0) == 8 and _call(got[2], 0) == 9
    assert isinstance(got[1], ccache.CompileError)


def test_kernels_published_by_another_process_meanwhile_are_not_rebuilt(fresh_cache,
                                                                       monkeypatch):
    """The race behind duplicate builds: a process looks up 3 kernels, misses all, and before it
    builds, another process publishes a bundle holding 2 of them. Only the third is compiled."""
    monkeypatch.setattr(ccache, "JOBS", 2)
    keys = {ccache.kernel_key(PRELUDE + _tpl(n)): n for n in (1, 2, 3)}
    split = ccache._split

    def other_process_publishes_first(missing, templates):
        first_two = sorted(k for k, n in keys.items() if n != 3)
        ccache._load_bundle(PRELUDE, first_two, templates)
        for k in first_two:  # forgotten in memory: only the disk says where they are
            del ccache._loaded[k]
        return split(missing, templates)

    monkeypatch.setattr(ccache, "_split", other_process_publishes_first)
    b0, k0 = ccache.stats["builds"], ccache.stats["kernels_built"]
    got = ccache.load_kernels(PRELUDE, [_tpl(1), _tpl(2), _tpl(3)], SFX)
    assert [_call(g, 10) for g in got] == [21, 22, 23]
    assert ccache.stats["kernels_built"] == k0 + 3  # 2 by the other process, 1 here
    assert ccache.stats["builds"] == b0 + 2
    assert len(list(fresh_cache.glob("*.so"))) == 2 and len(list(fresh_cache.glob("*.ref"))) == 3


def test_concurrent_processes_build_a_bundle_once(tmp_path):
    """8 processes load the same 3 kernels at once: each translation unit is compiled once."""
    script = textwrap.dedent(f"""
        import json
        from lazyarr.exec_cpu import ccache
        ccache.JOBS = 2
        tpl = lambda n: "int la_probe{SFX}(int x) {{ return LA_TWICE(x) + %d; }}\\n" % n
        got = ccache.load_kernels({PRELUDE!r}, [tpl(1), tpl(2), tpl(3)], {SFX!r})
        res = [getattr(lib, "la_probe" + s)(10) for lib, s in got]
        print(json.dumps({{"res": res, "builds": ccache.stats["builds"]}}))
    """)
    outs = _run_at_once(script, tmp_path, 8)
    assert all(o["res"] == [21, 22, 23] for o in outs)
    assert sum(o["builds"] for o in outs) == 2
    assert len(list(tmp_path.glob("*.so"))) == 2 and len(list(tmp_path.glob("*.ref"))) == 3
    assert not list(tmp_path.glob("build-*")) and not list(tmp_path.glob(".tmp-*"))


def test_compiler_version_is_remembered_per_compiler_binary(fresh_cache, monkeypatch):
    ccache._state.pop("ccid", None)
    first = ccache._compiler_id()
    want = subprocess.run([ccache.compiler(), "--version"], capture_output=True).stdout
    assert first == want.split(b"\n", 1)[0] and first
    memo, = fresh_cache.glob("compiler-*")
    # a new process finds it without running the compiler
    ccache._state.pop("ccid", None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("ran the compiler"))
    assert ccache._compiler_id() == first
    monkeypatch.undo()
    # a damaged memo is not trusted: the compiler is asked again and the memo rewritten
    for bad in (b"", b"garbage\n", memo.read_bytes()[:-1]):
        memo.write_bytes(bad)
        ccache._state.pop("ccid", None)
        assert ccache._compiler_id() == first
        assert memo.read_bytes().endswith(first + b"\n")


def test_a_build_running_while_the_interpreter_exits_keeps_its_directory(tmp_path):
    """The exit-time finalizers ran while a background build's compiler was still writing
    into its temporary directory: a ``TemporaryDirectory`` finalizer deleted it and the build
    failed with a misleading warning. A slow compiler and the exit functions run meanwhile."""
    slow = tmp_path / "slowcc"
    slow.write_text("#!/bin/sh\nsleep 0.5\nexec cc \"$@\"\n")
    slow.chmod(0o755)
    script = textwrap.dedent("""
        import atexit, json, threading, time
        from lazyarr.exec_cpu import ccache
        src = "int la_probe_exit(int x) { return x + 7; }\\n"
        key = ccache.kernel_key(src)
        d = ccache.cache_dir()
        err = []
        def build():
            try:
                ccache._build(src, key, d, d / (key + ".so"))
            except Exception as exc:
                err.append(repr(exc))
        t = threading.Thread(target=build)
        t.start()
        time.sleep(0.2)              # the compiler is running
        atexit._run_exitfuncs()      # what the interpreter runs at exit, meanwhile
        t.join()
        print(json.dumps({"err": err, "built": (d / (key + ".so")).exists()}))
    """)
    r = subprocess.run([PY, "-c", script], env=_env(tmp_path / "cache", CC=str(slow)),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"err": [], "built": True}
