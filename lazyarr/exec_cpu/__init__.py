"""CPU execution: the reference VM (the oracle), the Cython linear VM with generated C kernels
and BLAS, the compiler driver and its disk cache, and the thread setting."""

from .linker import link
from .reference_vm import ReferenceProgram
from .threads import get_num_threads, set_num_threads

__all__ = ["link", "ReferenceProgram", "set_num_threads", "get_num_threads"]
