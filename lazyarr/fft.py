"""The array API standard's fft extension: ``lazyarr.fft``."""

from .array.functions.fft_ext import *  # noqa: F403
from .array.functions.fft_ext import __all__  # noqa: F401
