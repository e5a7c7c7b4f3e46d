"""lazyarr.diff: reverse and forward mode differentiation of lazy graphs (see docs/design.md).

Importing this package registers the derivative rules of the core ops.
"""

# registering the rules of the core ops and of the extension ops
from . import (  # noqa: F401
    rules_composite,
    rules_creation,
    rules_elemwise,
    rules_fft,
    rules_index,
    rules_linalg,
    rules_linalg_ext,
    rules_reduce,
    rules_shape,
    rules_sort,
)
from .checks import GradientError, check_vjp_jvp, verify_grad
from .expr import Lop, Rop, gradient
from .transforms import (
    DisconnectedInputError,
    grad,
    hessian,
    hvp,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "hvp", "jacobian", "hessian", "gradient",
           "Lop", "Rop", "verify_grad", "check_vjp_jvp", "GradientError",
           "DisconnectedInputError"]
