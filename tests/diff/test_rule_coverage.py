"""Every op class of ``lazyarr.array.ops`` has both a vjp and a jvp rule, unless it is listed
as non-differentiable here: adding an op without its rules fails this test."""

import importlib
import inspect
import pkgutil

import lazyarr  # noqa: F401  (registers the rules)
import lazyarr.array.ops as ops_pkg
from lazyarr.diff.registry import jvp_rule, vjp_rule
from lazyarr.graph.basic import Op

#: ops whose results are integers or booleans only (no rule needed: the engine never asks)
NON_DIFFERENTIABLE: set[str] = set()

#: extension ops (diff-ext's rules_*.py) whose rules have not landed yet; diff-ext empties it
EXPECTED_MISSING_EXT: set[str] = set()


def _op_classes() -> list[type]:
    found = set()
    for info in pkgutil.iter_modules(ops_pkg.__path__):
        mod = importlib.import_module(f"{ops_pkg.__name__}.{info.name}")
        for obj in vars(mod).values():
            if inspect.isclass(obj) and issubclass(obj, Op) and obj is not Op \
                    and obj.__module__ == mod.__name__:
                found.add(obj)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


def test_the_enumeration_sees_the_core_ops():
    names = {c.__name__ for c in _op_classes()}
    assert {"Elemwise", "Cast", "Reduce", "MatMul", "GetItem", "SetItem", "AddAt",
            "Composite", "Reshape"} <= names


def test_every_op_has_both_rules():
    missing = []
    for cls in _op_classes():
        name = cls.__name__
        if name in NON_DIFFERENTIABLE or name in EXPECTED_MISSING_EXT:
            continue
        for kind, lookup in (("vjp", vjp_rule), ("jvp", jvp_rule)):
            if lookup(cls) is None:
                missing.append(f"{cls.__module__}.{name} ({kind})")
    assert not missing, f"ops without derivative rules: {missing}"


def test_the_exception_lists_are_not_stale():
    names = {c.__name__ for c in _op_classes()}
    assert (NON_DIFFERENTIABLE | EXPECTED_MISSING_EXT) <= names
    landed = {c.__name__ for c in _op_classes()
              if c.__name__ in EXPECTED_MISSING_EXT and vjp_rule(c) and jvp_rule(c)}
    assert not landed, f"rules landed: remove {landed} from EXPECTED_MISSING_EXT"
