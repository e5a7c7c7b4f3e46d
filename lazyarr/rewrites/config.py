"""Rewrite configuration: excluded rewrites or tags, fast-math, and the run mode.

Settings come from the environment when lazyarr is imported, can be set on `config`, or
changed for a block with the `options` context manager:

* ``LAZYARR_REWRITES_EXCLUDE=name,tag,...`` -- rewrites (or whole tags) that never run;
  ``all`` turns rewriting off;
* ``LAZYARR_FAST_MATH=1`` -- enable rewrites that may change results on NaN, inf or signed
  zero (``x*y/y -> x``);
* ``LAZYARR_MODE=fast|debug|nan_guard`` -- ``debug`` runs every program both optimized and
  unoptimized on the reference VM and compares; ``nan_guard`` names the first node producing
  a NaN or inf.

Programs are cached by the structure of the unoptimized graph, so a change of configuration
calls the listeners (the pipeline clears the trace cache).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

MODES = ("fast", "debug", "nan_guard")


class RewriteConfig:
    """The live configuration read by the rewrite database and the pipeline."""

    def __init__(self) -> None:
        self._exclude: frozenset[str] = frozenset()
        self._fast_math = False
        self._mode = "fast"
        self._listeners: list[Callable[[], None]] = []

    @property
    def exclude(self) -> frozenset[str]:
        """Names and tags of rewrites that do not run (``"all"``: none runs)."""
        return self._exclude

    @exclude.setter
    def exclude(self, names: Iterable[str]) -> None:
        if isinstance(names, str):
            raise TypeError("exclude must be a collection of names, not a string")
        self._exclude = frozenset(names)
        self._changed()

    @property
    def fast_math(self) -> bool:
        """Enable rewrites that may change results on NaN, inf or signed zero."""
        return self._fast_math

    @fast_math.setter
    def fast_math(self, on: bool) -> None:
        self._fast_math = bool(on)
        self._changed()

    @property
    def mode(self) -> str:
        """``"fast"``, ``"debug"`` (check against the reference) or ``"nan_guard"``."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self._mode = mode
        self._changed()

    def on_change(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` after every change (the pipeline drops cached programs)."""
        self._listeners.append(fn)

    def _changed(self) -> None:
        for fn in self._listeners:
            fn()

    def load_env(self, env=os.environ) -> None:
        """Read ``LAZYARR_REWRITES_EXCLUDE``, ``LAZYARR_FAST_MATH`` and ``LAZYARR_MODE``."""
        ex = env.get("LAZYARR_REWRITES_EXCLUDE", "")
        self._exclude = frozenset(s.strip() for s in ex.split(",") if s.strip())
        self._fast_math = env.get("LAZYARR_FAST_MATH", "0").lower() in ("1", "true", "yes")
        mode = env.get("LAZYARR_MODE", "fast") or "fast"
        if mode not in MODES:
            raise ValueError(f"LAZYARR_MODE must be one of {MODES}, not {mode!r}")
        self._mode = mode


config = RewriteConfig()
config.load_env()


@contextmanager
def options(exclude: Iterable[str] | None = None, fast_math: bool | None = None,
            mode: str | None = None, include: Iterable[str] | None = None) -> Iterator[None]:
    """Change the configuration inside a ``with`` block: ``exclude`` adds names/tags to the
    excluded set, ``include`` removes them, ``fast_math``/``mode`` replace the setting."""
    saved = (config._exclude, config._fast_math, config._mode)
    try:
        if exclude is not None or include is not None:
            if isinstance(exclude, str) or isinstance(include, str):
                raise TypeError("exclude/include must be collections of names, not strings")
            config.exclude = (config.exclude | frozenset(exclude or ())) - frozenset(
                include or ())
        if fast_math is not None:
            config.fast_math = fast_math
        if mode is not None:
            config.mode = mode
        yield
    finally:
        config._exclude, config._fast_math, config._mode = saved
        config._changed()
