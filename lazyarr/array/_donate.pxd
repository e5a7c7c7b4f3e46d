# cython: language_level=3
"""C declarations of `_donate`, for the realization hit path (`array/_front.pyx`)."""

cpdef bytes dead_leaves(list leaves, list nodes, list outputs)
cpdef list donated_args(tuple positions, bytes suffix)
