# cython: language_level=3
"""Cutting a pending sub-graph out of the live graph, with its structural key.

`cut(outputs)` walks from the requested variables up to the leaves (variables without an
owner) in one pass and returns

* ``leaves``: the leaf variables, in the order met;
* ``steps``: one ``(apply, in_refs, first_out)`` per distinct node in topological order, where
  ``in_refs`` are value numbers and the node's outputs are numbered ``first_out...``. Leaves and
  node outputs share one numbering, in the order the walk met them (a leaf can be numbered after
  a node): the numbers no step's outputs take are the leaves', in order;
* ``out_refs``: the value number of each requested output, then of each extra variable;
* ``key``: a hashable tuple that is equal for two cuts exactly when they compute the same thing
  from leaves of the same dtypes and shapes (small constants by value).

If a list is given as ``extras``, pending variables met on the way that a live user array still
holds (``nref > 0``) are appended to it and computed as outputs too: materialization writes them
back, so the state of an eager-looking loop becomes leaves and the next step has the same
structure (and so the same key) as this one.

Identical nodes (same op, same inputs) are merged on the way, so common sub-expressions are
computed once whether or not they were built once.
"""

from ._ir cimport Apply, Var

cdef int SMALL_CONST = 16


def cut(list outputs, list extras=None):
    cdef dict num = {}
    cdef dict seen_sig = {}
    cdef list leaves = []
    cdef list steps = []
    cdef list key = []
    cdef list stack = list(reversed(outputs))
    cdef list in_refs
    cdef object inputs
    cdef Py_ssize_t counter = 0, k
    cdef bint ready
    cdef Var v, inp, out
    cdef Apply owner
    cdef object sig, refs, d, o
    cdef bint want_extras = extras is not None
    cdef set wanted = set(outputs) if want_extras else None
    while stack:
        v = stack.pop()
        if v in num:
            continue
        if v.owner is None:
            num[v] = counter
            counter += 1
            leaves.append(v)
            d = v.data
            if d is None:
                key.append((v.dtype, v.shape, None))
            elif v.const and d.size <= SMALL_CONST:
                key.append((v.dtype, v.shape, d.tobytes()))
            else:
                key.append((v.dtype, v.shape))
            continue
        owner = v.owner
        inputs = owner.inputs
        ready = True
        for inp in inputs:
            if inp not in num:
                if ready:
                    stack.append(v)
                    ready = False
                stack.append(inp)
        if not ready:
            continue
        in_refs = [num[inp] for inp in inputs]
        refs = tuple(in_refs)
        sig = (owner.op, refs)
        o = seen_sig.get(sig)
        if o is not None:
            k = o
            for out in owner.outputs:
                num[out] = k
                k += 1
            continue
        seen_sig[sig] = counter
        for out in owner.outputs:
            num[out] = counter
            counter += 1
            if want_extras and out.nref and out not in wanted:
                extras.append(out)
        steps.append((owner, refs, counter - len(owner.outputs)))
        key.append(sig)
    if want_extras and extras:
        out_refs = tuple([num[v] for v in outputs] + [num[v] for v in extras])
    else:
        out_refs = tuple([num[v] for v in outputs])
    key.append(out_refs)
    return leaves, steps, out_refs, tuple(key)
