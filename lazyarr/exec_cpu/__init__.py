"""CPU execution: the reference VM (the oracle), the Cython linear VM and the linker."""

from .linker import link
from .reference_vm import ReferenceProgram

__all__ = ["link", "ReferenceProgram"]
