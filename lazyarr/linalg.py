"""The array API standard's linalg extension: ``lazyarr.linalg``."""

from .array.functions.linalg_ext import *  # noqa: F403
from .array.functions.linalg_ext import __all__  # noqa: F401
