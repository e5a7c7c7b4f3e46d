"""Structures that differ only in the values of 0-d constants, and which of those to lift.

Small constants are part of a structural key by value (`_walk`): a program or gradient
template built for one value is not used for another, because rewrites and rules may read the
value. An eager loop whose Python float changes every step (a learning-rate schedule) would then
build anew every step. A `ScalarFamilies` groups keys by their *family key*, the key with the
0-d constants' value words zeroed (`family_key`), and decides, from the value tuples seen, which
constants to make arguments instead: those whose values differed among the first `LIFT_AFTER`
distinct tuples, and later any other that changes too. Values that alternate between fewer
keep their own baked builds.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ._walk import family_words

#: a family bakes its 0-d constants until this many distinct value tuples were met; that one
#: lifts the constants whose values differed
LIFT_AFTER = 3


def family_key(key: bytes, scalars: list[tuple[int, int, int]]) -> tuple[bytes, tuple]:
    """``key`` with the value words of each 0-d constant zeroed, and those values (`bytes`
    each). ``scalars``: per 0-d constant, ``(leaf number, first word, word count)`` in the
    key (`_walk.cut_scalars`, `Walk.scalars`). In C: `_walk.family_words`."""
    return family_words(key, scalars)


class Family:
    """One family's state: the value tuples baked so far (``seen``, fewer than `LIFT_AFTER`),
    then the constants lifted (``varying``: their numbers among the 0-d constants) with the
    ``values`` the others keep, and a ``payload`` the owner built for that choice (reset when
    it changes)."""

    __slots__ = ("seen", "varying", "values", "payload")

    def __init__(self):
        self.seen: list[tuple[bytes, ...]] = []
        self.varying: frozenset[int] | None = None
        self.values: tuple[bytes, ...] = ()
        self.payload: Any = None


class ScalarFamilies:
    """An LRU of `Family` by family key. ``hits`` counts the builds a lifted choice saved
    (the owner counts them with `count_hit`)."""

    def __init__(self, maxsize: int = 256):
        self._d: OrderedDict[Any, Family] = OrderedDict()
        self.maxsize = maxsize
        self.hits = 0

    def lift(self, fkey: Any, values: tuple[bytes, ...]) -> tuple[Family | None, bool]:
        """``(family, changed)`` for a build of family ``fkey`` with these 0-d constant
        values: ``family`` None while they are to be baked, else its ``varying`` constants are
        to be lifted (``changed``: that choice is new, its payload must be built)."""
        fam = self._d.get(fkey)
        if fam is None:
            fam = self._d[fkey] = Family()
            if len(self._d) > self.maxsize:
                self._d.popitem(last=False)
        else:
            self._d.move_to_end(fkey)
        if fam.varying is not None:
            changed = frozenset(j for j, v in enumerate(values)
                                if j not in fam.varying and v != fam.values[j])
            if not changed:
                return fam, False
            varying = fam.varying | changed
        else:
            if values not in fam.seen:
                fam.seen.append(values)
            if len(fam.seen) < LIFT_AFTER:
                return None, False
            varying = frozenset(j for j in range(len(values))
                                if len({s[j] for s in fam.seen}) > 1)
        fam.varying, fam.values, fam.seen, fam.payload = varying, values, [], None
        return fam, True

    def known(self, fkey: Any, values: tuple[bytes, ...]) -> Family | None:
        """The family of ``fkey`` when its payload serves these values as they are (the
        constants that differ from its baked ones are all lifted), else None (nothing
        recorded: `lift` decides)."""
        fam = self._d.get(fkey)
        if fam is None or fam.varying is None or fam.payload is None:
            return None
        for j, v in enumerate(values):
            if j not in fam.varying and v != fam.values[j]:
                return None
        self._d.move_to_end(fkey)
        return fam

    def known_words(self, key: bytes, dead: bytes, scalars: list) -> Family | None:
        """`known` for a trace-cache key: ``key`` ends with the donation suffix ``dead``,
        ``scalars`` says where its 0-d constants' values sit (`Walk.scalars`)."""
        fkey, values = family_words(key[:len(key) - len(dead)], scalars)
        return self.known(fkey + dead, values)

    def count_hit(self) -> None:
        self.hits += 1

    def clear(self) -> None:
        """Forget every family and zero ``hits``."""
        self._d.clear()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._d)
