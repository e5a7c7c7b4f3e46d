"""Compiler driver and on-disk kernel cache.

``load(source)`` returns a loaded shared object (``ctypes.CDLL``) for a C source, compiling it
with the system C compiler (``$CC`` or ``cc``) only when no valid cached build exists.

* Key: SHA-256 of the source, the flags, the compiler's version line, the CPU's features and a
  format version. Files live in ``$LAZYARR_CACHE_DIR`` or ``$XDG_CACHE_HOME/lazyarr/kernels``
  (default ``~/.cache/lazyarr/kernels``); an unwritable directory falls back to a private
  temporary one.
* Integrity: every cached file ends with a trailer ``MAGIC + sha256(key + body)``; a file whose
  trailer does not match (corrupt, truncated, written for another key) is rebuilt, never loaded.
* Concurrency: builds take an exclusive ``flock`` on ``<key>.lock``, re-check the cache under the
  lock (so N processes asking at once build once), compile to a temporary name in the same
  directory and publish it with an atomic ``os.replace``.
* The cache keeps about `MAX_FILES` shared objects: past that, the least recently used are
  removed (a disk hit refreshes the file's mtime) down to `PRUNE_TO`, so that a full cache is
  listed once per thousand builds, not at every build. A process counts the directory at its
  first build and every `RECOUNT_EVERY` builds after, so other processes' builds show at the
  next count. A kernel pruned by another process before it is loaded is rebuilt; a build
  directory left by a killed compiler is removed with the pruning.
* Bundles (``load_kernels``): the kernels a program misses are compiled together, the prelude
  parsed once, in at most `JOBS` translation units built at once. A kernel's key is the key of
  its template (prelude + its code); its functions are named with ``_<key>`` appended and the
  bundle defines ``la_has_<key>``. ``<key>.ref`` names the bundle that holds it; a reference
  that is unreadable, names a missing or invalid bundle or one without ``la_has_<key>`` is a
  miss (the kernel is built again), never an error. Bundles are built holding the lock of
  each member kernel (``<key>.lock``, taken in sorted order), and members another process
  published meanwhile are taken from it, not compiled again.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FORMAT = b"lazyarr-kernel-v1"
MAGIC = b"\0LAZYARR-KERNEL\0"
TRAILER = len(MAGIC) + 32
MAX_FILES = 4000
#: a pruning keeps this many (listing 4000 bundles and their references cost ~40 ms: done at
#: every build of a full cache, it doubled the cost of a new kernel)
PRUNE_TO = 3000
#: builds of this process between two counts of the cache directory
RECOUNT_EVERY = 64
#: seconds after which a ``build-*`` directory is taken as left by a killed build
STALE_BUILD_S = 3600.0
#: translation units of one program's missing kernels compiled at once
JOBS = max(1, min(4, os.cpu_count() or 1))
_KEY = re.compile(r"[0-9a-f]{40}")

# -O2, not -O3: fig1's mlp500 b60 step (13 kernels, 2 bundles) compiled in ~0.47 s instead of
# ~0.59 s, its run time unchanged, and elementwise_bench (a)-(c) equal in alternating runs; the
# price is column sums (a strided reduction row) ~1.3x slower (60x500: 45 -> 63 us)
FLAGS = ["-O2", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11",
         "-fno-math-errno", "-fno-trapping-math", "-fwrapv", "-ffp-contract=off",
         "-fcx-fortran-rules", "-fno-builtin-sin", "-fno-builtin-cos", "-fno-builtin-sinf",
         "-fno-builtin-cosf", "-w"]
if platform.machine() in ("x86_64", "AMD64"):
    # GCC's tuning for some AMD cores (znver1, and newer ones it does not know) prefers 128-bit
    # vectors, which picks the SSE libmvec variants: 256-bit made exp/sin/cos chains ~1.5x faster
    FLAGS.append("-mprefer-vector-width=256")


@functools.cache
def _first_cpu() -> tuple[bytes, ...]:
    """The lines of ``/proc/cpuinfo`` for the first processor, up to its feature flags (none
    where there is no such file)."""
    lines = []
    try:
        for line in Path("/proc/cpuinfo").read_bytes().splitlines():
            lines.append(line)
            if line.startswith((b"flags", b"Features")):
                break
    except OSError:
        pass
    return tuple(lines)


def wide_math() -> bool:
    """Whether loops calling vector math take 512-bit vectors (``LA_MATH_LOOP``, prelude.h):
    on AMD cores with AVX-512 (Zen 4 and later), where libmvec's 16-lane variants ran float32
    tanh 2.6x and float64 tanh 1.9x faster than its 8-lane ones (Zen 5). Other cores keep
    their default width: not measured, and some Intel cores lower their clock for 512-bit
    work."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    lines = _first_cpu()
    vendor = any(x.startswith(b"vendor_id") and b"AuthenticAMD" in x for x in lines)
    return vendor and any(x.startswith(b"flags") and b" avx512f" in x for x in lines)


if wide_math():
    FLAGS.append("-DLA_WIDE_MATH")

#: counters read by tests and benchmarks
stats = {"builds": 0, "disk_hits": 0, "memory_hits": 0, "rejected": 0, "kernels_built": 0}

_loaded: dict[str, ctypes.CDLL] = {}
_state: dict = {}


class CompileError(RuntimeError):
    """The C compiler failed on a generated kernel."""


def compiler() -> str | None:
    """Path of the C compiler (``$CC`` or ``cc``), or None if there is none."""
    if "cc" not in _state:
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        _state["cc"] = cc
        if cc is None:
            warnings.warn("lazyarr: no C compiler found on PATH; programs run on the NumPy "
                          "path (slower). Install gcc or set CC.", RuntimeWarning, stacklevel=2)
    return _state["cc"]


def available() -> bool:
    """True when kernels can be compiled here."""
    return compiler() is not None


def have_mvec() -> bool:
    """True when glibc's vector math library (libmvec) can be linked."""
    if "mvec" not in _state:
        # dlopen of the runtime library: ctypes.util.find_library runs ldconfig (~5 ms)
        ok = False
        if sys.platform.startswith("linux"):
            try:
                ctypes.CDLL("libmvec.so.1")
                ok = True
            except OSError:
                ok = bool(ctypes.util.find_library("mvec"))
        _state["mvec"] = ok
    return _state["mvec"]


def _libs() -> list[str]:
    return (["-lmvec"] if have_mvec() else []) + ["-lm"]


def _compiler_id() -> bytes:
    """The compiler's version line, remembered in the cache directory per compiler binary
    (resolved path, size, mtime: the line is built into the driver), so that a process does
    not start ``cc --version`` just to look kernels up."""
    if "ccid" not in _state:
        cc = compiler()
        if cc is None:
            return b"unknown"
        try:
            real = os.path.realpath(cc)
            st = os.stat(real)
            stamp = f"{real}\0{st.st_size}\0{st.st_mtime_ns}\0".encode()
        except OSError:
            stamp = None
        memo = cache_dir() / ("compiler-" + hashlib.sha256(stamp or b"").hexdigest()[:16])
        ccid = None
        if stamp is not None:
            try:
                data = memo.read_bytes()
                if data.startswith(stamp) and data.endswith(b"\n"):
                    ccid = data[len(stamp):-1]
            except OSError:
                pass
        if ccid is None:
            try:
                ccid = _run([cc, "--version"], timeout=60)[1].split(b"\n", 1)[0]
            except (OSError, subprocess.SubprocessError):
                ccid = b"unknown"
            if stamp is not None and ccid != b"unknown":
                _write_atomic(memo, stamp + ccid + b"\n")
        _state["ccid"] = ccid
    return _state["ccid"]


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by rename (readers see the old file or the new one)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def _cpu_id() -> bytes:
    if "cpu" not in _state:
        flags = b"".join(x for x in _first_cpu()
                         if x.startswith((b"flags", b"Features", b"model name")))
        _state["cpu"] = platform.machine().encode() + flags
    return _state["cpu"]


def cache_dir() -> Path:
    """The kernel cache directory in use (created; private temp dir if unwritable)."""
    d = _state.get("dir")
    if d is not None:
        return d
    env = os.environ.get("LAZYARR_CACHE_DIR")
    if env:
        cand = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        cand = Path(base) / "lazyarr" / "kernels"
    try:
        cand.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=cand, prefix=".probe")
        os.close(fd)
        os.unlink(probe)
        d = cand
    except OSError:
        d = Path(tempfile.mkdtemp(prefix="lazyarr-kernels-"))
        atexit.register(shutil.rmtree, d, True)  # this process's alone: gone with it
        warnings.warn(f"lazyarr: kernel cache {cand} is not writable; using {d} for this "
                      "process", RuntimeWarning, stacklevel=2)
    _state["dir"] = d
    return d


def reset() -> None:
    """Forget the cache directory and compiler found (tests change the environment)."""
    for k in ("dir", "cc", "ccid", "mvec"):
        _state.pop(k, None)
    with _census_lock:
        _census.clear()


#: `kernel_key` of ``prelude + template`` by ``(prelude, template, flags, compiler, cpu)``
#: (`load_kernels`: a program linked again hashes none of its kernels' sources)
_keys: dict[tuple, str] = {}


def key_stamp() -> tuple:
    """What a kernel key hashes besides the source and the CPU: the flags, the libraries and
    the compiler."""
    return " ".join(FLAGS + _libs()), _compiler_id()


def loaded_as(key: str, lib) -> bool:
    """Whether ``lib`` is the library loaded under bundle key ``key`` (none was reloaded or
    forgotten since: tests replace the memory cache)."""
    return _loaded.get(key) is lib


def _bundle_key(prelude: str, template: str) -> str:
    memo = (prelude, template, *key_stamp(), _cpu_id())
    key = _keys.get(memo)
    if key is None:
        if len(_keys) >= 1024:  # as `native.KERNEL_MEMO_MAX`: templates are kB each
            _keys.clear()
        key = _keys[memo] = kernel_key(prelude + template)
    return key


def kernel_key(source: str) -> str:
    h = hashlib.sha256(FORMAT)
    for part in (source.encode(), " ".join(FLAGS + _libs()).encode(), _compiler_id(),
                 _cpu_id()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()[:40]


def _trailer(key: str, body: bytes) -> bytes:
    return MAGIC + hashlib.sha256(key.encode() + body).digest()


def _valid(path: Path, key: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if len(data) <= TRAILER or data[-TRAILER:-32] != MAGIC:
        return False
    return data[-32:] == _trailer(key, data[:-TRAILER])[-32:]


def load(source: str) -> ctypes.CDLL:
    """The shared object built from ``source``, from memory, disk cache or a fresh build."""
    return _load(source, kernel_key(source))


def _load(source: str, key: str) -> ctypes.CDLL:
    lib = _loaded.get(key)
    if lib is not None:
        stats["memory_hits"] += 1
        return lib
    d = cache_dir()
    path = d / f"{key}.so"
    if _valid(path, key):
        stats["disk_hits"] += 1
        _touch(path)
    else:
        _build_locked(source, key, d, path)
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        if path.exists():
            raise
        # pruned by another process between the check and dlopen: build it again
        _build_locked(source, key, d, path)
        lib = ctypes.CDLL(str(path))
    _loaded[key] = lib
    return lib


def on_hand(source: str) -> bool:
    """Whether `load` of ``source`` runs no compiler: loaded, or valid in the disk cache."""
    key = kernel_key(source)
    return key in _loaded or _valid(cache_dir() / f"{key}.so", key)


def load_kernels(prelude: str, templates: list[str], suffix: str, build: bool = True) -> list:
    """Load many kernels, compiling the missing ones together.

    Each template is C code to follow ``prelude`` whose own names end in ``suffix``. Returns,
    per template, ``(library, name suffix)`` (the functions are ``<name><name suffix>``) or the
    `CompileError`/`OSError` that kept it from building (a failed bundle is retried kernel by
    kernel, so one bad kernel does not fail the others). ``build=False`` runs no compiler:
    None for each kernel found neither in memory nor on disk."""
    keys = [_bundle_key(prelude, t) for t in templates]
    found: dict[str, object] = {}
    for key in dict.fromkeys(keys):
        lib = _loaded.get(key)
        if lib is not None:
            stats["memory_hits"] += 1
            found[key] = lib
        else:
            lib = _member_on_disk(key)
            if lib is not None:
                found[key] = lib
    missing = {k: t.replace(suffix, f"_{k}") for k, t in zip(keys, templates)
               if k not in found}
    if missing and not build:
        return [None if k in missing else (found[k], f"_{k}") for k in keys]
    if missing:
        groups = _split(sorted(missing), missing)
        if len(groups) == 1:
            results = [_build_group(prelude, groups[0], missing)]
        else:
            with ThreadPoolExecutor(max_workers=len(groups)) as ex:
                results = list(ex.map(lambda g: _build_group(prelude, g, missing), groups))
        for r in results:
            found.update(r)
    return [found[k] if isinstance(found[k], Exception) else (found[k], f"_{k}")
            for k in keys]


def _split(keys: list[str], templates: dict) -> list[list[str]]:
    """``keys`` in at most `JOBS` groups of similar source size (deterministic: the same set of
    kernels always makes the same bundles)."""
    n = min(JOBS, len(keys))
    groups: list[list[str]] = [[] for _ in range(n)]
    size = [0] * n
    for k in sorted(keys, key=lambda k: (-len(templates[k]), k)):
        i = size.index(min(size))
        groups[i].append(k)
        size[i] += len(templates[k])
    return [sorted(g) for g in groups]


def _build_group(prelude: str, keys: list[str], templates: dict) -> dict:
    """Compile ``keys`` into one bundle; on failure, each alone. ``{key: lib or error}``.

    Holds every kernel's lock while it works: a process that missed a different set of kernels
    (some bundles of another process were published while it looked) re-checks each kernel
    under its lock and builds only those still missing, so a kernel is compiled once."""
    with _kernel_locks(keys):
        return _build_members(prelude, keys, templates)


def _build_members(prelude: str, keys: list[str], templates: dict) -> dict:
    out: dict = {}
    todo = []
    for k in keys:
        lib = _loaded.get(k) or _member_on_disk(k)
        if lib is None:
            todo.append(k)
        else:
            out[k] = lib
    if not todo:
        return out
    try:
        lib = _load_bundle(prelude, todo, templates)
        out.update(dict.fromkeys(todo, lib))
        return out
    except (CompileError, OSError) as exc:
        if len(todo) == 1:
            out[todo[0]] = exc
            return out
    for k in todo:
        out.update(_build_members(prelude, [k], templates))
    return out


@contextlib.contextmanager
def _kernel_locks(keys: list[str]):
    """Exclusive ``flock`` on ``<key>.lock`` of each kernel, taken in sorted order (so that
    processes and threads locking overlapping sets cannot deadlock)."""
    d = cache_dir()
    with contextlib.ExitStack() as stack:
        for k in sorted(keys):
            stack.enter_context(_locked(d / f"{k}.lock"))
        yield  # closing each file releases its lock


#: descriptors of the lock files whose ``flock`` this process holds or is taking. A child
#: forked meanwhile (a build in another thread) inherits them, and the lock then stays held
#: there for good: that kernel's builds wait on it everywhere. The child closes them
#: (`_close_locks_in_child`); `_fd_guard` keeps a fork from landing between opening (or
#: closing) a descriptor and listing (or unlisting) it.
_held: set[int] = set()
_fd_guard = threading.Lock()


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive ``flock`` on ``path`` for the block."""
    with _fd_guard:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        _held.add(fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        with _fd_guard:
            _held.discard(fd)
            os.close(fd)  # releases the lock (the last descriptor of its open file)


def _close_locks_in_child() -> None:
    """Close the inherited lock descriptors (their threads are not here): the parent's locks
    stay the parent's alone. No unlock, which would release them in the parent too."""
    for fd in _held:
        try:
            os.close(fd)
        except OSError:
            pass
    _held.clear()
    _fd_guard.release()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_fd_guard.acquire, after_in_parent=_fd_guard.release,
                        after_in_child=_close_locks_in_child)


def _load_bundle(prelude: str, keys: list[str], code: dict) -> ctypes.CDLL:
    """One shared object holding the kernels ``keys`` (``code``: their C, names suffixed)."""
    parts = [prelude]
    for k in keys:
        parts += [code[k], f"const int la_has_{k} = 1;"]
    source = "\n".join(parts) + "\n"
    bundle = kernel_key(source)
    builds = stats["builds"]
    lib = _load(source, bundle)
    if stats["builds"] != builds:
        stats["kernels_built"] += len(keys)
    d = cache_dir()
    for k in keys:
        _loaded[k] = lib
        _write_ref(d, k, bundle)
    return lib


def _member_on_disk(key: str) -> ctypes.CDLL | None:
    """The loaded bundle holding kernel ``key`` according to ``<key>.ref``, or None."""
    d = cache_dir()
    try:
        bundle = (d / f"{key}.ref").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not _KEY.fullmatch(bundle):
        return None
    lib = _loaded.get(bundle)
    if lib is None:
        path = d / f"{bundle}.so"
        if not _valid(path, bundle):
            return None
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:  # pruned by another process since the check
            return None
        _touch(path)
        stats["disk_hits"] += 1
        _loaded[bundle] = lib
    try:
        getattr(lib, f"la_has_{key}")
    except AttributeError:
        return None
    _loaded[key] = lib
    return lib


def _write_ref(d: Path, key: str, bundle: str) -> None:
    """Record (atomically) that kernel ``key`` lives in bundle ``bundle``."""
    _write_atomic(d / f"{key}.ref", bundle.encode("ascii"))


def _touch(path: Path) -> None:
    """Mark a cached kernel as recently used (pruning removes the least recently used)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _build_locked(source: str, key: str, d: Path, path: Path) -> None:
    with _locked(d / f"{key}.lock"):
        if _valid(path, key):  # another process built it while we waited
            stats["disk_hits"] += 1
            return
        if path.exists():
            stats["rejected"] += 1
        _build(source, key, d, path)


#: held while a compiler process is spawned; a fork waits for it (`_run`)
_spawning = threading.Lock()


def _run(cmd: list[str], timeout: float | None = None) -> tuple[int, bytes]:
    """The exit status and output (stdout, then stderr) of ``cmd``.

    A child forked by another thread while a pipe to the compiler is open (a fork Pool
    started during a background build, `tiering`) keeps a copy of the pipe's write end, and
    EOF, which the build waits for holding its kernels' locks, never comes while that child
    lives: its own build of those kernels then waits on the locks for good. So the output
    goes to a temporary file, and a fork waits while `subprocess` spawns the compiler (its
    internal pipe, which reports a failed exec, is open only then)."""
    with tempfile.TemporaryFile() as log:
        with _spawning:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log.seek(0)
        return code, log.read()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(before=_spawning.acquire, after_in_parent=_spawning.release,
                        after_in_child=_spawning.release)


def _build(source: str, key: str, d: Path, path: Path) -> None:
    # removed by this build, not by a `TemporaryDirectory` finalizer: those run at exit while a
    # background build's compiler may still be writing there (one left by a killed process
    # goes with a later listing, `STALE_BUILD_S`)
    tmp = Path(tempfile.mkdtemp(prefix="build-", dir=d))
    try:
        src = tmp / "k.c"
        so = tmp / "k.so"
        src.write_text(source)
        cmd = [compiler(), *FLAGS, str(src), "-o", str(so), *_libs()]
        code, out = _run(cmd)
        if code != 0:
            raise CompileError(f"C compiler failed ({' '.join(cmd)}):\n"
                               f"{out.decode(errors='replace')[-4000:]}")
        body = so.read_bytes()
        so.write_bytes(body + _trailer(key, body))
        os.replace(so, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats["builds"] += 1
    _note_build(d)


#: per cache directory: [shared objects counted there plus this process's builds since,
#: builds since that count] (`_note_build`)
_census: dict[Path, list[int]] = {}
_census_lock = threading.Lock()


def _note_build(d: Path) -> None:
    """Count a new shared object in ``d``; list the directory (and prune it when past
    `MAX_FILES`) at this process's first build there, then every `RECOUNT_EVERY` builds or
    when the count passes `MAX_FILES`."""
    with _census_lock:
        c = _census.get(d)
        if c is not None:
            c[0] += 1
            c[1] += 1
            if c[0] <= MAX_FILES and c[1] < RECOUNT_EVERY:
                return
        _census[d] = [_prune(d), 0]


def _listing(d: Path) -> tuple[list[Path], list[Path]]:
    """The shared objects in ``d``, and its build directories older than `STALE_BUILD_S`."""
    bundles, stale = [], []
    old = time.time() - STALE_BUILD_S
    with os.scandir(d) as it:
        for e in it:
            if e.name.endswith(".so"):
                bundles.append(Path(e.path))
            elif e.name.startswith("build-"):
                try:
                    if e.is_dir() and e.stat().st_mtime < old:
                        stale.append(Path(e.path))
                except OSError:
                    pass
    return bundles, stale


def _prune(d: Path) -> int:
    """Remove ``d``'s stale build directories and, past `MAX_FILES` shared objects, the least
    recently used down to `PRUNE_TO` (with the references left dangling); returns how many
    shared objects are left."""
    files, stale = _listing(d)
    for t in stale:
        shutil.rmtree(t, ignore_errors=True)
    if len(files) <= MAX_FILES:
        return len(files)
    aged = []
    for p in files:
        try:  # another process may prune the same files at the same time
            aged.append((p.stat().st_mtime, p))
        except OSError:
            pass
    aged.sort()
    drop = aged[: max(len(aged) - min(PRUNE_TO, MAX_FILES), 0)]
    for _, p in drop:
        for q in (p, p.with_suffix(".lock")):
            try:
                q.unlink()
            except OSError:
                pass
    _prune_refs(d)
    return len(aged) - len(drop)


def _prune_refs(d: Path) -> None:
    """Remove the kernel references whose bundle is gone."""
    for ref in d.glob("*.ref"):
        if ref.suffix != ".ref":
            continue
        try:
            if not (d / f"{ref.read_text(encoding='ascii').strip()}.so").exists():
                ref.unlink()
                ref.with_suffix(".lock").unlink(missing_ok=True)
        except (OSError, UnicodeDecodeError):
            pass
